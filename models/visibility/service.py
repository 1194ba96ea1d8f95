"""OVAP over HTTP, without the HTTP: request parameters in, (status, content type, body) out.

:func:`answer` is what ``voharvest serve-ovap`` (:mod:`pipelines.serve_ovap`, the HTTP wiring only) calls
for every GET or POST. It reads the OVAP parameters (IVOA Note OVAP 0.1 as quoted in the issue and in
``../shared/visibility.md`` section 6: ``RA``, ``DEC``, ``START_TIME``, ``END_TIME``, ``MIN_VIS``,
``MAX_VIS``), answers with :func:`models.visibility.visibility` (or, for a service started on a
snapshot, from that snapshot's published visibility MOCs) and writes the OVAP VOTable of
:mod:`.ovap`.

Rules taken from the IVOA texts, since the OVAP Note itself was not found (``visibility.md`` section 6):

* Parameter names are case-insensitive, values are not (DALI 1.1 section "Parameters"; the ObjVisSAP
  draft, ``ivoa-std/ObjObsSAP`` ``ObjVisSAP.tex``: "Parameter names are case-insensitive").
* A parameter given twice is refused (ObjVisSAP: "If the same parameter appears multiple times in a
  request, the operation is undefined"). Unknown parameters are ignored; an empty value counts as absent.
* Errors are a VOTable whose ``QUERY_STATUS`` INFO is ``ERROR`` with a one-line message (never a
  traceback), sent with a 4xx status for a problem with the request and 5xx for a failure of the
  service (DALI 1.1 section "Errors": "HTTP status codes from 400-499 signify a problem with the client
  request and status codes greater than or equal to 500 signify that the request is (probably) valid
  but the server has failed").
* Facility: each facility is its own OVAP service (the Note describes what "a facility answers"; ESA's
  XMM-Newton checker is one such service), so the path ``/ovap/<facility>`` selects it; ``/ovap`` with a
  ``FACILITY`` parameter (the ObjObsSAP draft's optional ``FACILITY``) is accepted as well.
* ``RESPONSEFORMAT`` (DALI): ``votable`` (default, ``application/x-votable+xml``), ``csv``, ``json``.
  ``FLAVOUR=objobssap`` (a service-specific parameter) answers with the ObjObsSAP draft's fields.

``MAX_VIS`` is read as the upper bound of the window-duration filter whose lower bound is ``MIN_VIS``
(the Note's definition of it was not found: UNVERIFIED).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from models.orbits import TLE
from models.visibility import FACILITIES, Result, VisibilityError, facility_name, visibility
from models.visibility.ovap import error_votable, to_csv, to_json, to_votable

#: The OVAP query parameters read, plus DALI's RESPONSEFORMAT and our FACILITY / FLAVOUR.
PARAMETERS = (
    "RA",
    "DEC",
    "START_TIME",
    "END_TIME",
    "MIN_VIS",
    "MAX_VIS",
    "FACILITY",
    "RESPONSEFORMAT",
    "FLAVOUR",
)

#: RESPONSEFORMAT values accepted (DALI names the MIME types; the short names are the usual aliases).
FORMATS = {
    "votable": "votable",
    "application/x-votable+xml": "votable",
    "text/xml": "votable",
    "csv": "csv",
    "text/csv": "csv",
    "json": "json",
    "application/json": "json",
}
CONTENT_TYPES = {
    "votable": "application/x-votable+xml; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json; charset=utf-8",
}

#: Longest text echoed back from a request (a parameter value, a message).
_ECHO_CHARS = 200


class OvapRequestError(VisibilityError):
    """A request the service refuses; ``status`` is the HTTP status to send with the error document."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Answer:
    """What the HTTP layer sends: status, Content-Type, body."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Query:
    """One OVAP request, parameters checked but not yet computed."""

    facility: str
    ra: str
    dec: str
    start: str
    end: str
    min_vis: float = 0.0
    max_vis: float | None = None
    response_format: str = "votable"
    flavour: str = "ovap"


#: Longest error message sent (messages quote the values they refuse, already shortened by repr()).
_MESSAGE_CHARS = 2000


def _clean(text: str, limit: int = _ECHO_CHARS) -> str:
    """``text`` safe to echo in XML: control characters replaced, at most ``limit`` characters."""
    out = "".join(c if c.isprintable() else "?" for c in str(text))
    return out if len(out) <= limit else out[: limit - 3] + "..."


def normalise(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Parameters by upper-case name; a name given twice (in any case) is refused; empty values dropped.

    Parameters
    ----------
    pairs : iterable of (str, str)
        Name/value pairs as decoded from the query string and the form body.

    Returns
    -------
    dict
        ``{NAME: value}`` for every non-empty value.
    """
    out: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        key = name.strip().upper()
        if key in seen:
            raise OvapRequestError(f"parameter {_clean(key)} given more than once")
        seen.add(key)
        if value.strip():
            out[key] = value.strip()
    return out


def _seconds(params: Mapping[str, str], name: str) -> float | None:
    if name not in params:
        return None
    try:
        return float(params[name])
    except ValueError:
        raise OvapRequestError(f"{name} must be a number of seconds, got {_clean(params[name])!r}") from None


def parse_query(params: Mapping[str, str], facility: str | None = None) -> Query:
    """Check an OVAP request's parameters (from :func:`normalise`).

    Parameters
    ----------
    params : mapping
        Upper-case parameter names to values.
    facility : str, optional
        The facility named by the request path (``/ovap/<facility>``), if any.

    Returns
    -------
    Query
        The request; positions and times are read later by :func:`models.visibility.visibility`
        (one coordinate parser, one time layer).

    Raises
    ------
    OvapRequestError
        Missing RA/DEC/START_TIME/END_TIME, unknown facility or format, non-numeric MIN_VIS/MAX_VIS.
    """
    known = ", ".join(FACILITIES)
    name: str | None = None
    if facility is not None:  # a path that names no facility is a resource that does not exist: 404
        try:
            name = facility_name(facility)
        except VisibilityError:
            raise OvapRequestError(f"unknown facility {_clean(facility)!r} in the path: known {known}", 404) from None
    named = params.get("FACILITY")
    if named is not None:
        try:
            other = facility_name(named)
        except VisibilityError:
            raise OvapRequestError(f"unknown FACILITY {_clean(named)!r}: known {known}") from None
        if name is not None and other != name:
            raise OvapRequestError(f"FACILITY={_clean(named)!r} contradicts the path's facility {name}")
        name = other
    if name is None:
        raise OvapRequestError(f"FACILITY is required (or ask /ovap/<facility>): one of {known}")
    missing = [p for p in ("RA", "DEC", "START_TIME", "END_TIME") if p not in params]
    if missing:
        raise OvapRequestError(f"missing required parameter{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    fmt = params.get("RESPONSEFORMAT", "votable")
    if fmt.lower() not in FORMATS:
        raise OvapRequestError(f"RESPONSEFORMAT {_clean(fmt)!r} not supported: votable, csv or json")
    flavour = params.get("FLAVOUR", "ovap").lower()
    if flavour not in ("ovap", "objobssap"):
        raise OvapRequestError(f"FLAVOUR {_clean(flavour)!r} not supported: ovap or objobssap")
    min_vis = _seconds(params, "MIN_VIS")
    return Query(
        facility=name,
        ra=params["RA"],
        dec=params["DEC"],
        start=params["START_TIME"],
        end=params["END_TIME"],
        min_vis=0.0 if min_vis is None else min_vis,
        max_vis=_seconds(params, "MAX_VIS"),
        response_format=FORMATS[fmt.lower()],
        flavour=flavour,
    )


@dataclass
class SnapshotMocs:
    """A snapshot's published visibility MOCs (``manifest.json`` key ``visibility``), loaded once each.

    The service then answers from them without recomputing (as ``voharvest visibility --from-moc``),
    within the span each MOC covers; VLTI reads the VLT's MOC (same site and constraints).
    """

    directory: Path
    described: dict[str, dict[str, object]] = field(default_factory=dict)
    _mocs: dict[str, object] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, directory: str | Path) -> SnapshotMocs:
        """Read the snapshot's manifest (:class:`VisibilityError` if it has no visibility section)."""
        from models.snapshot import read_manifest

        manifest = read_manifest(Path(directory))
        described = manifest.get("visibility") or {}
        if not described:
            raise VisibilityError(f"snapshot {directory} publishes no visibility MOC (manifest 'visibility' empty)")
        return cls(Path(directory), dict(described))

    def entry(self, facility: str) -> dict[str, object] | None:
        """The manifest's description of the MOC answering ``facility`` (VLTI: the VLT's, same site and constraints)."""
        return self.described.get("VLT" if facility == "VLTI" else facility)

    def result(self, query: Query) -> Result:
        """The windows of ``query`` read from the facility's MOC."""
        from mocpy import STMOC

        from models.visibility import _mjd
        from models.visibility.moc import windows_from_stmoc

        key = "VLT" if query.facility == "VLTI" else query.facility
        entry = self.entry(query.facility)
        if query.facility == "INTEGRAL" or entry is None:
            # INTEGRAL answers empty with its INFO; a facility the snapshot does not describe is computed
            return _compute(query, None)
        if not entry.get("file"):
            raise OvapRequestError(f"this snapshot has no visibility MOC for {query.facility}: {entry.get('why')}")
        lo, hi = float(entry["start_mjd"]), float(entry["end_mjd"])  # type: ignore[arg-type]
        start, end = _mjd(query.start, "START_TIME"), _mjd(query.end, "END_TIME")
        if start < lo or end > hi:
            raise OvapRequestError(
                f"this snapshot's {query.facility} MOC covers MJD {lo:.5f} .. {hi:.5f}; "
                f"the request asks {start:.5f} .. {end:.5f}"
            )
        with self._lock:
            if key not in self._mocs:
                self._mocs[key] = STMOC.from_fits(self.directory / str(entry["file"]))
            stmoc = self._mocs[key]
        result = windows_from_stmoc(
            stmoc,  # type: ignore[arg-type]
            query.facility,
            query.ra,
            query.dec,
            query.start,
            query.end,
            min_vis=query.min_vis,
            max_vis=query.max_vis,
        )
        return replace(result, infos={**result.infos, "SNAPSHOT": self.directory.name})


def _compute(query: Query, tles: Sequence[TLE] | None) -> Result:
    return visibility(
        query.facility,
        query.ra,
        query.dec,
        query.start,
        query.end,
        min_vis=query.min_vis,
        max_vis=query.max_vis,
        tles=tles,
    )


def _render(result: Result, query: Query) -> Answer:
    if query.response_format == "csv":
        body = to_csv(result, query.flavour).encode()  # type: ignore[arg-type]
    elif query.response_format == "json":
        body = (to_json(result, query.flavour) + "\n").encode()  # type: ignore[arg-type]
    else:
        body = to_votable(result, query.flavour)  # type: ignore[arg-type]
    return Answer(200, CONTENT_TYPES[query.response_format], body)


def error_answer(message: str, status: int, params: Mapping[str, str] | None = None) -> Answer:
    """The DALI error document for ``message`` (echoing the parameters received) with ``status``."""
    echo = {f"INPUT:{_clean(k)}": _clean(v) for k, v in (params or {}).items() if k in PARAMETERS}
    return Answer(status, CONTENT_TYPES["votable"], error_votable(_clean(message, _MESSAGE_CHARS), echo))


def answer(
    pairs: Iterable[tuple[str, str]],
    facility: str | None = None,
    *,
    tles: Sequence[TLE] | None = None,
    snapshot: SnapshotMocs | None = None,
) -> Answer:
    """Answer one OVAP request: the windows document, or the error document with its HTTP status.

    Parameters
    ----------
    pairs : iterable of (str, str)
        The request's parameters (query string and form body), names in any case.
    facility : str, optional
        The facility named by the path (``/ovap/<facility>``); else the ``FACILITY`` parameter.
    tles : sequence of TLE, optional
        Candidate element sets (default: the bundled ones, :func:`models.visibility.default_tles`).
    snapshot : SnapshotMocs, optional
        Answer from this snapshot's visibility MOCs instead of computing.

    Returns
    -------
    Answer
        200 with the VOTable (CSV, JSON) of the windows; 400 with a DALI error VOTable for a request the
        models refuse (bad or missing parameter, unknown facility, time outside the TLE's propagation
        limit); 500 with an error VOTable (a generic message, no traceback) for anything unexpected.
    """
    from models.errors import ValueParseError
    from models.orbits import PropagationError

    params: dict[str, str] = {}
    try:
        params = normalise(pairs)
        query = parse_query(params, facility)
        result = snapshot.result(query) if snapshot is not None else _compute(query, tles)
        return _render(result, query)
    except OvapRequestError as exc:
        return error_answer(str(exc), exc.status, params)
    except (ValueParseError, VisibilityError, PropagationError) as exc:
        return error_answer(str(exc), 400, params)
    except Exception as exc:  # noqa: BLE001  (the HTTP answer must be an error document, never a traceback)
        logging.getLogger(__name__).exception("OVAP request failed: %s", params)  # the traceback stays server-side
        return error_answer(f"internal error ({type(exc).__name__}); the request was not answered", 500, params)
