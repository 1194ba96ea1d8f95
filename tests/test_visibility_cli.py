"""``voharvest visibility``: the command prints the same answer as the Python function."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io.votable import parse as parse_votable

from models.visibility import visibility
from pipelines.cli_visibility import register


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="voharvest")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_votable_equals_function(tmp_path: Path) -> None:
    out = tmp_path / "xmm.vot"
    argv = ["visibility", "--facility", "xmm", "--ra", "05:34:31.94", "--dec", "+22:00:52.2"]
    argv += ["--start", "2025-09-05", "--end", "2025-09-08", "--min-vis", "3600", "--output", str(out)]
    assert _main(argv) == 0
    table = parse_votable(out, verify="exception").get_first_table().array
    # 05:34:31.94 = 83.633083 deg and +22:00:52.2 = 22.014500 deg by hand
    expected = visibility("XMM-Newton", 83.633083, 22.0145, "2025-09-05", "2025-09-08", min_vis=3600)
    assert np.allclose(table["START_VISIBILITY"], expected.starts)
    assert np.allclose(table["DURATION"], expected.durations_s)
    assert (table["DURATION"] >= 3600).all()


def test_json_and_csv(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    argv = ["visibility", "--facility", "INTEGRAL", "--ra", "83.6", "--dec", "22", "--start", "2025-09-05"]
    assert _main([*argv, "--end", "2025-09-06", "--format", "json"]) == 0
    answer = json.loads(capsysbinary.readouterr().out)
    assert answer["windows"] == [] and "2025-02-28" in answer["infos"]["FACILITY_STATUS"]
    assert _main([*argv, "--end", "60924.0", "--format", "csv", "--flavour", "objobssap"]) == 0
    assert capsysbinary.readouterr().out.decode().splitlines() == ["t_start,t_stop,t_observability,t_validity"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--facility", "NuSTAR", "--start", "2025-09-05", "--end", "2025-09-06"], "at most 7 days"),
        (["--facility", "Chandra", "--start", "2025-09-05", "--end", "2025-09-06"], "unknown facility"),
        (["--facility", "VLT", "--start", "2025-13-05", "--end", "2025-09-06"], ""),
    ],
)
def test_errors_exit_2(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["visibility", "--ra", "10", "--dec", "-30", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("voharvest visibility:") and message in err


def test_votable_bytes_parse_from_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    argv = ["visibility", "--facility", "VLT", "--ra", "6.0236", "--dec", "-72.0813"]
    assert _main([*argv, "--start", "2025-09-05T12:00", "--end", "2025-09-06T12:00"]) == 0
    doc = parse_votable(io.BytesIO(capsysbinary.readouterr().out), verify="exception")
    assert len(doc.get_first_table().array) == 1  # one night


def test_from_moc_answers_without_recomputing(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    from models.visibility.moc import visibility_stmoc, write_visibility_stmoc

    (path,) = write_visibility_stmoc(visibility_stmoc("VLT", "2025-09-05", 2), tmp_path, "VLT")
    argv = ["visibility", "--facility", "VLT", "--ra", "6.0236", "--dec", "-72.0813", "--from-moc", str(path)]
    assert _main([*argv, "--start", "2025-09-05T12:00", "--end", "2025-09-06T12:00", "--format", "csv"]) == 0
    rows = capsysbinary.readouterr().out.decode().splitlines()[1:]
    direct = visibility("VLT", 6.0236, -72.0813, "2025-09-05T12:00", "2025-09-06T12:00")
    assert len(rows) == direct.starts.size == 1
    start, end, _ = (float(v) for v in rows[0].split(","))
    cell = 2**30 / 86400e6  # time order 31: 17.9 min
    assert direct.starts[0] - 1e-6 <= start <= direct.starts[0] + cell + 301 / 86400
    assert direct.ends[0] - cell - 301 / 86400 <= end <= direct.ends[0] + 1e-6


def test_from_snapshot_reads_the_published_moc(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    import json

    from models.visibility.moc import write_snapshot_visibility

    snapshot = tmp_path / "snapshots" / "2025-09-05"
    (snapshot / "moc").mkdir(parents=True)
    files, described = write_snapshot_visibility(snapshot, 60923.0, 2.0)  # as-of 2025-09-05, two days
    (snapshot / "manifest.json").write_text(json.dumps({"snapshot": "2025-09-05", "visibility": described}))
    vlt = snapshot / described["VLT"]["file"]
    assert vlt.is_file() and vlt.relative_to(snapshot).as_posix() in files
    query = ["--ra", "6.0236", "--dec", "-72.0813", "--start", "2025-09-05T12:00", "--end", "2025-09-06T12:00"]
    common = ["visibility", "--facility", "VLTI", *query, "--format", "csv"]
    assert _main([*common, "--from-snapshot", "--snapshot", str(snapshot)]) == 0
    from_snapshot = capsysbinary.readouterr().out
    assert _main([*common, "--from-moc", str(vlt)]) == 0  # VLTI reads the VLT's MOC: same site
    assert from_snapshot == capsysbinary.readouterr().out and len(from_snapshot.splitlines()) == 2
    # INTEGRAL publishes no MOC: one clear line naming why, exit 1
    argv = ["visibility", "--facility", "INTEGRAL", *query, "--from-snapshot", "--snapshot", str(snapshot)]
    assert _main(argv) != 0


def test_registered_in_voharvest(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    from pipelines.cli import main

    argv = ["visibility", "--facility", "APEX", "--ra", "201.365", "--dec", "-43.019", "--format", "csv"]
    assert main([*argv, "--start", "2025-09-05T12:00", "--end", "2025-09-06T12:00"]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert lines[0] == "START_VISIBILITY,END_VISIBILITY,DURATION" and len(lines) >= 2


def test_nustar_with_a_supplied_tle_against_sgp4_and_astropy(tmp_path: Path) -> None:
    """``--tle FILE`` (the real 2025-08-02 set, no bundled sets) answers a day after its epoch.

    Independent check: SGP4 run directly, TEME -> GCRS by astropy at every sample (no interpolation),
    the target hidden while within the Earth's angular radius asin(R / r) of the nadir.
    """
    import astropy.units as u
    from astropy.coordinates import GCRS, TEME, CartesianRepresentation, SkyCoord
    from astropy.time import Time
    from sgp4.api import Satrec

    tle_file = Path(__file__).parent / "data" / "visibility" / "nustar_2025-08-02.tle"
    empty = tmp_path / "no_tles"
    empty.mkdir()
    out = tmp_path / "nustar.csv"
    argv = ["visibility", "--facility", "nustar", "--ra", "83.633083", "--dec", "22.0145", "--tle-dir", str(empty)]
    argv += ["--tle", str(tle_file), "--start", "2025-08-03T12:00", "--end", "2025-08-03T18:00", "--format", "csv"]
    assert _main([*argv, "--output", str(out)]) == 0
    rows = np.loadtxt(out, delimiter=",", skiprows=1, ndmin=2)
    line1, line2 = tle_file.read_text().splitlines()
    step = 30.0
    mjd = Time("2025-08-03T12:00", scale="utc").mjd + np.arange(0, 6 * 3600 + 1, step) / 86400
    sat = Satrec.twoline2rv(line1, line2)
    err, r, _ = sat.sgp4_array(np.floor(mjd) + 2400000.5, mjd - np.floor(mjd))
    assert not err.any()
    t = Time(mjd, format="mjd", scale="utc")
    gcrs = TEME(CartesianRepresentation(np.asarray(r).T * u.km), obstime=t).transform_to(GCRS(obstime=t))
    sc = gcrs.cartesian.xyz.to_value(u.km).T
    target = SkyCoord(83.633083 * u.deg, 22.0145 * u.deg).cartesian.xyz.value
    nadir_angle = np.degrees(np.arccos(-(sc @ target) / np.linalg.norm(sc, axis=1)))
    visible = nadir_angle > np.degrees(np.arcsin(6378.137 / np.linalg.norm(sc, axis=1)))
    edges = np.diff(np.concatenate([[0], visible.astype(int), [0]]))
    starts, ends = mjd[edges[:-1] == 1], mjd[np.flatnonzero(edges == -1) - 1]
    assert rows.shape[0] == starts.size >= 3  # one window per 95.7-min orbit
    assert np.allclose(rows[:, 0], starts, atol=step / 86400 + 1e-9)
    assert np.allclose(rows[:, 1], ends, atol=step / 86400 + 1e-9)


def test_supplied_tle_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["visibility", "--facility", "NuSTAR", "--ra", "10", "--dec", "-30", "--start", "2025-08-03"]
    assert _main([*argv, "--end", "2025-08-04", "--tle", str(tmp_path / "missing.tle")]) == 2
    assert "no TLE file" in capsys.readouterr().err
    bad = tmp_path / "bad.tle"
    bad.write_text("<html>rate limited</html>\n")
    assert _main([*argv, "--end", "2025-08-04", "--tle", str(bad)]) == 2
    assert "no TLE" in capsys.readouterr().err
    # the refusal names the epoch held, the limit and where a current set comes from
    assert (
        _main(
            ["visibility", "--facility", "NuSTAR", "--ra", "10", "--dec", "-30", "--start", "2025-09-05"]
            + ["--end", "2025-09-06"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "epoch 2025-08-02T14:00:01.000Z" in err and "at most 7 days" in err
    assert "gp.php?CATNR=38358&FORMAT=TLE" in err and "--tle FILE" in err
