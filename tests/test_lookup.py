"""``voharvest lookup`` / :func:`models.lookup.lookup` against independent astropy computations.

The bundled snapshot is harvested from ``recordings/replay`` in the test. The position of NuSTAR's
target 3XMM J181923.7-17061 comes from ``tests/integration/expected.py`` (the NuSTAR short-term
schedule's RA/Dec). The reference answers are computed here without :mod:`models.lookup`:

* circles: astropy ``SkyCoord.separation`` against ``radius + query radius``;
* polygons: each great-circle edge densified with astropy (``directional_offset_by`` along the
  edge's position angle), the query point tested by even-odd ray casting on the densified outline
  in an astropy ``SkyOffsetFrame`` centred on the point, and the distance to the outline taken as
  the smallest astropy separation to the densified points.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.coordinates import SkyCoord, SkyOffsetFrame
from astropy.table import Table

from models.arrow import to_frame
from models.lookup import footprint_distance, format_result, lookup, parse_radius, resolve_target
from models.regions import circle_stcs, parse_stcs, polygon_stcs
from models.snapshot import write_table
from pipelines.cli import main
from tests.integration.expected import TOO_DEC, TOO_RA

REPO = Path(__file__).resolve().parent.parent
ONE_ARCMIN = 1.0 / 60.0


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled snapshot: ``voharvest harvest --replay recordings/replay --output <tmp>``."""
    tmp = tmp_path_factory.mktemp("lookup")
    output = tmp / "output"
    cwd = os.getcwd()
    os.chdir(tmp)  # the repository's dagster.yaml is not for tests; nothing is written into the repository
    try:
        code = main(["harvest", "--replay", str(REPO / "recordings" / "replay"), "--output", str(output)])
    finally:
        os.chdir(cwd)
    assert code == 0
    (path,) = (output / "snapshots").iterdir()
    return path


# -- independent reference ------------------------------------------------------------------------
def _densified(ra: np.ndarray, dec: np.ndarray, per_edge: int) -> SkyCoord:
    """Points along every great-circle edge of ``(m, k)`` polygons: ``(m, k * per_edge)``."""
    a = SkyCoord(ra, dec, unit="deg")
    b = SkyCoord(np.roll(ra, -1, axis=1), np.roll(dec, -1, axis=1), unit="deg")
    pa = a.position_angle(b)
    sep = a.separation(b)
    frac = np.linspace(0.0, 1.0, per_edge, endpoint=False)
    pts = a[..., None].directional_offset_by(pa[..., None], sep[..., None] * frac)
    return pts.reshape(ra.shape[0], -1)


def reference_hits(frame: pd.DataFrame, ra: float, dec: float, radius: float, per_edge: int = 400) -> np.ndarray:
    """Which rows' footprints meet the circle, from astropy alone (NaN-free boolean per row).

    Returns also the rows whose decision is within 1e-3 deg of the boundary (ambiguous for the
    densified reference) as a second array.
    """
    parsed = parse_stcs(frame["s_region"])
    point = SkyCoord(ra, dec, unit="deg")
    hit = np.zeros(len(frame), dtype=bool)
    margin = np.full(len(frame), np.inf)
    circles = np.flatnonzero(parsed.is_circle)
    if len(circles):
        sep = point.separation(SkyCoord(parsed.ra[circles], parsed.dec[circles], unit="deg")).deg
        gap = sep - parsed.radius[circles] - radius
        hit[circles] = gap <= 0
        margin[circles] = np.abs(gap)
    for rows, v_ra, v_dec in parsed.polygon_groups():
        outline = _densified(v_ra, v_dec, per_edge)
        near = point.separation(outline).deg.min(axis=1)
        off = outline.transform_to(SkyOffsetFrame(origin=point))
        x = off.lon.wrap_at(180 * u.deg).deg
        y = off.lat.deg
        x2, y2 = np.roll(x, -1, axis=1), np.roll(y, -1, axis=1)
        crosses = (y > 0) != (y2 > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x + (0.0 - y) * (x2 - x) / (y2 - y)
        inside = (np.sum(crosses & (x_at > 0), axis=1) % 2) == 1
        hit[rows] = inside | (near <= radius)
        margin[rows] = np.where(inside, np.inf, np.abs(near - radius))
    return hit, margin < 1e-3


# -- the bundled snapshot -------------------------------------------------------------------------
def test_too_position_finds_exactly_the_three_observations(snapshot: Path) -> None:
    result = lookup(snapshot, ra=TOO_RA, dec=TOO_DEC, radius_deg=ONE_ARCMIN)
    found = set(zip(result["facility_name"], result["obs_id"], result["execution_status"], strict=True))
    assert found == {
        ("NuSTAR", "31101012004", "Scheduled"),
        ("NuSTAR", "31101012006", "Planned"),
        ("INTEGRAL", "21200070020", "Performed"),
    }
    # obsplan gives the three; obscore holds the archived copy of the performed INTEGRAL pointing only.
    assert sorted(result.loc[result["table"] == "obsplan", "obs_id"]) == ["21200070020", "31101012004", "31101012006"]
    assert result.loc[result["table"] == "obscore", "obs_id"].tolist() == ["21200070020"]
    # INTEGRAL's fully-coded field is a 9.59 deg circle 4.47 deg away: the point is inside (distance 0).
    integral = result[result["obs_id"] == "21200070020"].iloc[0]
    sep = SkyCoord(TOO_RA, TOO_DEC, unit="deg").separation(SkyCoord(276.651591, -21.237252, unit="deg")).deg
    assert sep == pytest.approx(4.47, abs=0.01) and integral["distance"] == 0.0
    # columns a researcher needs: times, exposure and planning time, from the snapshot's rows
    obsplan = to_frame(pq.read_table(snapshot / "obsplan.parquet")).set_index("obs_id")
    for _, row in result[result["table"] == "obsplan"].iterrows():
        for column in ("t_min", "t_max", "t_planning", "t_plan_exptime"):
            assert row[column] == obsplan.loc[row["obs_id"], column] or (
                pd.isna(row[column]) and pd.isna(obsplan.loc[row["obs_id"], column])
            )


@pytest.mark.parametrize("table", ["obsplan", "obscore"])
@pytest.mark.parametrize("radius_arcmin", [0.0, 1.0, 30.0, 600.0])
def test_bundled_snapshot_matches_astropy(snapshot: Path, table: str, radius_arcmin: float) -> None:
    frame = to_frame(pq.read_table(snapshot / f"{table}.parquet"))
    probes = frame[["s_ra", "s_dec"]].dropna().to_numpy()
    probes = np.vstack([probes, [[TOO_RA, TOO_DEC], [83.63, 22.5], [201.0, -43.0], [0.1, -89.0]]])
    for ra, dec in probes:
        want, ambiguous = reference_hits(frame, ra, dec, radius_arcmin / 60.0)
        got = lookup({table: frame}, ra=ra, dec=dec, radius_deg=radius_arcmin / 60.0, tables=[table])
        got_rows = np.zeros(len(frame), dtype=bool)
        keyed = frame.reset_index(drop=True)
        got_rows[np.flatnonzero(keyed["obs_id"].isin(got["obs_id"]).to_numpy())] = True
        assert (got_rows == want)[~ambiguous].all(), (ra, dec, radius_arcmin)


def test_polygon_rows_of_the_bundle_are_exercised(snapshot: Path) -> None:
    """XMM-Newton's octagons: inside at the centre, outside 20' beyond a vertex, matches astropy."""
    frame = to_frame(pq.read_table(snapshot / "obsplan.parquet"))
    polys = frame[frame["s_region"].str.startswith("Polygon", na=False)]
    assert len(polys) >= 3
    parsed = parse_stcs(polys["s_region"])
    for i, (_, row) in enumerate(polys.iterrows()):
        d = footprint_distance(parse_stcs(polys["s_region"].iloc[[i]]), row["s_ra"], row["s_dec"])
        assert d[0] == 0.0
        start, stop = parsed.polygon_offsets[i], parsed.polygon_offsets[i + 1]
        vertex = SkyCoord(parsed.vertex_ra[start], parsed.vertex_dec[start], unit="deg")
        centre = SkyCoord(row["s_ra"], row["s_dec"], unit="deg")
        outside = centre.directional_offset_by(centre.position_angle(vertex), centre.separation(vertex) + 20 * u.arcmin)
        d_out = footprint_distance(parse_stcs(polys["s_region"].iloc[[i]]), outside.ra.deg, outside.dec.deg)[0]
        want, _ = reference_hits(polys.iloc[[i]], outside.ra.deg, outside.dec.deg, 0.0)
        assert not want[0]
        assert d_out * 60 == pytest.approx(20.0, abs=1.5)  # beyond a vertex: about the 20' offset
        assert stop - start == 8


def test_time_range_and_target_name(snapshot: Path) -> None:
    obsplan = to_frame(pq.read_table(snapshot / "obsplan.parquet"))
    # 2025-09-10 .. 2025-09-20 (MJD 60928 .. 60938): the Scheduled NuSTAR pointing only
    result = lookup(snapshot, ra=TOO_RA, dec=TOO_DEC, start="2025-09-10", end=60938.0)
    assert result["obs_id"].tolist() == ["31101012004"]
    # independent: overlap of [t_min, t_max] with the range among the three footprints found above
    rows = obsplan[obsplan["obs_id"].isin(["31101012004", "31101012006", "21200070020"])]
    overlap = rows[(rows["t_max"] >= 60928.0) & (rows["t_min"] <= 60938.0)]
    assert overlap["obs_id"].tolist() == ["31101012004"]
    by_name = lookup(snapshot, target="3xmm  J181923.7-17061")
    plain = lookup(snapshot, ra=TOO_RA, dec=TOO_DEC)
    assert by_name[["table", "obs_id"]].equals(plain[["table", "obs_id"]])
    assert by_name.attrs["ra"] == pytest.approx(TOO_RA) and by_name.attrs["dec"] == pytest.approx(TOO_DEC)
    # sexagesimal input: 18h19m23.77s -17d06m15.8s is the same position to 0.2"
    sexa = lookup(snapshot, ra="18:19:23.77", dec="-17:06:15.8")
    assert sexa["obs_id"].tolist() == plain["obs_id"].tolist()
    want = SkyCoord("18h19m23.77s", "-17d06m15.8s")
    assert want.separation(SkyCoord(sexa.attrs["ra"], sexa.attrs["dec"], unit="deg")).arcsec < 1e-6
    with pytest.raises(ValueError, match="not the target_name"):
        resolve_target("no such source", {"obsplan": obsplan})


def test_cli_formats(snapshot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["lookup", "--snapshot", str(snapshot), "--ra", "274.84904", "--dec=-17.10439"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "31101012004" in text and "Scheduled" in text and "2025-09-14 04:35" in text
    assert main([*args, "--format", "csv", "--table", "obsplan"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"obs_id": str})
    assert sorted(csv["obs_id"]) == ["21200070020", "31101012004", "31101012006"]
    assert main([*args, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["units"]["distance"] == "arcmin" and len(doc["rows"]) == 4
    assert next(r for r in doc["rows"] if r["obs_id"] == "31101012006")["t_exptime"] is None
    assert main([*args, "--format", "votable"]) == 0
    table = Table.read(io.BytesIO(capsys.readouterr().out.encode()), format="votable")
    assert table["t_min"].unit == u.day and len(table) == 4
    assert table["t_exptime"].mask[list(table["obs_id"]).index("31101012006")]
    assert main(["lookup", "--snapshot", str(snapshot), "274.84904", "-17.10439", "--radius", "30arcsec"]) == 0
    assert "4 row(s)" in capsys.readouterr().out
    assert main(["lookup", "--snapshot", str(snapshot)]) == 2
    assert main(["lookup", "--snapshot", str(snapshot), "--target", "nobody"]) == 2
    assert "not the target_name" in capsys.readouterr().err


def test_parse_radius() -> None:
    assert parse_radius("1") == pytest.approx(1 / 60)
    assert parse_radius("30arcsec") == pytest.approx(30 / 3600)
    assert parse_radius("0.5deg") == 0.5
    assert parse_radius("2'") == pytest.approx(2 / 60)
    with pytest.raises(ValueError, match="arcsec, arcmin or deg"):
        parse_radius("1 parsec")


# -- a generated snapshot with thousands of rows --------------------------------------------------
def _generated_obsplan(rng: np.random.Generator, n: int, centre: SkyCoord) -> pd.DataFrame:
    """Circles and star-shaped (often concave) polygons scattered within ~3 deg of ``centre``."""
    where = centre.directional_offset_by(rng.uniform(0, 360, n) * u.deg, rng.uniform(0, 3.0, n) ** 1.0 * u.deg)
    kind = rng.integers(0, 3, n)  # 0 circle, 1 quadrilateral, 2 octagon (star-shaped, concave)
    radius = rng.uniform(0.005, 1.5, n)
    region = pd.Series(circle_stcs(where.ra.deg, where.dec.deg, radius).to_numpy(), dtype=object)
    for k, nvert in ((1, 4), (2, 8)):
        rows = np.flatnonzero(kind == k)
        bearings = np.sort(rng.uniform(0, 360, (len(rows), nvert)), axis=1)
        reach = radius[rows, None] * rng.uniform(0.3, 1.0, (len(rows), nvert))
        vertices = where[rows, None].directional_offset_by(bearings * u.deg, reach * u.deg)
        region.iloc[rows] = polygon_stcs(vertices.ra.deg, vertices.dec.deg).to_numpy()
    t_min = 60900 + rng.uniform(0, 60, n)
    status = np.array(["Planned", "Scheduled", "Performed"])[rng.integers(0, 3, n)]
    return pd.DataFrame(
        {
            "t_planning": 60923.0,
            "target_name": "generated",
            "obs_id": [f"g{i:05d}" for i in range(n)],
            "obs_collection": "generated",
            "s_ra": where.ra.deg,
            "s_dec": where.dec.deg,
            "s_region": region,
            "t_min": t_min,
            "t_max": t_min + rng.uniform(0.01, 2, n),
            "t_exptime": 1000.0,
            "facility_name": np.array(["A", "B", "C"])[rng.integers(0, 3, n)],
            "category": "Fixed",
            "priority": 1,
            "execution_status": status,
            "tracking_type": "Sidereal",
        }
    )


@pytest.mark.parametrize(
    ("ra", "dec"),
    [(150.0, 2.0), (0.2, -30.0), (359.9, 10.0), (45.0, 88.5)],  # plain, across RA 0 both ways, near the pole
)
def test_generated_snapshot_thousands_of_rows(tmp_path: Path, ra: float, dec: float) -> None:
    rng = np.random.default_rng(int(ra * 1000 + dec))
    centre = SkyCoord(ra, dec, unit="deg")
    frame = _generated_obsplan(rng, 2000, centre)
    write_table(tmp_path, "obsplan", frame, votable=False)
    stored = to_frame(pq.read_table(tmp_path / "obsplan.parquet"))
    for radius in (ONE_ARCMIN, 0.25, 1.0):
        for probe in (centre, centre.directional_offset_by(30 * u.deg, 1.3 * u.deg)):
            want, ambiguous = reference_hits(stored, probe.ra.deg, probe.dec.deg, radius, per_edge=100)
            got = lookup(tmp_path, ra=probe.ra.deg, dec=probe.dec.deg, radius_deg=radius, tables=["obsplan"])
            got_rows = stored["obs_id"].isin(got["obs_id"]).to_numpy()
            assert ambiguous.sum() < 20
            assert want.sum() > 50  # a real test: many footprints meet the circle, many do not
            assert (got_rows == want)[~ambiguous].all()
    # the bounding-cap prefilter changes no decision and only ever lowers (bounds) a far distance
    parsed = parse_stcs(stored["s_region"])
    exact = footprint_distance(parsed, ra, dec)
    fast = footprint_distance(parsed, ra, dec, beyond=0.25)
    assert np.array_equal(exact <= 0.25, fast <= 0.25) and np.all(fast <= exact + 1e-12)
    # time range against an independent pandas mask
    got = lookup(tmp_path, ra=ra, dec=dec, radius_deg=1.0, start=60920.0, end=60930.0, tables=["obsplan"])
    want, ambiguous = reference_hits(stored, ra, dec, 1.0, per_edge=100)
    timed = want & (stored["t_max"] >= 60920.0).to_numpy() & (stored["t_min"] <= 60930.0).to_numpy()
    got_rows = stored["obs_id"].isin(got["obs_id"]).to_numpy()
    assert timed.sum() > 10 and (got_rows == timed)[~ambiguous].all()
    assert format_result(got, "text").count("\n") == len(got) + 4  # position, range, count, header
