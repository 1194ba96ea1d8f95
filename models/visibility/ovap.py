"""Visibility answers as an OVAP VOTable (or ObjObsSAP fields), CSV or JSON.

OVAP 0.1 (IVOA Note, 2018; format as quoted in the ObsLocTAP/OVAP talk, ``../shared/visibility.md``
section 6): one row per window with ``START_VISIBILITY``, ``END_VISIBILITY`` (MJD here; the Note allows
ISO or MJD) and ``DURATION`` (s), utypes ``ovdm:Visibility.startVisibility.value``,
``ovdm:Visibility.endVisibility.value``, ``ovdm:Visibility.duration.value``; ``INFO
name="SERVICE_PROTOCOL" value="1.0"`` with content ``OVAP``, ``QUERY_STATUS`` and echoes of the inputs.
Our units and UCDs are added. ``flavour="objobssap"`` writes the successor draft's fields instead
(ObjObsSAP WD, ``ivoa-std/ObjObsSAP`` ``ObjObsSAP.tex``: ``t_start``, ``t_stop``, ``t_observability``,
``t_validity``, ``facility``).
"""

from __future__ import annotations

import io
import json
from typing import Literal

import numpy as np
from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile

from models.visibility import Result

Flavour = Literal["ovap", "objobssap"]

_OVAP_FIELDS = (
    ("START_VISIBILITY", "d", "time.start", "ovdm:Visibility.startVisibility.value", "window start, MJD (UTC)"),
    ("END_VISIBILITY", "d", "time.end", "ovdm:Visibility.endVisibility.value", "window end, MJD (UTC)"),
    ("DURATION", "s", "time.duration", "ovdm:Visibility.duration.value", "window length"),
)
_OBJOBSSAP_FIELDS = (
    ("t_start", "d", "time.start", "Char.TimeAxis.Coverage.Bounds.Limits.StartTime", "window start, MJD (UTC)"),
    ("t_stop", "d", "time.end", "Char.TimeAxis.Coverage.Bounds.Limits.StopTime", "window end, MJD (UTC)"),
    ("t_observability", "s", "time.duration", "Char.TimeAxis.Coverage.Support.Extent", "window length"),
    # the draft gives UCD "time.validity", which is not a UCD1+ word (astropy W06, votlint): "time.end" instead
    ("t_validity", "d", "time.end", "Char.TimeAxis.Coverage.Time", "prediction valid until, MJD (UTC)"),
)


def _infos(result: Result) -> list[tuple[str, str, str]]:
    """(name, value, content) of every INFO: status, protocol, echoed inputs, model."""
    out = [
        ("QUERY_STATUS", "OK", ""),
        ("SERVICE_PROTOCOL", "1.0", "OVAP"),
        ("FACILITY", result.facility, ""),
        ("RA", f"{result.ra:.8g}", "ICRS, deg"),
        ("DEC", f"{result.dec:.8g}", "ICRS, deg"),
        ("START_TIME", f"{result.start_mjd:.8f}", "MJD (UTC)"),
        ("END_TIME", f"{result.end_mjd:.8f}", "MJD (UTC)"),
        ("MIN_VIS", f"{result.min_vis_s:g}", "s"),
        *([("MAX_VIS", f"{result.max_vis_s:g}", "s")] if np.isfinite(result.max_vis_s) else []),
        ("STEP", f"{result.step_s:g}", "s: sample step; window edges are accurate to one step"),
    ]
    out += [(k, v, "") for k, v in result.infos.items()]
    out += [(f"CONSTRAINT_{k.upper()}", v, "") for k, v in result.model.constraints.items()]
    out += [("NOTE", note, "") for note in result.model.notes]
    return out


def columns(result: Result, flavour: Flavour = "ovap") -> dict[str, np.ndarray]:
    """The answer's columns in ``flavour`` (values as float64 arrays)."""
    if flavour == "objobssap":
        return {
            "t_start": result.starts,
            "t_stop": result.ends,
            "t_observability": result.durations_s,
            "t_validity": np.full(result.starts.size, result.validity_mjd),
        }
    return {"START_VISIBILITY": result.starts, "END_VISIBILITY": result.ends, "DURATION": result.durations_s}


def to_votable(result: Result, flavour: Flavour = "ovap") -> bytes:
    """The answer as a VOTable 1.4 document (one RESOURCE type="results", one TABLE).

    Parameters
    ----------
    result : Result
        Windows from :func:`models.visibility.visibility`.
    flavour : {"ovap", "objobssap"}
        OVAP 0.1 fields (default) or the ObjObsSAP draft's.

    Returns
    -------
    bytes
        UTF-8 XML, valid for astropy ``verify="exception"`` and STILTS votlint.
    """
    doc = VOTableFile(version="1.4")
    resource = Resource(type="results")
    doc.resources.append(resource)
    for k, (name, value, content) in enumerate(_infos(result)):
        info = Info(ID=f"info{k}", name=name, value=value)  # explicit IDs: several NOTE infos may occur
        if content:
            info.content = content
        resource.infos.append(info)
    table = TableElement(doc, name="visibility")
    resource.tables.append(table)
    specs = _OBJOBSSAP_FIELDS if flavour == "objobssap" else _OVAP_FIELDS
    for name, unit, ucd, utype, description in specs:
        fld = Field(doc, name=name, datatype="double", unit=unit, ucd=ucd, utype=utype)
        fld.description = description
        table.fields.append(fld)
    if flavour == "objobssap":
        table.fields.append(
            Field(
                doc,
                name="facility",
                datatype="char",
                arraysize="*",
                ucd="meta.id;instr.tel",
                utype="Provenance.ObsConfig.Facility.name",
            )
        )
    data = columns(result, flavour)
    n = result.starts.size
    table.create_arrays(n)
    for name, values in data.items():
        table.array[name] = values
    if flavour == "objobssap":
        table.array["facility"] = np.full(n, result.facility, dtype=object)
    buf = io.BytesIO()
    doc.to_xml(buf)
    return buf.getvalue()


def to_csv(result: Result, flavour: Flavour = "ovap") -> str:
    """The windows as CSV (header row, MJD with 8 decimals, seconds with 1)."""
    data = columns(result, flavour)
    lines = [",".join(data)]
    fmt = ["%.8f" if k not in ("DURATION", "t_observability") else "%.1f" for k in data]
    matrix = np.column_stack(list(data.values())) if result.starts.size else np.empty((0, len(data)))
    body = io.StringIO()
    if matrix.size:
        np.savetxt(body, matrix, fmt=fmt, delimiter=",")
    return "\n".join(lines) + "\n" + body.getvalue()


def to_json(result: Result, flavour: Flavour = "ovap") -> str:
    """The windows and every INFO as one JSON object."""
    data = columns(result, flavour)
    rows = [dict(zip(data, map(float, values), strict=True)) for values in zip(*data.values(), strict=True)]
    infos = {name: (value if not content else f"{value} ({content})") for name, value, content in _infos(result)}
    infos.pop("NOTE", None)
    return json.dumps({"infos": infos, "notes": result.model.notes, "windows": rows}, indent=2, sort_keys=False)


def error_votable(message: str, infos: dict[str, str] | None = None) -> bytes:
    """A DALI error document: ``RESOURCE type="results"`` whose ``QUERY_STATUS`` INFO is ``ERROR``.

    DALI 1.1 section "Errors" (``ivoa-std/DALI`` ``DALI.tex``): "If an error occurs, the service must include
    an INFO element with name="QUERY_STATUS" and the value="ERROR""; its content is the message for the user.

    Parameters
    ----------
    message : str
        What was wrong with the request (one line; never a traceback).
    infos : dict, optional
        Extra INFOs (name -> value), e.g. the parameters as received.

    Returns
    -------
    bytes
        UTF-8 VOTable 1.4, valid for astropy ``verify="exception"`` and votlint.
    """
    doc = VOTableFile(version="1.4")
    resource = Resource(type="results")
    doc.resources.append(resource)
    status = Info(ID="info0", name="QUERY_STATUS", value="ERROR")
    status.content = message
    resource.infos.append(status)
    protocol = Info(ID="info1", name="SERVICE_PROTOCOL", value="1.0")
    protocol.content = "OVAP"
    resource.infos.append(protocol)
    for k, (name, value) in enumerate((infos or {}).items()):
        resource.infos.append(Info(ID=f"info{k + 2}", name=name, value=value))
    buf = io.BytesIO()
    doc.to_xml(buf)
    return buf.getvalue()
