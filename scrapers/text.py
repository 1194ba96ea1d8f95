r"""The text layer: response bytes become text here, once, by one rule.

:func:`decode` picks the encoding in this order, the first that says anything wins:

1. a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE);
2. the ``charset`` of the HTTP ``Content-Type`` recorded with the response in the raw archive;
3. the XML declaration (``<?xml version="1.0" encoding="..."?>``);
4. an HTML ``<meta charset="...">`` or ``<meta http-equiv="Content-Type" content="...; charset=...">``
   in the first 4 KiB;
5. UTF-8.

Decoding is strict: bytes that are not valid in the chosen encoding raise a
:class:`~scrapers.base.ParseError` naming the source, URL, encoding, where it was declared, and
the byte offset -- never a silent replacement character that would be published as a name.
lxml, given bytes, ignores the HTTP charset (an ``η Car – Café`` page served as UTF-8 without a
``<meta>`` became ``Î· Car â\x80\x93 CafÃ©``): so every parser takes the text from here.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from scrapers.base import ParseError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""", re.IGNORECASE)
_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Encoding:
    """The encoding chosen for a response and where it was found (for messages and provenance)."""

    name: str
    declared_by: str
    bom_length: int = 0


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of an HTTP ``Content-Type`` value, or ``None``."""
    if not content_type:
        return None
    match = _HTTP_CHARSET.search(content_type)
    return match.group(1) if match else None


def _known(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def detect(content: bytes, content_type: str | None = None) -> Encoding:
    """The encoding of ``content`` by the precedence of this module (never guessed from the bytes).

    Parameters
    ----------
    content
        Response bytes.
    content_type
        The HTTP ``Content-Type`` header recorded with the response, if any.

    Returns
    -------
    Encoding
        Codec name, where it was declared, and the BOM length to skip.
    """
    for bom, name in _BOMS:
        if content.startswith(bom):
            return Encoding(name, "byte-order mark", len(bom))
    http = charset_of(content_type)
    if http and _known(http):
        return Encoding(_known(http) or http, "HTTP Content-Type")
    head = content[:4096]
    for pattern, where in ((_XML_DECL, "XML declaration"), (_META, "HTML <meta charset>")):
        match = pattern.search(head)
        if match and _known(match.group(1).decode("ascii")):
            return Encoding(_known(match.group(1).decode("ascii")) or "utf-8", where)
    return Encoding("utf-8", "default (nothing declared)")


def decode(content: bytes, *, source: str, url: str, content_type: str | None = None) -> str:
    """Text of a response, decoded once by the precedence of this module.

    Parameters
    ----------
    content
        Response bytes.
    source, url
        Named in the error.
    content_type
        The HTTP ``Content-Type`` header recorded with the response, if any.

    Returns
    -------
    str
        The text, without a byte-order mark.

    Raises
    ------
    ParseError
        Bytes that are invalid in the chosen encoding (names the byte offset and the bytes).
    """
    enc = detect(content, content_type)
    body = content[enc.bom_length :]
    try:
        return body.decode(enc.name, errors="strict")
    except UnicodeDecodeError as exc:
        offset = exc.start + enc.bom_length
        bad = content[offset : offset + 8]
        raise ParseError(
            source,
            url,
            f"bytes not valid {enc.name} (encoding from {enc.declared_by}) at byte offset {offset}: {bad!r}",
        ) from exc


_PROLOG_ENTITY = re.compile(r"<!ENTITY", re.IGNORECASE)
_DOCTYPE_SUBSET = re.compile(r"<!DOCTYPE[^>\[]*\[", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(r"<[A-Za-z]")


def refuse_entities(text: str, *, source: str, url: str) -> None:
    """Refuse markup whose prolog declares entities or a DTD internal subset.

    Schedule pages and VOTables never need them; an ``<!ENTITY`` is either an attack (external
    entities reading local files, XXE; nested entities expanding to gigabytes, "billion laughs") or
    a page that would publish an entity's expansion as a target name. A ``<!DOCTYPE>`` naming an
    external DTD (``<!DOCTYPE VOTABLE SYSTEM "...dtd">`` of VOTable 1.0, HTML 4 doctypes) is
    harmless and accepted: no parser here fetches it.

    Parameters
    ----------
    text
        Decoded markup (only the prolog, before the first element, is examined).
    source, url
        Named in the error.

    Raises
    ------
    ParseError
        An entity declaration or an internal DTD subset.
    """
    first = _FIRST_ELEMENT.search(text)
    prolog = text[: first.start()] if first else text
    if _PROLOG_ENTITY.search(prolog) or _DOCTYPE_SUBSET.search(prolog):
        raise ParseError(
            source, url, "markup declares a DTD internal subset or entities (refused: XXE / entity expansion)"
        )
