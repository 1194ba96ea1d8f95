"""GAVO DaCHS resource descriptors generated from the table specs (the ``tap/dachs/`` part of the TAP kit).

DaCHS (Debian package ``gavodachs2-server``) publishes tables described by an XML *resource
descriptor* (RD). Writing one per column by hand would duplicate the specs and drift from them, so
the RD is generated here from the same `models.columns.TableSpec` objects as the Parquet, VOTable,
TAP_SCHEMA and SQL DDL.

Choices:

* Every table is a plain DaCHS table in schema ``ivoa`` loaded from the snapshot's own ``<name>.vot``
  files with a ``voTableGrammar`` (the files are read unchanged, from ``../../`` relative to the RD).
  ``ivoa.obscore`` is *not* DaCHS's ``//obscore`` view: that view lacks ObsCore 1.1 columns we fill
  (``obs_creation_date``, ``publisher_id``, ``data_rights``, ...) and adds its own
  (``s_pixel_scale``, ``preview``, ``source_table``, ...). A plain table keeps exactly our columns,
  so the extension tables NATURAL JOIN it on ``obs_publisher_did`` only; the ObsCore data model is
  declared with ``supportsModel`` properties, as ``//obscore`` does. A DaCHS that already imported
  ``//obscore`` owns ``ivoa.obscore``; drop it (``dachs drop //obscore``) before importing this RD.
* ``ivoa.obsplan`` carries the ObsLocTAP table utype as ``<meta name="utype">`` (DaCHS rejects a
  ``utype`` attribute on tables); column utypes are the specs' (no ``obscore:`` prefix) and the
  ObsLocTAP-only columns have no UCD, because the specs give none.
* ``s_region`` (STC-S text in the files) becomes a pgSphere ``spoly`` in the rowmaker, circles as
  the circumscribing regular 16-gon of `models.regions.circumscribed_polygon`, rounded to 1e-6 deg
  like `models.regions.stcs_to_pgsphere`, so DaCHS and the plain PostgreSQL load kit hold the same
  polygons and ``INTERSECTS`` never loses a row. The conversion runs inside DaCHS's own Python,
  which cannot import voharvest: its source is :data:`ROWMAKER_STCS_CODE` (tested against
  `models.regions.stcs_to_pgsphere`).
* The snapshot's files are served by DaCHS itself: the RD declares a service ``files`` with DaCHS's
  ``static`` renderer, whose ``staticData`` property names a resdir-relative directory whose files
  it hands through (DaCHS reference documentation, renderer ``static``,
  https://dachs-doc.readthedocs.io/refdoc.html; ``gavo/web/constantrender.py`` ``StaticRenderer``
  of the installed DaCHS 2.7). ``staticData`` is ``../..``, the snapshot root, so the DataLink documents are at
  ``<serverURL>/<rd id>/files/static/datalink/<collection>/<obs_id>.xml`` and the provenance record
  at ``.../files/static/provenance/prov.json`` (the relative ``#provenance`` link of a document
  resolves there). :func:`install_static` copies ``datalink/`` and ``provenance/`` next to the
  VOTables when only the kit is installed; a snapshot dropped whole under ``inputs/`` needs nothing.
* Without a public base URL (``manifest.json`` ``datalink.base_url`` null) event-list rows of the
  snapshot point at the archive's event file; the ``ivoa.obscore`` rowmaker then points them at
  their DataLink documents through that service: ``access_url`` from ``datalink/documents.csv`` and
  DaCHS's ``[web]serverURL``, resolved when ``dachs imp`` runs (re-import after changing
  ``serverURL``), ``access_format`` :data:`models.datalink.DATALINK_FORMAT`, ``access_estsize`` NULL.
  Rows already pointing at a public DataLink document are left as they are. Its source is
  :data:`ROWMAKER_DATALINK_SETUP` / :data:`ROWMAKER_DATALINK_CODE`.
* The ObsLocTAP example queries (ObsLocTAP 1.0 section 4) are provided as DaCHS ``_example`` metas:
  in the RD (a ``tapexamples`` STREAM) and in ``userconfig.rd``, the file DaCHS reads the TAP
  service's ``/tap/examples`` from (copy it to ``/var/gavo/etc/userconfig.rd``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from models.columns import Column, TableSpec
from models.datalink import DATALINK_DIR, DATALINK_FORMAT, DATALINK_INDEX
from models.regions import CIRCLE_VERTICES, ROUNDING_MARGIN_DEG

#: Directory of the DaCHS files inside ``tap/``.
DACHS_DIR = "dachs"
#: File name of the generated RD (DaCHS's convention is ``q.rd``).
RD_NAME = "q.rd"
USERCONFIG_NAME = "userconfig.rd"
#: The RD's service handing through the snapshot's files (DaCHS ``static`` renderer).
STATIC_SERVICE = "files"
#: Snapshot folders served by :data:`STATIC_SERVICE` that the kit must copy next to the VOTables.
STATIC_DIRS = (DATALINK_DIR, "provenance")
#: The join column shared by ``ivoa.obscore`` and its extensions.
JOIN_COLUMN = "obs_publisher_did"
#: TAPRegExt data models declared per table (name, ivo-id), as DaCHS's ``//obscore`` does.
DATA_MODELS: dict[str, tuple[str, str]] = {
    "ivoa.obscore": ("Obscore-1.1", "ivo://ivoa.net/std/obscore#core-1.1"),
}

_DACHS_TYPES = {
    "double": "double precision",
    "int": "integer",
    "long": "bigint",
    "char": "text",
    "unicodeChar": "unicode",
    "region": "spoly",
    "timestamp": "timestamp",
    "moc": "text",
}

#: Python run by DaCHS's rowmaker (inside DaCHS, no voharvest import possible): STC-S ``s_region``
#: to a pgSphere polygon, circles as circumscribing regular polygons (same maths and rounding as
#: `models.regions.circumscribed_polygon` / `stcs_to_pgsphere`, radius widened by
#: `models.regions.ROUNDING_MARGIN_DEG` so that rounding to 1e-6 deg keeps the circle inside).
#: Defines ``stcs_vertices(text)`` (plain floats, testable anywhere) and ``stcs_to_spoly(text)``
#: (a DaCHS ``SPoly``).
ROWMAKER_STCS_CODE = f"""\
import math

N_VERTICES = {CIRCLE_VERTICES}
MARGIN_DEG = {ROUNDING_MARGIN_DEG!r}

def stcs_vertices(text):
    if text is None or not str(text).strip():
        return None
    words = str(text).split()
    shape, frame = words[0].lower(), words[1].upper()
    nums = [float(w) for w in words[2:] if w.upper() not in ("BARYCENTER", "GEOCENTER", "TOPOCENTER",
                                                             "UNKNOWNREFPOS", "SPHER2")]
    if frame != "ICRS":
        raise ValueError("s_region %r: frame is not ICRS" % (text,))
    if shape == "circle":
        if len(nums) != 3:
            raise ValueError("s_region %r: circle needs ra dec radius" % (text,))
        ra, dec, r = (math.radians(nums[0] % 360.0), math.radians(nums[1]), math.radians(nums[2] + MARGIN_DEG))
        big_r = math.atan(math.tan(r) / math.cos(math.pi / N_VERTICES))
        out = []
        for k in range(N_VERTICES):
            bearing = 2.0 * math.pi * k / N_VERTICES
            sin_dec2 = math.sin(dec) * math.cos(big_r) + math.cos(dec) * math.sin(big_r) * math.cos(bearing)
            dec2 = math.asin(max(-1.0, min(1.0, sin_dec2)))
            ra2 = ra + math.atan2(math.sin(bearing) * math.sin(big_r) * math.cos(dec),
                                  math.cos(big_r) - math.sin(dec) * sin_dec2)
            out.append((round(math.degrees(ra2) % 360.0, 6), round(math.degrees(dec2), 6)))
        return out
    if shape == "polygon":
        if len(nums) < 6 or len(nums) % 2:
            raise ValueError("s_region %r: polygon needs at least 3 ra dec pairs" % (text,))
        out = [(round(nums[i] % 360.0, 6), round(nums[i + 1], 6)) for i in range(0, len(nums), 2)]
        if out[0] == out[-1]:
            out = out[:-1]
        return out
    raise ValueError("s_region %r: only Circle and Polygon are supported" % (text,))

def stcs_to_spoly(text):
    from gavo.utils import pgsphere
    vertices = stcs_vertices(text)
    if vertices is None:
        return None
    return pgsphere.SPoly([pgsphere.SPoint.fromDegrees(ra, dec) for ra, dec in vertices])
"""

#: Setup of the ``ivoa.obscore`` rowmaker's ``datalink_access`` apply (runs inside DaCHS, where ``rd``
#: and ``base`` are given): the snapshot's ``obs_publisher_did -> document`` index and the URL of
#: the static service, ``[web]serverURL`` + ``<rd id>/files/static/`` (``{index}`` is resdir-relative).
ROWMAKER_DATALINK_SETUP = f"""\
import csv
import os

DATALINK_FORMAT = {DATALINK_FORMAT!r}
DATALINK_DOCUMENTS = dict()
_index = rd.getAbsPath({{index!r}})
if os.path.isfile(_index):
    with open(_index, newline="", encoding="utf-8") as f:
        DATALINK_DOCUMENTS = dict((r["obs_publisher_did"], r["document"]) for r in csv.DictReader(f))
STATIC_ROOT = base.makeAbsoluteURL(rd.sourceId + "/{STATIC_SERVICE}/static/", canonical=True)
"""

#: Body of the ``datalink_access`` apply: an event list with a DataLink document whose row does not
#: already point at a (public) DataLink document gets the document served by DaCHS.
ROWMAKER_DATALINK_CODE = """\
document = DATALINK_DOCUMENTS.get(vars["obs_publisher_did"])
if document is not None and vars.get("access_format") != DATALINK_FORMAT:
    vars["access_url"] = STATIC_ROOT + document
    vars["access_format"] = DATALINK_FORMAT
    vars["access_estsize"] = None
"""

#: ObsLocTAP 1.0 section 4 example queries (title, explanation, ADQL), with the standard's values.
OBSLOCTAP_EXAMPLES: tuple[tuple[str, str, str], ...] = (
    (
        "ObsLocTAP: observations in a time window",
        "Observations planned, scheduled or performed between two times (MJD), ObsLocTAP 1.0 section 4.1.",
        "SELECT * FROM ivoa.obsplan WHERE t_min < 58700 AND t_max > 58500",
    ),
    (
        "ObsLocTAP: time window and spectral range",
        "As before, restricted to observations whose spectral coverage (vacuum wavelength, metres) "
        "overlaps a range, ObsLocTAP 1.0 section 4.2.",
        "SELECT * FROM ivoa.obsplan WHERE t_min < 58700 AND t_max > 58500 AND em_min < 4e-10 AND em_max > 1.5e-11",
    ),
    (
        "ObsLocTAP: plan changes since a saved copy",
        "Observations added to or changed in the plan since a saved copy (t_planning, MJD) that end "
        "before a time, ObsLocTAP 1.0 section 4.3.",
        "SELECT * FROM ivoa.obsplan WHERE t_planning > 58500 AND t_max < 58502",
    ),
    (
        "ObsLocTAP: follow-up of a target of opportunity",
        "Planned observations of the sky around a target of opportunity (PKS 0736+017, 1 arcmin), "
        "ObsLocTAP 1.0 section 4.4.",
        "SELECT * FROM ivoa.obsplan WHERE t_planning > 58500 AND t_max < 58502 "
        "AND 1=INTERSECTS(s_region, CIRCLE('ICRS', 114.8251, 1.6179, 0.016666))",
    ),
    (
        "ObsCore with its high-energy extension",
        "Event lists with their energy range: ivoa.obscore joined with ivoa.obscore_hea on obs_publisher_did.",
        "SELECT obs_id, facility_name, energy_min, energy_max FROM ivoa.obscore NATURAL JOIN ivoa.obscore_hea",
    ),
)


def _attr(name: str, value: str) -> str:
    return f" {name}={quoteattr(value)}"


def column_xml(spec: TableSpec, column: Column) -> str:
    """One DaCHS ``<column>`` element for a spec column."""
    dachs_type = "unicode" if column.unicode else _DACHS_TYPES[column.datatype]
    attrs = _attr("name", column.name) + _attr("type", dachs_type)
    if column.unit:
        attrs += _attr("unit", column.unit)
    if column.ucd:
        attrs += _attr("ucd", column.ucd)
    if column.utype:
        attrs += _attr("utype", spec.tap_utype_prefix + column.utype)
    if column.datatype == "region":
        attrs += _attr("xtype", "adql:REGION")
    if column.null_rule == "not-null":
        attrs += _attr("required", "True")
    attrs += _attr("verbLevel", "10" if column.principal else "20")
    attrs += _attr("description", column.description or column.name)
    children = ['\t\t\t<property name="std">' + ("0" if column.name.startswith("x_") else "1") + "</property>"]
    if column.values is not None:
        options = "".join(f"<option>{escape(str(v))}</option>" for v in column.values)
        children.append(f"\t\t\t<values>{options}</values>")
    return f"\t\t<column{attrs}>\n" + "\n".join(children) + "\n\t\t</column>"


def _primary(spec: TableSpec) -> str | None:
    """A primary key when a unique column set is all NOT NULL (otherwise the DDL's job)."""
    for cols in spec.unique:
        if all(spec.column(c).null_rule == "not-null" for c in cols):
            return ",".join(cols)
    return None


def table_xml(spec: TableSpec, obscore: TableSpec | None) -> str:
    """The ``<table>`` element of one spec (indexes, foreign key to ``ivoa.obscore`` for extensions)."""
    attrs = _attr("id", spec.name) + _attr("onDisk", "True") + _attr("adql", "True")
    primary = _primary(spec)
    if primary:
        attrs += _attr("primary", primary)
    lines = [f"\t<table{attrs}>", f'\t\t<meta name="description">{escape(spec.description)}</meta>']
    if spec.utype:
        lines.append(f'\t\t<meta name="utype">{escape(spec.utype)}</meta>')
    model = DATA_MODELS.get(spec.qualified_name)
    if model:
        lines.append(f'\t\t<property key="supportsModel">{model[0]}</property>')
        lines.append(f'\t\t<property key="supportsModelURI">{model[1]}</property>')
    for column in spec.columns:
        if column.datatype == "region":
            lines.append(f'\t\t<index columns="{column.name}" method="GIST"/>')
        elif column.indexed and column.name != primary:
            lines.append(f'\t\t<index columns="{column.name}"/>')
    if obscore is not None and spec is not obscore and JOIN_COLUMN in spec.names:
        lines.append(f'\t\t<foreignKey source="{JOIN_COLUMN}" inTable="{obscore.name}"/>')
    lines += [column_xml(spec, c) for c in spec.columns]
    lines.append("\t</table>")
    return "\n".join(lines)


#: Iterator of the ``embeddedGrammar`` reading a snapshot VOTable inside DaCHS. It is DaCHS's own
#: VOTable parser with one change: ``adql:REGION`` FIELDs are read as text, because DaCHS would
#: otherwise turn STC-S circles into *inscribed* 32-gons (which lose matches at the edges) before
#: the rowmaker sees them. The FIELD names must be the spec's, in order.
_GRAMMAR_CODE = """\
from gavo import votable
expected = {names!r}
with open(self.sourceToken, "rb") as f:
    rows = next(votable.parse(f))
    names = []
    for field in rows.tableDefinition.iterChildrenOfType(votable.V.FIELD):
        if field.xtype == "adql:REGION":
            field(xtype=None)
        names.append(field.name)
    if names != expected:
        raise ValueError("%s: FIELDs %s differ from {table}'s columns %s" % (self.sourceToken, names, expected))
    for row in rows:
        yield dict(zip(names, row))
"""


def _code(text: str, indent: str) -> str:
    return textwrap.indent(escape(text), indent)


def data_xml(spec: TableSpec, source: str, datalink_index: str | None = None) -> str:
    """The ``<data>`` element loading one table from its snapshot VOTable, unchanged.

    Parameters
    ----------
    spec
        The table.
    source
        Its VOTable, relative to the RD's directory.
    datalink_index
        For ``ivoa.obscore``: the snapshot's ``datalink/documents.csv`` relative to the RD's
        directory; event-list rows are then pointed at their DataLink documents served by DaCHS.
    """
    regions = [c.name for c in spec.columns if c.datatype == "region"]
    grammar = _GRAMMAR_CODE.format(names=spec.names, table=spec.qualified_name)
    body = []
    if datalink_index is not None:
        setup = ROWMAKER_DATALINK_SETUP.format(index=datalink_index)
        body.append(
            '\t\t\t\t<apply name="datalink_access">\n\t\t\t\t\t<setup><code>\n'
            f"{_code(setup, chr(9) * 6)}\t\t\t\t\t</code></setup>\n"
            f"\t\t\t\t\t<code>\n{_code(ROWMAKER_DATALINK_CODE, chr(9) * 6)}\t\t\t\t\t</code>\n\t\t\t\t</apply>"
        )
    if regions:
        converts = "\n".join(f'vars["{n}"] = stcs_to_spoly(vars["{n}"])' for n in regions)
        body.append(
            '\t\t\t\t<apply name="stcs_to_spoly">\n\t\t\t\t\t<setup><code>\n'
            f"{_code(ROWMAKER_STCS_CODE, chr(9) * 6)}\t\t\t\t\t</code></setup>\n"
            f"\t\t\t\t\t<code>\n{_code(converts, chr(9) * 6)}\n\t\t\t\t\t</code>\n\t\t\t\t</apply>"
        )
    return "\n".join(
        [
            f'\t<data id="import_{spec.name}">',
            f"\t\t<sources>{escape(source)}</sources>",
            "\t\t<embeddedGrammar>\n\t\t\t<iterator><code>",
            _code(grammar, "\t\t\t\t") + "\t\t\t</code></iterator>\n\t\t</embeddedGrammar>",
            f'\t\t<make table="{spec.name}">',
            '\t\t\t<rowmaker idmaps="*">',
            *body,
            "\t\t\t</rowmaker>",
            "\t\t</make>",
            "\t</data>",
        ]
    )


def examples_xml(examples: Sequence[tuple[str, str, str]] = OBSLOCTAP_EXAMPLES, indent: str = "\t\t") -> str:
    """DaCHS ``_example`` metas (reStructuredText with a ``tapquery`` directive) for the examples."""
    out = []
    for title, text, query in examples:
        out.append(
            f'{indent}<meta name="_example" title={quoteattr(title)}>\n'
            f"{indent}\t{escape(text)}\n\n"
            f"{indent}\t.. tapquery::\n\n"
            f"{indent}\t\t{escape(query)}\n"
            f"{indent}</meta>"
        )
    return "\n".join(out)


def static_service_xml(source_dir: str = "../..") -> str:
    """The ``files`` service: DaCHS's ``static`` renderer over the snapshot root.

    Parameters
    ----------
    source_dir
        The snapshot root relative to the RD's directory (``staticData`` is resdir-relative, and
        the RD's resdir is its own directory).

    Returns
    -------
    str
        A ``<service>`` element; files are at ``<serverURL>/<rd id>/files/static/<path>``.
    """
    return "\n".join(
        [
            f'\t<service id="{STATIC_SERVICE}" allowed="static">',
            '\t\t<meta name="title">voharvest snapshot files</meta>',
            '\t\t<meta name="description">The files of the snapshot: DataLink documents of every event list '
            "(datalink/), the provenance record (provenance/) and the tables.</meta>",
            f'\t\t<property name="staticData">{escape(source_dir)}</property>',
            "\t\t<nullCore/>",
            "\t</service>",
        ]
    )


def install_static(snapshot: Path, resource_dir: Path) -> list[str]:
    """Copy the snapshot's :data:`STATIC_DIRS` into a DaCHS resource directory laid out like the snapshot.

    ``serve-check`` (and an operator installing only the kit) copies the VOTables into
    ``<inputs>/<resdir>/`` and the RD into ``<inputs>/<resdir>/tap/dachs/``; the ``files`` service
    and the ObsCore rowmaker find ``datalink/`` and ``provenance/`` there only if this ran before
    ``dachs imp``. Idempotent (an existing copy is replaced); files are made world-readable, as DaCHS
    runs as its own user.

    Parameters
    ----------
    snapshot
        The published snapshot (read only).
    resource_dir
        The directory playing the snapshot root (``<inputs>/<resdir>``).

    Returns
    -------
    list of str
        The copied files, relative to ``resource_dir``, sorted.
    """
    import shutil

    snapshot, resource_dir = Path(snapshot), Path(resource_dir)
    copied: list[str] = []
    for name in STATIC_DIRS:
        source = snapshot / name
        if not source.is_dir():
            continue
        target = resource_dir / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        for path in [target, *target.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
            if path.is_file():
                copied.append(path.relative_to(resource_dir).as_posix())
    return sorted(copied)


def resource_descriptor(
    specs: Sequence[TableSpec],
    *,
    title: str = "voharvest snapshot",
    description: str = "",
    source_dir: str = "../..",
    examples: Sequence[tuple[str, str, str]] = OBSLOCTAP_EXAMPLES,
) -> str:
    """The text of a DaCHS RD publishing ``specs`` (all in one schema) from ``<source_dir>/<name>.vot``.

    Parameters
    ----------
    specs
        Tables in load order (``ivoa.obscore`` before its extensions: they reference it).
    title, description
        Resource metadata shown by DaCHS.
    source_dir
        Where the VOTables are, relative to the RD's directory (the snapshot root, by default).
    examples
        ``(title, explanation, ADQL)`` triples served as TAP examples.
    """
    specs = list(specs)
    schemas = {s.schema for s in specs}
    if len(schemas) != 1:
        raise ValueError(f"one DaCHS RD publishes one schema; got {sorted(schemas)}")
    obscore = next((s for s in specs if s.qualified_name == "ivoa.obscore"), None)
    description = description or (
        "Observation plans (ObsLocTAP 1.0 ivoa.obsplan) and observations (ObsCore 1.1 ivoa.obscore with "
        "its radio and high-energy extensions) harvested by voharvest."
    )
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<!-- Generated by voharvest (models.dachs) from the table specs; do not edit by hand. -->",
        f'<resource schema="{schemas.pop()}" resdir=".">',
        f'\t<meta name="title">{escape(title)}</meta>',
        f'\t<meta name="description">{escape(description)}</meta>',
        '\t<meta name="subject">observation-planning</meta>',
        '\t<meta name="subject">astronomical-observations</meta>',
        '\t<meta name="creator.name">voharvest</meta>',
        '\t<meta name="content.type">Catalog</meta>',
        "",
        *[table_xml(s, obscore) for s in specs],
        "",
        *[
            data_xml(
                s,
                f"{source_dir}/{s.name}.vot",
                f"{source_dir}/{DATALINK_INDEX}" if s.qualified_name == "ivoa.obscore" else None,
            )
            for s in specs
        ],
        "",
        static_service_xml(source_dir),
        "",
        '\t<STREAM id="tapexamples">',
        examples_xml(examples),
        "\t</STREAM>",
        "</resource>",
        "",
    ]
    return "\n".join(parts)


def userconfig_rd(examples: Sequence[tuple[str, str, str]] = OBSLOCTAP_EXAMPLES) -> str:
    """A DaCHS ``userconfig.rd`` whose ``tapexamples`` feed the TAP service's ``/tap/examples``.

    DaCHS resolves ``//userconfig`` items in ``/var/gavo/etc/userconfig.rd`` first and falls back to
    its built-in file for the rest, so this file holds only the examples stream.
    """
    return "\n".join(
        [
            '<?xml version="1.0" encoding="utf-8"?>',
            "<!-- Generated by voharvest (models.dachs): TAP examples for /tap/examples. -->",
            '<resource schema="__system">',
            '\t<STREAM id="tapexamples">',
            examples_xml(examples),
            "\t</STREAM>",
            "</resource>",
            "",
        ]
    )


def write_dachs_rd(
    tap_dir: Path,
    specs: Sequence[TableSpec],
    *,
    title: str = "voharvest snapshot",
    description: str = "",
) -> list[str]:
    """Write ``<tap_dir>/dachs/q.rd`` and ``userconfig.rd``; returns them relative to the snapshot.

    The RD reads the snapshot's VOTables from ``../../`` (the snapshot root), so the snapshot
    directory can be dropped unchanged under DaCHS's inputs directory (see the README).
    """
    tap_dir = Path(tap_dir)
    folder = tap_dir / DACHS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RD_NAME).write_text(resource_descriptor(specs, title=title, description=description), encoding="utf-8")
    (folder / USERCONFIG_NAME).write_text(userconfig_rd(), encoding="utf-8")
    return [f"{tap_dir.name}/{DACHS_DIR}/{RD_NAME}", f"{tap_dir.name}/{DACHS_DIR}/{USERCONFIG_NAME}"]
