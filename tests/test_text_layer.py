"""The text layer: one decoding rule, strict, with the encoding's origin and the byte offset."""

from __future__ import annotations

import codecs

import pytest

from scrapers.base import ParseError
from scrapers.html_tables import read_table
from scrapers.text import decode, detect

NAME = "η Car – Café"


def test_http_charset_wins_over_default_and_meta_absence() -> None:
    body = f"<html><body><p>{NAME}</p></body></html>".encode()
    assert decode(body, source="s", url="u", content_type="text/html; charset=utf-8") == body.decode()
    assert detect(body, "text/html; charset=UTF-8").declared_by == "HTTP Content-Type"


def test_latin1_page_declared_by_meta() -> None:
    body = '<html><head><meta charset="iso-8859-1"></head><body>Café</body></html>'.encode("latin-1")
    assert "Café" in decode(body, source="s", url="u")
    assert detect(body).declared_by == "HTML <meta charset>"


def test_http_charset_overrides_meta_and_bom_overrides_http() -> None:
    body = '<meta charset="iso-8859-1">Café'.encode()
    assert decode(body, source="s", url="u", content_type="text/html; charset=utf-8").endswith("Café")
    bom = codecs.BOM_UTF16_LE + "Café".encode("utf-16-le")
    assert decode(bom, source="s", url="u", content_type="text/html; charset=iso-8859-1") == "Café"


def test_xml_declaration() -> None:
    body = '<?xml version="1.0" encoding="ISO-8859-1"?><a>Café</a>'.encode("latin-1")
    assert decode(body, source="s", url="u").endswith("<a>Café</a>")


def test_undecodable_bytes_name_source_offset_and_origin() -> None:
    body = b"<html>abc \xff\xfe def</html>"
    with pytest.raises(ParseError) as info:
        decode(body, source="nustar", url="https://example.org/x", content_type="text/html; charset=utf-8")
    text = str(info.value)
    assert "byte offset 10" in text and "HTTP Content-Type" in text
    assert "nustar" in text and "https://example.org/x" in text


def test_unknown_charset_falls_to_the_next_rule() -> None:
    body = '<meta charset="utf-8">Café'.encode()
    assert decode(body, source="s", url="u", content_type="text/html; charset=x-no-such-charset").endswith("Café")


def test_non_ascii_name_reaches_the_table_unchanged() -> None:
    page = (
        "<html><body><table><tr><th>Target<br>Name</th><th>RA<br>hh:mm:ss</th></tr>"
        f"<tr><td>{NAME}</td><td>10:45:03.59</td></tr></table></body></html>"
    ).encode()
    columns = {"name": ("target name",), "ra": ("ra",)}
    frame = read_table(page, columns, required=columns, source="s", url="u", content_type="text/html; charset=utf-8")
    assert frame["name"].iloc[0] == NAME
    assert frame.attrs["headers"] == ["Target Name", "RA hh:mm:ss"]


XXE = (
    '<?xml version="1.0"?><!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<html><body><table><tr><th>Name</th></tr><tr><td>&xxe;</td></tr></table></body></html>"
)
LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<html><body><table><tr><th>Name</th></tr><tr><td>&lol3;</td></tr></table></body></html>"
)


@pytest.mark.parametrize("page", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_html_with_entities_is_refused(page: str) -> None:
    from scrapers.html_tables import read_tables

    with pytest.raises(ParseError, match="entities") as info:
        read_tables(page.encode(), source="xmm_newton", url="https://example.org/s.php")
    assert "xmm_newton" in str(info.value)


def test_external_doctype_without_subset_is_accepted() -> None:
    from scrapers.html_tables import read_tables

    page = (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">'
        "<html><body><table><tr><th>Name</th></tr><tr><td>Crab</td></tr></table></body></html>"
    )
    (table,) = read_tables(page.encode(), source="s", url="u")
    assert table.rows == (("Crab",),)
