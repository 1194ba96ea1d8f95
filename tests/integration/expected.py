"""The ObsLocTAP example queries (ObsLocTAP 1.0 section 4) with values chosen from the replayed inputs.

The bundled replay archive (``recordings/``, as of 2025-09-05 = MJD 60923) holds the NuSTAR, XMM-Newton,
INTEGRAL and ESO schedules whose rows are listed below. Each query's parameters were picked from those
real rows so that the answer is small and known; the expected ``obs_id`` lists were written from the
rows' times, bands and positions (see each comment), and the tests also recompute them from the
snapshot's Parquet with pandas/astropy, independently of any database.

Every obsplan row of a first snapshot has ``t_planning`` = the as-of MJD 60923.0, so the plan-change
queries use ``t_planning > 60922.5`` (all rows) and ``t_planning > 60923`` (none).
"""

from __future__ import annotations

from dataclasses import dataclass

# The ToO: NuSTAR's target "3XMM J181923.7-17061" (RA 274.84904, Dec -17.10439, NuSTAR short-term schedule).
TOO_RA, TOO_DEC, TOO_RADIUS = 274.84904, -17.10439, 0.016666


_SPECTRAL = (
    "SELECT obs_id FROM ivoa.obsplan WHERE t_min < 60935 AND t_max > 60922 AND em_min < 6.2e-11 AND em_max > 2.48e-11"
)


@dataclass(frozen=True)
class Query:
    """One example query: its ADQL text, the equivalent pgSphere SQL, and the obs_ids it must return."""

    name: str
    adql: str
    sql: str
    expected: tuple[str, ...]


QUERIES: tuple[Query, ...] = (
    # 4.1 time overlap with 2025-09-04 (MJD 60922..60923): the three XMM-Newton slews/pointings of
    # that day on the short-term schedule (0811026501 Crab 13:36-16:56, 0811026601 Crab 08:40-13:36,
    # 0960860801 BW Cir 18:48-01:11 next day); 0811026701 starts 03:02 on 09-05 (outside). And the ESO
    # VISTA service run 179.B-2002(B), Planned over all of P115 (2025-04-01 12:00 .. 2025-10-01 12:00 UT).
    Query(
        "time overlap",
        "SELECT obs_id FROM ivoa.obsplan WHERE t_min < 60923 AND t_max > 60922",
        "SELECT obs_id FROM ivoa.obsplan WHERE t_min < 60923 AND t_max > 60922",
        ("0811026501", "0811026601", "0960860801", "179.B-2002(B)"),
    ),
    # 4.2 time + spectral overlap: 2025-09-04..2025-09-17 and 20-50 keV (2.48e-11..6.2e-11 m):
    # NuSTAR (3-79 keV) scheduled rows of those two weeks; XMM-Newton (0.15-15 keV, em_min 8.3e-11 m)
    # is outside the band, INTEGRAL's rows are from 2020/2024.
    Query(
        "time and spectral overlap",
        _SPECTRAL,
        _SPECTRAL,
        ("31101005002", "31101012004", "60061013002", "71001002005"),
    ),
    # 4.3 plan changes since a saved copy that end before 2025-09-05: every row changed at MJD 60923
    # (all of them) and finished before MJD 60923: the two Crab XMM pointings of 09-04, the NuSTAR
    # performed rows (May 2025), INTEGRAL's performed 2020 Crab and 2024 rows, ESO's performed
    # VLT/VLTI observations of Sgr A* (2006-2014) and the APEX run planned for period 95 (2015).
    Query(
        "plan changes",
        "SELECT obs_id FROM ivoa.obsplan WHERE t_planning > 60922.5 AND t_max < 60923",
        "SELECT obs_id FROM ivoa.obsplan WHERE t_planning > 60922.5 AND t_max < 60923",
        (
            "0811026501",
            "0811026601",
            "095.F-9802(A)",
            "200156177-20060313",
            "200282039-20130826",
            "200282283-20130830",
            "200282301-20130830",
            "200310543-20140422",
            "200310552-20140422",
            "21200070020",
            "21200090004",
            "21700040002",
            "31002031015",
            "31002033005",
            "31002033006",
            "60061081002",
            "88603930001",
            "88603930002",
            "88603930003",
            "88603930004",
            "88603930005",
        ),
    ),
    Query(
        "no plan changes after the as-of time",
        "SELECT obs_id FROM ivoa.obsplan WHERE t_planning > 60923 AND t_max < 60923",
        "SELECT obs_id FROM ivoa.obsplan WHERE t_planning > 60923 AND t_max < 60923",
        (),
    ),
    # 4.4 ToO: 1 arcmin around 3XMM J181923.7-17061, ending before 2025-10-03: NuSTAR's scheduled
    # 31101012004 (the later 31101012006 ends MJD 60954) and INTEGRAL's 21200070020, whose 9.6 deg
    # fully-coded circle around (276.65, -21.24) contains the position (4.47 deg away).
    Query(
        "target of opportunity",
        "SELECT obs_id FROM ivoa.obsplan WHERE t_planning > 60922.5 AND t_max < 60950 "
        f"AND 1=INTERSECTS(s_region, CIRCLE('', {TOO_RA}, {TOO_DEC}, {TOO_RADIUS}))",
        "SELECT obs_id FROM ivoa.obsplan WHERE t_planning > 60922.5 AND t_max < 60950 "
        f"AND s_region && scircle '<({TOO_RA}d, {TOO_DEC}d), {TOO_RADIUS}d>'",
        ("21200070020", "31101012004"),
    ),
)


def independent_ids(frame, name: str) -> list[str]:  # noqa: ANN001 - a pandas DataFrame of obsplan
    """The same query answered from the snapshot's Parquet with pandas/astropy (no database)."""
    import numpy as np
    from astropy.coordinates import SkyCoord

    from models.regions import parse_stcs

    f = frame
    masks = {
        "time overlap": (f.t_min < 60923) & (f.t_max > 60922),
        "time and spectral overlap": (f.t_min < 60935)
        & (f.t_max > 60922)
        & (f.em_min < 6.2e-11)
        & (f.em_max > 2.48e-11),
        "plan changes": (f.t_planning > 60922.5) & (f.t_max < 60923),
        "no plan changes after the as-of time": (f.t_planning > 60923) & (f.t_max < 60923),
    }
    if name in masks:
        return sorted(f.loc[masks[name].fillna(False).to_numpy(dtype=bool), "obs_id"])
    assert name == "target of opportunity"
    parsed = parse_stcs(f["s_region"])
    too = SkyCoord(TOO_RA, TOO_DEC, unit="deg")
    hit = np.zeros(len(f), dtype=bool)
    circles = np.flatnonzero(parsed.is_circle)
    sep = too.separation(SkyCoord(parsed.ra[circles], parsed.dec[circles], unit="deg")).deg
    hit[circles] = sep < parsed.radius[circles] + TOO_RADIUS
    for rows, ra, dec in parsed.polygon_groups():
        # Polygons here are instrument fields of < 1 deg: decide by the distance to the nearest
        # vertex against the polygon's size; anything in between would need real geometry.
        vert = SkyCoord(ra, dec, unit="deg")
        near = too.separation(vert).deg.min(axis=1)
        size = np.array(
            [
                SkyCoord(r, d, unit="deg")[0].separation(SkyCoord(r, d, unit="deg")).deg.max()
                for r, d in zip(ra, dec, strict=True)
            ]
        )
        assert np.all((near > size + TOO_RADIUS) | (near < TOO_RADIUS)), "a polygon is too close to decide by bounds"
        hit[rows] = near < TOO_RADIUS
    keep = hit & (f.t_planning > 60922.5).to_numpy() & (f.t_max < 60950).fillna(False).to_numpy(dtype=bool)
    return sorted(f.loc[keep, "obs_id"])
