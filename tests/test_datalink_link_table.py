"""The link table of a snapshot's DataLink documents, built with Arrow kernels, is exactly the pre-Arrow one.

``snapshot_link_table`` (Arrow compute and numpy index arithmetic, no Python object per link row) is
compared with :func:`_reference_links`, the pandas implementation it replaced, kept here verbatim as an
oracle: ``conform(_reference_links(...), LINK_ROWS)`` must equal the new table (same schema with its
metadata, same rows in the same order, same NULLs, one chunk per column) on generated ObsCore frames
(collections and ids that are not plain names, NULL ``access_url``, X-ray and other facilities, rows
that are not event lists, GADF link rows) and on the snapshot harvested from the recordings, with and
without a public base URL.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.arrow import arrow_schema, conform, to_frame
from models.datalink import (
    DATALINK,
    DATALINK_DIR,
    HAS_PROVENANCE,
    LINK_ROWS,
    NO_RESPONSE,
    PROVENANCE_TARGET,
    PROVENANCE_TYPE,
    _document_runs,
    _gadf_links_from_raw,
    document_paths,
    snapshot_link_table,
    snapshot_links,
)
from models.hea import XRAY_ARCHIVES
from tests.test_provenance import harvested_snapshot

BASE = "https://data.example.org/voharvest/snapshots/2025-09-05"
# the oracle's own copies of the rule's constants (not imported: a change there must show up here)
_SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_LINK_COLUMNS = tuple(DATALINK.names)


# -- the oracle: the pre-Arrow implementation ---------------------------------------------------------------
def _reference_paths(obscore: pd.DataFrame) -> pd.Series:
    """The pre-Arrow ``document_paths`` rule, kept verbatim as an oracle.

    Relative path of each row's DataLink document (NULL for rows that are not event lists).

    ``datalink/<obs_collection>/<obs_id>.xml``: both parts are used as they are when they are plain
    names (letters, digits, ``.``, ``_``, ``-``; every harvested collection and id is), so the path is
    also a URL path needing no escaping; any other value is replaced by the first 16 hex digits of the
    SHA-256 of ``obs_publisher_did`` (unique, still a plain name).
    """
    import hashlib

    events = (obscore["dataproduct_type"] == "event").fillna(False).to_numpy(dtype=bool)
    coll = obscore["obs_collection"].astype("string")
    obs_id = obscore["obs_id"].astype("string")
    plain = (coll.str.match(_SAFE_NAME) & obs_id.str.match(_SAFE_NAME)).fillna(False).to_numpy(dtype=bool)
    path = (DATALINK_DIR + "/" + coll + "/" + obs_id + ".xml").astype(object)
    odd = np.flatnonzero(events & ~plain)
    if odd.size:  # rare: ids with characters that would need escaping
        dids = obscore["obs_publisher_did"].astype(str).to_numpy()[odd]
        path.iloc[odd] = [f"{DATALINK_DIR}/x/{hashlib.sha256(d.encode()).hexdigest()[:16]}.xml" for d in dids]
    return path.where(pd.Series(events, index=path.index), None)


def _reference_links(
    obscore: pd.DataFrame,
    obscore_hea: pd.DataFrame,
    base_url: str | None,
    *,
    gadf_links: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The pre-Arrow ``snapshot_links`` rule (pandas, a Python object per link row), kept verbatim as an oracle.

    Link rows of every event-list dataset of a snapshot, with a ``document`` column.

    Parameters
    ----------
    obscore, obscore_hea
        The snapshot's ObsCore frames; event lists are ``dataproduct_type = 'event'`` rows (``obscore_hea``
        is used to describe the dataset in the ``#this`` row).
    base_url
        Public URL of the snapshot directory; the ``#provenance`` link is ``<base>/provenance/prov.json``,
        or the relative reference ``../../provenance/prov.json`` (resolved against the document's own
        URL, RFC 3986 section 5) when unset.
    gadf_links
        Link rows of GADF releases (``models.hea.gadf_to_ivoa``'s ``datalink``): events (``#this``), each
        response (``#calibration`` with its response type) and GTI (``#auxiliary``) of a run.

    Returns
    -------
    pandas.DataFrame
        :data:`DATALINK` columns plus ``document``; rows of one document together, ``#this`` first.
    """
    paths = _reference_paths(obscore)
    has_path = paths.notna().to_numpy()
    events = obscore[has_path].assign(document=paths[has_path])
    # each event list's place in document-name order: links are sorted by integers, not by strings
    names = events["document"].to_numpy(dtype=str)
    place = np.empty(len(names), dtype=np.int64)
    place[np.argsort(names, kind="stable")] = np.arange(len(names))
    events = events.assign(_doc=place)
    gadf_links = gadf_links if gadf_links is not None else pd.DataFrame(columns=[*_LINK_COLUMNS, "x_obs_id"])
    gadf_links = gadf_links.drop(columns=["document", "x_obs_id"], errors="ignore")
    where = pd.Index(events["obs_publisher_did"]).get_indexer(gadf_links["ID"])
    gadf_links = gadf_links[where >= 0].assign(
        document=events["document"].to_numpy()[where[where >= 0]], _doc=place[where[where >= 0]]
    )
    rest = events[~events["obs_publisher_did"].isin(set(gadf_links["ID"])).to_numpy()]
    url = rest["access_url"].astype(object)
    has_url = url.notna().to_numpy(dtype=bool)
    label = rest["obs_collection"].astype(str) + " observation " + rest["obs_id"].astype(str)
    this = pd.DataFrame(
        {
            "ID": rest["obs_publisher_did"].to_numpy(),
            "access_url": url.where(pd.Series(has_url, index=url.index), None).to_numpy(),
            "service_def": None,
            "error_message": np.where(has_url, None, "NotFoundFault: no event-list URL is known for this observation"),
            "semantics": "#this",
            "description": (
                label + ": event list (" + rest["facility_name"].astype(str) + " archive product)"
            ).to_numpy(),
            "content_type": rest["access_format"].astype(object).where(pd.Series(has_url, index=url.index), None),
            "content_length": pd.array([None] * len(rest), dtype="Int64"),
            "content_qualifier": np.where(has_url, "event-list", None),
            "document": rest["document"].to_numpy(),
            "_doc": rest["_doc"].to_numpy(),
        }
    )
    from models.hea import XRAY_ARCHIVES

    xray = rest[rest["facility_name"].isin(list(XRAY_ARCHIVES)).to_numpy(dtype=bool)]
    calibration = pd.DataFrame(
        {
            "ID": xray["obs_publisher_did"].to_numpy(),
            "access_url": None,
            "service_def": None,
            "error_message": NO_RESPONSE,
            "semantics": "#calibration",
            "description": (label.loc[xray.index] + ": instrument response").to_numpy(),
            "content_type": None,
            "content_length": pd.array([None] * len(xray), dtype="Int64"),
            "content_qualifier": None,
            "document": xray["document"].to_numpy(),
            "_doc": xray["_doc"].to_numpy(),
        }
    )
    target = base_url.rstrip("/") + "/" + PROVENANCE_TARGET if base_url else "../../" + PROVENANCE_TARGET
    provenance = pd.DataFrame(
        {
            "ID": events["obs_publisher_did"].to_numpy(),
            "access_url": target,
            "service_def": None,
            "error_message": None,
            "semantics": HAS_PROVENANCE,
            "description": "W3C PROV / IVOA ProvenanceDM record of the snapshot this dataset was published in "
            "(PROV-JSON; also provenance/prov.provn and provenance/prov.vot)",
            "content_type": PROVENANCE_TYPE,
            "content_length": pd.array([None] * len(events), dtype="Int64"),
            "content_qualifier": None,
            "document": events["document"].to_numpy(),
            "_doc": place,
        }
    )
    parts = [p for p in (gadf_links, this, calibration, provenance) if len(p)]
    if not parts:
        return pd.DataFrame(columns=[*_LINK_COLUMNS, "document"])
    links = pd.concat([p.assign(_part=i) for i, p in enumerate(parts)], ignore_index=True)
    rank = np.select(
        [links["semantics"] == "#this", links["semantics"] == "#calibration", links["semantics"] == "#auxiliary"],
        [0, 1, 2],
        default=3,
    )
    # by document name, then #this, #calibration, #auxiliary, the rest; rows of a rank in their order
    order = np.lexsort((np.arange(len(links)), links["_part"].to_numpy(), rank, links["_doc"].to_numpy()))
    links = links.take(order)
    return links[[*_LINK_COLUMNS, "document"]].reset_index(drop=True)


def _reference_runs(links: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pre-Arrow ``_document_runs`` (numpy object comparison), kept verbatim as an oracle."""
    documents = links.column("document").to_numpy(zero_copy_only=False).astype(object)
    if len(documents) == 0:
        return documents, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first = np.flatnonzero(np.r_[True, documents[1:] != documents[:-1]])
    return documents[first], first, np.diff(np.r_[first, len(documents)])


def _reference_table(
    obscore: pd.DataFrame, hea: pd.DataFrame, base_url: str | None, gadf: pd.DataFrame | None
) -> pa.Table:
    return conform(_reference_links(obscore, hea, base_url, gadf_links=gadf), LINK_ROWS)


def _differences(new: pa.Table, old: pa.Table) -> list[str]:
    """What tells ``new`` from ``old`` (empty: exactly equal, schema metadata included)."""
    out = []
    if not new.schema.equals(old.schema, check_metadata=True):
        out.append(f"schema {new.schema} != {old.schema}")
    elif not new.equals(old):
        for name in new.column_names:
            a, b = new.column(name).to_pylist(), old.column(name).to_pylist()
            if a != b:
                at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
                out.append(f"{name}: {len(a)} vs {len(b)} rows, first difference at {at}")
    if any(new.column(i).num_chunks != 1 for i in range(new.num_columns)):
        out.append("a column of several chunks")
    return out


def _check(obscore: pd.DataFrame, hea: pd.DataFrame, base_url: str | None, gadf: pd.DataFrame | None) -> pa.Table:
    new = snapshot_link_table(obscore, hea, base_url, gadf_links=gadf)
    old = _reference_table(obscore, hea, base_url, gadf)
    assert _differences(new, old) == []
    names, first, counts = _document_runs(new)
    ref_names, ref_first, ref_counts = _reference_runs(new)
    assert names.dtype == ref_names.dtype == object
    assert names.tolist() == ref_names.tolist()
    assert np.array_equal(first, ref_first) and np.array_equal(counts, ref_counts)
    return new


# -- generated ObsCore frames --------------------------------------------------------------------------------
_COLLECTIONS = ["HESS-DL3-DR1", "NuSTAR", "XMM-Newton", "a", "B", "a b", "../x", "coll\n", "", "é", None]
_OBS_IDS = ["1", "10", "9", "020136", "x.y_z-1", "a/b", "", "id\n", "id\n\n", "ü", None]
_FACILITIES = [*XRAY_ARCHIVES, "H.E.S.S.", "INTEGRAL", "", None]
_ROW = st.fixed_dictionaries(
    {
        "dataproduct_type": st.sampled_from(["event", "event", "event", "image", "Event", None]),
        "obs_collection": st.sampled_from(_COLLECTIONS),
        "obs_id": st.sampled_from(_OBS_IDS),
        "facility_name": st.sampled_from(_FACILITIES),
        "access_url": st.sampled_from([None, "https://a.example/ev.fits", "", "http://b.example/x?y=1"]),
        "access_format": st.sampled_from([None, "application/fits", "application/x-directory"]),
    }
)
_GADF_VALUES = {
    "semantics": st.sampled_from(["#this", "#calibration", "#auxiliary", "#progenitor", HAS_PROVENANCE, None]),
    "access_url": st.sampled_from([None, "https://hess.example/run.fits#events", "https://hess.example/run.fits#gti"]),
    "error_message": st.sampled_from([None, "NotFoundFault: gone"]),
    "description": st.sampled_from([None, "", "effective area", "événements"]),
    "content_type": st.sampled_from([None, "application/fits"]),
    "content_length": st.sampled_from([None, 0, 2880, 2**40]),
    "content_qualifier": st.sampled_from([None, "aeff", "bkgrate", "event-list"]),
}


@st.composite
def _obscore(draw: st.DrawFn) -> pd.DataFrame:
    """ObsCore rows with unique ``obs_publisher_did`` (as pandas reads a snapshot, or as object columns)."""
    rows = draw(st.lists(_ROW, max_size=14))
    for i, row in enumerate(rows):
        row["obs_publisher_did"] = f"ivo://voharvest/{row['obs_collection']}?{row['obs_id']}#{i}"
    columns = ["dataproduct_type", "obs_collection", "obs_id", "obs_publisher_did", "facility_name"]
    frame = pd.DataFrame(rows, columns=[*columns, "access_url", "access_format"])
    if draw(st.booleans()):  # as the snapshot's Parquet file reads: pandas strings backed by Arrow
        frame = to_frame(pa.Table.from_pandas(frame.astype(object), preserve_index=False))
    else:  # object columns holding None
        frame = frame.astype(object).where(frame.notna(), None)
    if draw(st.booleans()):  # an index that is not 0..n-1
        frame.index = pd.Index(draw(st.permutations(range(100, 100 + len(frame)))), dtype="int64")
    return frame


@st.composite
def _gadf(draw: st.DrawFn, obscore: pd.DataFrame) -> pd.DataFrame | None:
    """GADF link rows: a few rows each for some datasets (event lists or not) and an unknown one, shuffled."""
    if draw(st.booleans()):
        return None
    events = obscore.loc[obscore["dataproduct_type"] == "event", "obs_publisher_did"].tolist()
    ids = [*events, *obscore["obs_publisher_did"].tolist(), "ivo://voharvest/HESS-DL3-DR1?unknown"]
    rows = []
    for did in draw(st.lists(st.sampled_from(ids), max_size=4, unique=True)):
        for _ in range(draw(st.integers(1, 5))):
            rows.append({"ID": did, **draw(st.fixed_dictionaries(_GADF_VALUES)), "document": "ignored", "x_obs_id": 1})
    frame = pd.DataFrame(draw(st.permutations(rows)), columns=["ID", *_GADF_VALUES, "document", "x_obs_id"])
    frame["content_length"] = frame["content_length"].astype("Int64")
    return frame


@given(st.data())
def test_link_table_equals_the_reference_on_generated_frames(data: st.DataObject) -> None:
    obscore = data.draw(_obscore())
    gadf = data.draw(_gadf(obscore))
    base_url = data.draw(st.sampled_from([None, BASE, BASE + "/"]))
    table = _check(obscore, obscore.iloc[:0], base_url, gadf)
    # the frame wrapper is the table as pandas reads it
    pd.testing.assert_frame_equal(snapshot_links(obscore, obscore.iloc[:0], base_url, gadf_links=gadf), to_frame(table))


@given(_obscore())
def test_document_paths_equal_the_reference(obscore: pd.DataFrame) -> None:
    pd.testing.assert_series_equal(document_paths(obscore), _reference_paths(obscore))


def test_each_kind_of_row_is_checked() -> None:
    """Fixed rows covering every branch: hashed and plain paths, no URL, X-ray, GADF, equal document names."""
    rows = [
        ("event", "NuSTAR", "31002031015", "ivo://voharvest/NuSTAR?31002031015", "NuSTAR", "https://n/ev", "a/dir"),
        ("event", "XMM-Newton", "0123456789", "ivo://voharvest/XMM?0123456789", "XMM-Newton", None, None),
        ("event", "a b", "1", "ivo://voharvest/odd?1", "INTEGRAL", "https://i/ev", "application/fits"),
        ("event", None, "2", "ivo://voharvest/none?2", None, "", None),
        ("event", "HESS-DL3-DR1", "20136", "ivo://voharvest/HESS-DL3-DR1?20136", "H.E.S.S.", "https://h/ev", None),
        ("event", "HESS-DL3-DR1", "20136", "ivo://voharvest/HESS-DL3-DR1?20136b", "H.E.S.S.", "https://h/b", None),
        ("image", "NuSTAR", "x", "ivo://voharvest/NuSTAR?x", "NuSTAR", "https://n/im", "image/fits"),
        ("event", "A", "id\n", "ivo://voharvest/A?id", "Swift", "https://s/ev", None),
    ]
    columns = ["dataproduct_type", "obs_collection", "obs_id", "obs_publisher_did", "facility_name"]
    obscore = pd.DataFrame(rows, columns=[*columns, "access_url", "access_format"])
    gadf = pd.DataFrame(
        {
            "ID": ["ivo://voharvest/HESS-DL3-DR1?20136"] * 4 + ["ivo://voharvest/NuSTAR?x"],
            "semantics": ["#auxiliary", "#calibration", "#this", "#progenitor", "#this"],
            "access_url": ["https://h/gti", "https://h/aeff", "https://h/ev", "https://h/raw", "https://n/x"],
            "content_qualifier": [None, "aeff", "event-list", None, None],
            "content_length": pd.array([None, 10, None, 5, 1], dtype="Int64"),
        }
    )
    for base_url in (None, BASE):
        for links in (None, gadf):
            table = _check(obscore, obscore.iloc[:0], base_url, links)
            assert table.num_rows == (17 if links is None else 20)
    table = snapshot_link_table(obscore, obscore.iloc[:0], None, gadf_links=gadf)
    hess = table.filter(pa.compute.equal(table.column("ID"), "ivo://voharvest/HESS-DL3-DR1?20136"))
    assert hess.column("semantics").to_pylist() == [
        "#this",
        "#calibration",
        "#auxiliary",
        "#progenitor",
        HAS_PROVENANCE,
    ]
    hashed = hashlib.sha256(b"ivo://voharvest/odd?1").hexdigest()[:16]
    assert f"{DATALINK_DIR}/x/{hashed}.xml" in table.column("document").to_pylist()
    assert f"{DATALINK_DIR}/A/id\n.xml" in table.column("document").to_pylist()  # as Python's `$` has it
    xmm = table.filter(pa.compute.equal(table.column("ID"), "ivo://voharvest/XMM?0123456789")).to_pylist()
    assert [r["semantics"] for r in xmm] == ["#this", "#calibration", HAS_PROVENANCE]
    assert xmm[0]["access_url"] is None and xmm[0]["error_message"].startswith("NotFoundFault")
    assert xmm[1]["error_message"] == NO_RESPONSE
    assert (xmm[2]["access_url"], xmm[2]["content_type"]) == ("../../" + PROVENANCE_TARGET, PROVENANCE_TYPE)
    # a dataset without a collection has a hashed document and no description (NULL text stays NULL)
    none = table.filter(pa.compute.equal(table.column("ID"), "ivo://voharvest/none?2")).to_pylist()
    assert none[0]["description"] is None and none[0]["access_url"] == ""


def test_no_event_lists_give_an_empty_table() -> None:
    columns = ["dataproduct_type", "obs_collection", "obs_id", "obs_publisher_did", "facility_name", "access_url"]
    for obscore in (
        pd.DataFrame(columns=[*columns, "access_format"]),
        pd.DataFrame([("image", "c", "1", "ivo://x/c?1", "NuSTAR", "u", "f")], columns=[*columns, "access_format"]),
    ):
        gadf = pd.DataFrame({"ID": ["ivo://x/c?1"], "semantics": ["#this"], "access_url": ["https://x"]})
        table = _check(obscore, obscore.iloc[:0], None, gadf)
        assert table.num_rows == 0 and table.schema.equals(arrow_schema(LINK_ROWS), check_metadata=True)


def test_event_lists_sharing_an_id_are_refused_as_before() -> None:
    obscore = pd.DataFrame(
        {
            "dataproduct_type": ["event", "event"],
            "obs_collection": ["c", "c"],
            "obs_id": ["1", "2"],
            "obs_publisher_did": ["ivo://x/c?1", "ivo://x/c?1"],
            "facility_name": ["NuSTAR", "NuSTAR"],
            "access_url": ["u", "v"],
            "access_format": ["f", "f"],
        }
    )
    with pytest.raises(Exception, match="unique|Reindexing"):
        _reference_links(obscore, obscore.iloc[:0], None)
    with pytest.raises(ValueError, match="share an obs_publisher_did"):
        snapshot_link_table(obscore, obscore.iloc[:0], None)


# -- the harvested snapshot ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def snapshot() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    root = harvested_snapshot()
    obscore = pd.read_parquet(root / "obscore.parquet")
    return obscore, pd.read_parquet(root / "obscore_hea.parquet"), _gadf_links_from_raw(root / "raw", obscore)


@pytest.mark.parametrize("base_url", [None, BASE])
@pytest.mark.parametrize("with_gadf", [True, False])
def test_link_table_equals_the_reference_on_the_harvested_snapshot(
    snapshot: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], base_url: str | None, with_gadf: bool
) -> None:
    obscore, hea, gadf = snapshot
    assert len(gadf) and (obscore["dataproduct_type"] == "event").sum() > 100  # the H.E.S.S. runs and X-ray lists
    table = _check(obscore, hea, base_url, gadf if with_gadf else None)
    assert set(table.column("semantics").to_pylist()) >= {"#this", "#calibration", HAS_PROVENANCE}


def test_the_comparison_sees_order_nulls_and_values(snapshot: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    """The equality used above is not vacuous: a swapped pair, a NULL made '' or a changed value are found."""
    obscore, hea, gadf = snapshot
    table = snapshot_link_table(obscore, hea, None, gadf_links=gadf)
    order = np.arange(table.num_rows)
    order[[0, 1]] = order[[1, 0]]
    assert _differences(table.take(pa.array(order)), table)
    service = pa.array([""] * table.num_rows, pa.string())
    assert _differences(table.set_column(2, table.schema.field(2), service), table)
    urls = table.column("access_url").to_pylist()
    urls[-1] = urls[-1] + "x"
    assert _differences(table.set_column(1, table.schema.field(1), pa.array(urls, pa.string())), table)
    assert _differences(table.cast(table.schema.remove_metadata()), table)
    assert _differences(table, table) == []
