"""TLE reader: real sets from tests/data/visibility (PROVENANCE.md), epochs checked by hand with astropy."""

from __future__ import annotations

import filecmp
from pathlib import Path

import astropy.units as u
import pytest
from astropy.time import Time

from scrapers.base import ParseError
from scrapers.tle import GP_URL, checksum, load, parse, requests

DATA = Path(__file__).parent / "data" / "visibility"
RECORDED = Path(__file__).parents[1] / "recordings" / "visibility"


def _epoch(yyddd: str) -> Time:
    """Hand decoding of TLE columns 19-32: two-digit year (57-99 -> 19xx) and fractional day of year."""
    year = int(yyddd[:2])
    year += 1900 if year >= 57 else 2000
    return Time(f"{year}-01-01T00:00:00", scale="utc") + (float(yyddd[2:]) - 1.0) * u.day


@pytest.mark.parametrize(
    ("file", "norad", "field"),
    [
        ("xmm-newton_2025-08-03.tle", 25989, "25215.24021804"),
        ("xmm-newton_2024-12-14.tle", 25989, "24349.90380838"),
        ("xmm-newton_2026-05-11.tle", 25989, "26131.44955799"),
        ("xmm-newton_2026-06-28.tle", 25989, "26179.31942051"),
        ("nustar_2025-08-02.tle", 38358, "25214.58334491"),
        ("nustar_2026-06-27.tle", 38358, "26178.00003472"),
        ("integral_2021-04-19.tle", 27540, "21109.41033731"),
    ],
)
def test_real_sets_parse_with_epoch(file: str, norad: int, field: str) -> None:
    (tle,) = load(DATA / file)
    assert tle.norad == norad
    assert tle.line1[18:32] == field
    expected = _epoch(field)
    assert abs(tle.epoch_mjd - expected.mjd) * 86400 < 1e-3  # sgp4's decoding agrees with the hand one to 1 ms
    assert tle.epoch_iso.startswith(expected.isot[:19])
    assert filecmp.cmp(DATA / file, RECORDED / file, shallow=False)  # the replay holds the same bytes


def test_checksum_by_hand() -> None:
    # NuSTAR 2020 set (../shared/visibility.md N3): two '-' signs, each counting 1
    line = "1 38358U 12031A   20128.84725905  .00000924  00000-0  22789-4 0  9994"
    digits = [int(c) for c in line[:68] if c.isdigit()]
    assert line[:68].count("-") == 2
    assert (sum(digits) + 2) % 10 == 4 == checksum(line)
    line2 = "2 38358   6.0265 256.1944 0007422  61.4682 210.2734 15.04278865  1300"
    assert checksum(line2) == int(line2[68]) == 0


def test_name_line_and_three_line_format() -> None:
    text = (
        b"XMM-NEWTON\r\n1 25989U 99066A   25215.24021804  .00000118  00000+0  00000+0 0  9997\r\n"
        b"2 25989  66.0363 287.1886 4816564  70.4751   0.1012  0.50136658 21402\r\n"
    )
    (tle,) = parse("norad_25989", text, "https://example.org/gp", "text/plain; charset=us-ascii")
    assert tle.name == "XMM-NEWTON"
    assert tle.source == "https://example.org/gp"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (
            b"1 25989U 99066A   25215.24021804  .00000118  00000+0  00000+0 0  9998\n"
            b"2 25989  66.0363 287.1886 4816564  70.4751   0.1012  0.50136658 21402\n",
            "checksum",
        ),
        (b"2 25989  66.0363 287.1886 4816564  70.4751   0.1012  0.50136658 21402\n", "line 2 without a line 1"),
        (
            b"1 25989U 99066A   25215.24021804  .00000118  00000+0  00000+0 0  999\n"
            b"2 25989  66.0363 287.1886 4816564  70.4751   0.1012  0.50136658 21402\n",
            "69 characters",
        ),
        (
            b"1 25989U 99066A   25215.24021804  .00000118  00000+0  00000+0 0  9997\n"
            b"2 38358   6.0265 256.1944 0007422  61.4682 210.2734 15.04278865  1300\n",
            "catalogue numbers differ",
        ),
        # '0' -> 'A' keeps the checksum (both count 0): caught by the field check, not by sgp4 (which reads on)
        (
            b"1 25989U 99066A   25215.24A21804  .00000118  00000+0  00000+0 0  9997\n"
            b"2 25989  66.0363 287.1886 4816564  70.4751   0.1012  0.50136658 21402\n",
            "epoch day",
        ),
        (
            b"1 25989U 99066A   25215.24021804  .00000118  00000+0  00000+0 0  9997\n"
            b"2 25989. 66.0363 287.1886 4816564  70.4751   0.1012  0.50136658 21402\n",
            "column 8 should be blank",
        ),
        (b"<html>rate limited</html>", "no TLE"),
        (b"\xff\xfe\x00garbage\xff", ""),
    ],
)
def test_bad_input_is_parse_error(content: bytes, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        parse("norad_25989", content, "https://celestrak.org/x")
    assert "tle" in str(info.value) and "https://celestrak.org/x" in str(info.value)
    assert fragment in str(info.value)


def test_requests_name_celestrak_gp() -> None:
    reqs = requests()
    assert [r.name for r in reqs] == ["norad_25989", "norad_38358"]
    assert all(r.url == GP_URL and ("FORMAT", "TLE") in r.params for r in reqs)
    assert ("CATNR", "25989") in reqs[0].params
