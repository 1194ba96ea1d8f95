"""Header matching: one place normalises <br>, non-breaking spaces, unit suffixes and case."""

from __future__ import annotations

import pytest

from scrapers.base import ParseError
from scrapers.html_tables import match_columns, read_tables, strip_unit

COLUMNS = {"ra": ("ra",), "start": ("utc obs start",), "revolution": ("revn",)}


@pytest.mark.parametrize(
    "headers",
    [
        ["RA<br>hh:mm:ss", "UTC Obs Start<br>yyyy-mm-dd hh:mm:ss", "Revn<br>#"],  # the live page (evidence)
        ["RA hh:mm:ss", "UTC Obs Start yyyy-mm-dd hh:mm:ss", "Revn #"],  # newer pandas: <br> as a space
        ["RAhh:mm:ss", "UTC Obs Startyyyy-mm-dd hh:mm:ss", "Revn#"],  # lxml text_content / older pandas
        ["RA", "UTC&nbsp;Obs&nbsp;Start", "revn"],  # bare labels, non-breaking spaces, case
        ["ra", "utc_obs_start", "REVN"],
    ],
)
def test_every_evidenced_header_form_matches(headers: list[str]) -> None:
    cells = "".join(f"<th>{h}</th>" for h in headers)
    page = f"<table><tr>{cells}</tr><tr><td>1</td><td>2</td><td>3</td></tr></table>".encode()
    (table,) = read_tables(page, source="s", url="u")
    assert match_columns(table.headers, COLUMNS, required=COLUMNS, source="s", url="u") == {
        "ra": 0,
        "start": 1,
        "revolution": 2,
    }


def test_exact_matches_win_over_unit_stripped_ones() -> None:
    # INTEGRAL shows both: sexagesimal "RA (J2000)" and decimal "RA (deg)".
    headers = ["RA (J2000)", "RA (deg)"]
    columns = {"ra_sex": ("ra (j2000)",), "ra_deg": ("ra (deg)",)}
    assert match_columns(headers, columns, required=columns, source="s", url="u") == {"ra_sex": 0, "ra_deg": 1}


def test_two_headers_with_one_bare_label_are_ambiguous() -> None:
    with pytest.raises(ParseError, match="ambiguous header"):
        match_columns(["RA hh:mm:ss", "RA deg"], {"ra": ("ra",)}, required=("ra",), source="s", url="u")


@pytest.mark.parametrize(
    ("normalised", "bare"),
    [
        ("ra hh mm ss", "ra"),
        ("rahh mm ss", "ra"),
        ("exp ks", "exp"),
        ("obs", "obs"),  # a word ending in "s" keeps its "s"
        ("tasks", "tasks"),
        ("pa ddd dd", "pa"),
    ],
)
def test_strip_unit(normalised: str, bare: str) -> None:
    assert strip_unit(normalised) == bare
