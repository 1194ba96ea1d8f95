"""ESO: non-ASCII names (accents, Greek letters, en-dash) from the answer bytes to VOTable and Parquet."""

from __future__ import annotations

import datetime as dt
import io
import pathlib

import pytest
from astropy.io.votable import parse as parse_votable

from models.arrow import conform
from models.parquet import read_parquet, write_parquet
from models.tables import OBSCORE, OBSPLAN
from models.timeutil import mjd_from_datetime
from models.votable import votable_bytes
from scrapers import eso
from scrapers.base import ParseError

DATA = pathlib.Path(__file__).parent / "data" / "eso"
URL = "https://archive.eso.org/test"
AS_OF = dt.datetime(2025, 9, 5, tzinfo=dt.UTC)
NAME = "Ségransan – η Car"
UTF8 = "text/csv; charset=utf-8"


def _bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _votable_column(content: bytes, name: str) -> list[str]:
    table = parse_votable(io.BytesIO(content)).get_first_table().to_table()
    return [str(v) for v in table[name]]


def test_schedule_pi_and_title_keep_their_characters():
    text = _bytes("sched_rep_arc_P115_reconstructed.csv").replace(b"Ginsburg, A", NAME.encode())
    text = text.replace(b"Density and Temperature in The Brick", f"{NAME} – Café".encode())
    runs = eso.parse("sched_rep_arc", text, URL, content_type=UTF8).set_index("run_id")
    assert runs.loc["095.F-9802(A)", "pi"] == NAME
    assert runs.loc["095.F-9802(A)", "title"] == f"{NAME} – Café"
    plan = eso.normalise({"sched_rep_arc": runs.reset_index()}, AS_OF)["obsplan"].set_index("obs_id")
    assert plan.loc["095.F-9802(A)", "x_eso_pi"] == NAME


def test_http_charset_decides_and_bad_bytes_name_the_offset():
    latin = _bytes("sched_rep_arc_P115_reconstructed.csv")[3:].replace(b"Ginsburg, A", "Ségransan, D".encode("latin-1"))
    runs = eso.parse("sched_rep_arc", latin, URL, content_type="text/csv; charset=iso-8859-1")
    assert "Ségransan, D" in runs["pi"].tolist()
    with pytest.raises(ParseError, match="byte offset") as err:
        eso.parse("sched_rep_arc", latin, URL, content_type=UTF8)
    assert URL in str(err.value)


def test_html_display_served_as_utf8_without_meta_charset():
    page = _bytes("sched_rep_arc_display_091.B-0088B_reconstructed.html")
    page = page.replace(b"<meta charset='utf-8'>", b"").replace(b"GILLESSEN/ GENZEL", NAME.encode() + b"/ GENZEL")
    runs = eso.parse(
        "sched_rep_arc",
        page,
        "https://archive.eso.org/wdb/wdb/eso/sched_rep_arc/query?wdbo=html/display&progid=091.B-0088(B)",
        content_type="text/html; charset=utf-8",
    )
    assert runs["pi"].iloc[0] == NAME


@pytest.mark.parametrize("serialization", ["binary2", "tabledata"])
def test_target_and_title_reach_votable_and_parquet_unchanged(tmp_path, serialization):
    main = _bytes("wdb_eso_archive_main_sgra_results_2017.csv").replace(b"GC_IRS7", NAME.encode())
    vot = _bytes("tap_apex_quicklooks_reconstructed.vot").replace(
        b"Density and Temperature in The Brick", NAME.encode()
    )
    frames = {
        "eso_archive_main": eso.parse("eso_archive_main", main, URL, content_type=UTF8),
        "apex_quicklooks": eso.parse("apex_quicklooks", vot, URL, content_type="application/x-votable+xml"),
    }
    out = eso.normalise(frames, AS_OF)
    plan = conform(out["obsplan"].assign(t_planning=mjd_from_datetime(AS_OF)), OBSPLAN)
    core = conform(out["obscore"][out["obscore"]["obs_collection"].eq("APEX")], OBSCORE)
    assert set(plan.column("target_name").to_pylist()) == {NAME}
    # without an OB id the obs_id holds the object name: percent-encoded, since obs_id is ASCII (char)
    assert plan.column("obs_id").to_pylist()[0] == "076.B-0863(A)-AMBER-S%C3%A9gransan %E2%80%93 %CE%B7 Car-20060313"
    assert set(core.column("obs_title").to_pylist()) == {NAME}
    assert set(_votable_column(votable_bytes(plan, OBSPLAN, serialization=serialization), "target_name")) == {NAME}
    assert set(_votable_column(votable_bytes(core, OBSCORE, serialization=serialization), "obs_title")) == {NAME}
    write_parquet(plan, OBSPLAN, tmp_path / "obsplan.parquet")
    write_parquet(core, OBSCORE, tmp_path / "obscore.parquet")
    assert set(read_parquet(tmp_path / "obsplan.parquet").column("target_name").to_pylist()) == {NAME}
    assert set(read_parquet(tmp_path / "obscore.parquet").column("obs_title").to_pylist()) == {NAME}
