"""End-to-end publication benchmark: a generated schedule through every stage of a snapshot.

    .venv/bin/python benchmarks/bench_publish.py                      # 10,000 rows (well under a minute)
    .venv/bin/python benchmarks/bench_publish.py --rows 10000 100000 1000000 [--changes 100]

Each size runs in a fresh subprocess (peak RSS is that process's). The rows come from
``benchmarks.schedules`` (valid, realistic schedules of four facilities); the previous snapshot's
history is the same rows with ``--changes`` planned exposures different, composed before timing.
Timed stages, in the order ``pipelines.assets`` runs them:

``compose`` (reconcile with the previous history, changelog, X-ray ObsCore rows), ``validate``
(``models.validate.validate`` of every table), ``conform`` (frames to Arrow), ``parquet`` (every table),
``votable`` (BINARY2 of obsplan, obscore, its extensions and changes), ``changes_json``, ``mocs``
(space, time and space-time MOCs per table and facility, within the snapshot's VOTable bytes),
``tap_kit``, ``provenance`` (the ``row_provenance`` frame and the PROV record: ``prov.json``, ``prov.provn``,
``prov.vot``), ``landing`` (``index.html``), ``manifest`` (hashing every file once and writing the manifest) and
``publish`` (``publish_snapshot``: ``validate_snapshot`` + rename). ``datalink`` writes one DataLink document
per event-list dataset (``datalink/<collection>/<obs_id>.xml``) and their index; the ``row_provenance`` table's
Parquet and VOTable are written in ``tables``. The generated harvest has no raw archive: each source is
described by one response record (``urn:x-voharvest:bench:<source>``), as a harvested source with one
request is.

The floor is measured in the same process on the same rows: a bare ``pyarrow.parquet.write_table``
(zstd) of every conformed table, plus bare mocpy builds per MOC table and facility at the former fixed
orders (space 10, time 31): ``MOC.from_cones`` (distinct circles, ``large_cones``) and
``MOC.from_polygons`` in batches of 5,000 united, and ``TimeMOC.from_time_ranges_approx``. The ratio is
the publication's total over the floor. Because the published MOCs now have orders per facility (coarser
than 10 for INTEGRAL's degree-wide fields, finer for arcminute ones), a second floor builds the same bare
MOCs at the published orders (``floor*``, ``ratio_published_orders``), and with them the mocpy calls of
the space-time MOCs the snapshot publishes (the ``STMOC.from_spatial_coverages`` call alone, on one MOC
per distinct footprint built untimed; ``stmocs``: runs before 2026-12-01 had no such term, and
``ratio_issue_stages_without_stmocs`` is the ratio they quoted). Peak RSS: a thread samples
``VmRSS`` every 10 ms during the stages; ``ru_maxrss`` (whole process, generation included) is printed
too. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STAGES = (
    "read_previous",
    "compose",
    "validate",
    "datalink",
    "tables",
    "history",
    "changes",
    "mocs",
    "tap_kit",
    "provenance",
    "landing",
    "manifest",
    "publish",
)
#: The publications of one run, in order: a cold full snapshot, a day with changes, a day with none.
DAYS = ("full", "daily", "nochange")
#: What issue 13 calls a full publication: "compose, checks, every table in VOTable and Parquet, history,
#: changelog, MOCs, TAP kit, manifest, validation, rename" (DataLink, PROV and landing came later).
ISSUE_STAGES = frozenset(STAGES) - {"datalink", "provenance", "landing"}


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class RssSampler:
    """Highest VmRSS seen by a background thread (10 ms period) between start and stop, overall and per stage."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.peak = 0.0
        self.stage = ""
        self.per_stage: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        """Record the current VmRSS (also called at stage boundaries)."""
        rss = _rss_mb()
        self.peak = max(self.peak, rss)
        if self.stage:
            self.per_stage[self.stage] = max(self.per_stage.get(self.stage, 0.0), rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.period)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _timed(seconds: dict[str, float], name: str, fn: Callable[[], Any], rss: RssSampler | None = None) -> Any:
    if rss is not None:
        rss.stage = name
        rss.sample()
    start = time.perf_counter()
    out = fn()
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
    if rss is not None:
        rss.sample()
        rss.stage = ""
    return out


def _sizes(directory: pathlib.Path) -> dict[str, int]:
    out = {"parquet": 0, "votable": 0, "moc": 0, "tap": 0, "other": 0}
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(directory).as_posix()
        size = path.stat().st_size
        if rel.endswith(".parquet"):
            out["parquet"] += size
        elif rel.endswith(".vot"):
            out["votable"] += size
        elif rel.startswith("moc/"):
            out["moc"] += size
        elif rel.startswith("tap/"):
            out["tap"] += size
        else:
            out["other"] += size
    return out


def datalink_floor_seconds(snapshot_dir: pathlib.Path, directory: pathlib.Path) -> float:
    """Bare writes of a snapshot's DataLink documents: the same bytes, one ``open``/``write`` per file.

    The floor of the per-dataset files any static DataLink layout must create (read into memory first,
    not timed; folders made before the clock starts).
    """
    documents = {}
    top = str(snapshot_dir) + os.sep
    for dirpath, _dirs, files in os.walk(snapshot_dir / "datalink"):
        for name in files:
            if name.endswith(".xml"):
                path = os.path.join(dirpath, name)
                with open(path, "rb") as handle:
                    documents[str(directory / path.removeprefix(top))] = handle.read()
    for folder in {p.rpartition(os.sep)[0] for p in documents}:
        os.makedirs(folder, exist_ok=True)
    start = time.perf_counter()
    for path, content in documents.items():
        with open(path, "wb") as handle:
            handle.write(content)
    return time.perf_counter() - start


def floor_seconds(
    tables: dict[str, Any], frames: dict[str, Any], directory: pathlib.Path, *, published_orders: bool = False
) -> dict[str, float]:
    """Bare pyarrow Parquet writes of every table + bare mocpy MOC builds of the MOC tables' rows.

    The MOCs are built at space order 10 and time order 31 (the fixed orders before issue 13), or with
    ``published_orders`` at the orders ``models.moc.choose_orders`` gives each table and facility.
    """
    import astropy.units as u
    import numpy as np
    import pyarrow.parquet as pq
    from astropy.time import Time
    from mocpy import MOC, TimeMOC

    from models.regions import parse_stcs
    from models.snapshot import MOC_TABLES

    out: dict[str, float] = {}
    start = time.perf_counter()
    for name, table in tables.items():
        pq.write_table(table, directory / f"floor-{name}.parquet", compression="zstd")
    out["parquet"] = time.perf_counter() - start
    start = time.perf_counter()
    for name in MOC_TABLES:
        frame = frames[name]
        for _, rows in frame.groupby(frame["facility_name"].fillna("unknown"), sort=True):
            space, time_order = 10, 31
            if published_orders:
                from models.moc import choose_orders

                orders = choose_orders(rows["s_region"], rows["t_min"], rows["t_max"], rows["s_resolution"])
                space, time_order = orders.space, orders.time
            parsed = parse_stcs(rows["s_region"])
            parts = []
            circles = np.flatnonzero(parsed.is_circle)
            if len(circles):
                cones = np.unique(np.column_stack([parsed.ra, parsed.dec, parsed.radius])[circles], axis=0)
                parts.append(
                    MOC.from_cones(
                        lon=cones[:, 0] * u.deg,
                        lat=cones[:, 1] * u.deg,
                        radius=cones[:, 2] * u.deg,
                        max_depth=space,
                        union_strategy="large_cones",
                        delta_depth=2,
                    )
                )
            for _, v_ra, v_dec in parsed.polygon_groups():
                for lo in range(0, len(v_ra), 5000):
                    lonlat = np.empty((2 * len(v_ra[lo : lo + 5000]), v_ra.shape[1]))
                    lonlat[0::2], lonlat[1::2] = v_ra[lo : lo + 5000], v_dec[lo : lo + 5000]
                    batch = MOC.from_polygons(lonlat, max_depth=space)
                    parts.append(batch[0].union(*batch[1:]) if len(batch) > 1 else batch[0])
            if len(parts) > 1:
                parts[0].union(*parts[1:])
            timed = rows.dropna(subset=["t_min", "t_max"])
            if len(timed):
                TimeMOC.from_time_ranges_approx(
                    Time(timed["t_min"].to_numpy(), format="mjd", scale="utc"),
                    Time(timed["t_max"].to_numpy(), format="mjd", scale="utc"),
                    order=time_order,
                )
    out["mocs"] = time.perf_counter() - start
    if published_orders:
        out["stmocs"] = stmoc_floor_seconds(frames)
    return out


def stmoc_floor_seconds(frames: dict[str, Any]) -> float:
    """The mocpy call that builds the space-time MOCs the snapshot publishes, at the published orders.

    Per MOC table and facility: ``STMOC.from_spatial_coverages`` on the time runs ``models.moc`` gives
    it, with one MOC per distinct footprint. Only that call is timed: the footprint MOCs (``MOC.from_cones``
    without union, ``MOC.from_polygons`` in batches of 5,000) and the grouping of rows into footprints
    and time runs are built untimed, so the term is a strict floor (the space MOCs' footprints are
    already timed once, united, in :func:`floor_seconds`).
    """
    import astropy.units as u
    import numpy as np
    from mocpy import MOC

    from models.moc import (
        _check_times,
        _fromiter,
        _stmoc_from_entries,
        _tcb_ranges,
        choose_orders,
        distinct_footprints,
        merged_time_entries,
    )
    from models.snapshot import MOC_TABLES

    seconds = 0.0
    for name in MOC_TABLES:
        frame = frames[name]
        for _, rows in frame.groupby(frame["facility_name"].fillna("unknown"), sort=True):
            orders = choose_orders(rows["s_region"], rows["t_min"], rows["t_max"], rows["s_resolution"])
            footprints = distinct_footprints(rows["s_region"])
            lo = rows["t_min"].to_numpy(dtype="float64", na_value=np.nan)
            hi = rows["t_max"].to_numpy(dtype="float64", na_value=np.nan)
            use = _check_times(lo, hi) & (footprints.codes >= 0)
            if not use.any():
                continue
            entries = merged_time_entries(footprints.codes[use], *_tcb_ranges(lo[use], hi[use]), orders.time)
            parsed = footprints.parsed
            mocs = np.full(len(parsed), None, dtype=object)
            circles = np.flatnonzero(parsed.is_circle & ~parsed.is_null)
            if len(circles):
                mocs[circles] = _fromiter(
                    MOC.from_cones(
                        lon=parsed.ra[circles] * u.deg,
                        lat=parsed.dec[circles] * u.deg,
                        radius=parsed.radius[circles] * u.deg,
                        max_depth=orders.space,
                        delta_depth=2,
                    )
                )
            for where, v_ra, v_dec in parsed.polygon_groups():
                for lo_at in range(0, len(v_ra), 5000):
                    lonlat = np.empty((2 * len(v_ra[lo_at : lo_at + 5000]), v_ra.shape[1]))
                    lonlat[0::2], lonlat[1::2] = v_ra[lo_at : lo_at + 5000], v_dec[lo_at : lo_at + 5000]
                    mocs[where[lo_at : lo_at + 5000]] = _fromiter(MOC.from_polygons(lonlat, max_depth=orders.space))
            start = time.perf_counter()
            _stmoc_from_entries(*entries, mocs, orders.time, orders.space)
            seconds += time.perf_counter() - start
    return seconds


def _sources(harvest: dict[str, Any], date: dt.date) -> dict[str, Any]:
    """Manifest facts of the generated sources: per source its collections, rows and one response record.

    The generated harvest has no raw archive; each source is described by one response (a
    ``urn:x-voharvest:bench:<source>`` location and the SHA-256 of that name), as a harvested source
    with a single request is, so that row provenance and the PROV record have their real shape.
    """
    import hashlib

    out: dict[str, Any] = {}
    for source, frame in harvest.items():  # a handful of sources
        name = f"urn:x-voharvest:bench:{source}"
        out[source] = {
            "facility": str(frame["facility_name"].iloc[0]) if len(frame) else source,
            "tables": ["obsplan"],
            "rows": {"obsplan": len(frame)},
            "obs_collections": sorted(frame["obs_collection"].astype(str).unique()),
            "responses": [
                {
                    "name": "schedule",
                    "url": name,
                    "method": "GET",
                    "key": f"bench-{source}",
                    "status": 200,
                    "sha256": hashlib.sha256(name.encode()).hexdigest(),
                    "size": 0,
                    "fetched_at": f"{date.isoformat()}T00:00:00+00:00",
                }
            ],
        }
    return out


def publish_day(
    root: pathlib.Path,
    harvest: dict[str, Any],
    date: dt.date,
    as_of: float,
    rss: RssSampler,
    history: Any = None,
) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
    """One publication into ``root`` (with whatever ``root`` already holds), every stage timed.

    ``history`` (a previous day's ``obsplan_history`` frame held in memory) stands for the previous
    snapshot's history when ``root`` holds no previous snapshot: everything is then built, nothing reused.

    The stages are the functions ``models.snapshot.stage_snapshot`` calls, in its order: DataLink
    documents, row provenance, tables, history, changelog, MOCs, TAP kit, PROV record, landing page and
    manifest, with the previous published snapshot's files reused where unchanged (the raw archive is
    not exported: the generated harvest has none).

    Returns
    -------
    tuple
        Seconds per stage, facts (status, reuse, counts, sizes) and the frames published.
    """
    import pyarrow.parquet as pq

    from models import snapshot
    from models.arrow import to_frame
    from models.compose import compose
    from models.datalink import datalink_access, start_snapshot_datalinks
    from models.datalink import manifest_entry as datalink_manifest_entry
    from models.durable import flush_early
    from models.history import change_counts, changes_document
    from models.history_store import HISTORY_TABLE, read_previous_history, write_history
    from models.landing import write_landing_page
    from models.provenance import read_previous_row_provenance, row_provenance, write_provenance
    from models.tap_kit import write_tap_kit
    from models.validate import validate

    seconds: dict[str, float] = {}
    previous = snapshot.previous_snapshot(root, date)
    previous_manifest = None if previous is None else snapshot.read_manifest(previous)
    prev_history = (
        history if previous is None else _timed(seconds, "read_previous", lambda: read_previous_history(previous), rss)
    )
    del history
    prev_obscore = None
    if previous is not None and snapshot.written_by_this_code(previous_manifest):
        prev_obscore = _timed(
            seconds,
            "read_previous",
            lambda: {n: to_frame(pq.read_table(previous / f"{n}.parquet")) for n in ("obscore", "obscore_hea")},
            rss,
        )
    frames = _timed(
        seconds,
        "compose",
        lambda h=prev_history, o=prev_obscore: compose(
            {k: {"obsplan": f} for k, f in harvest.items()}, h, None, date, as_of, previous_obscore=o
        ),
        rss,
    )
    del prev_history, prev_obscore
    counts = dict(frames["obsplan_history"].attrs.get("reconcile_counts", {}))
    found = _timed(
        seconds,
        "validate",
        lambda: {n: validate(f, snapshot.SNAPSHOT_TABLES[n], as_of=as_of) for n, f in frames.items()},
        rss,
    )
    bad = {n: [v.message for v in vs] for n, vs in found.items() if vs}
    if bad:
        raise SystemExit(f"generated rows fail validation: {json.dumps(bad)[:2000]}")
    stage = snapshot.new_staging(root, date)
    sources = _sources(harvest, date)
    facts = {"snapshot": date.isoformat(), "code_version": snapshot.code_version(), "sources": sources}
    reused: list[str] = []
    # as stage_snapshot: unchanged documents linked in the background, waited for after the manifest (the
    # "datalink" stage is the time the publication spends in it, start and wait)
    pending_links = _timed(
        seconds,
        "datalink",
        lambda: start_snapshot_datalinks(
            stage,
            frames["obscore"],
            frames["obscore_hea"],
            None,
            previous=previous,
            reuse_documents=snapshot.written_by_this_code(previous_manifest),
        ),
        rss,
    )
    flush_early()  # as stage_snapshot: the documents written so far flushed while the tables are made
    frames["obscore"] = datalink_access(frames["obscore"], None)  # no public base URL: unchanged
    previous_rows = _timed(seconds, "read_previous", lambda: read_previous_row_provenance(previous, sources), rss)
    frames["row_provenance"] = _timed(
        seconds,
        "provenance",
        lambda: row_provenance(frames["obsplan"], frames["obscore"], facts, previous_rows, frames["obsplan_history"]),
        rss,
    )
    known: dict[str, Any] = {}  # hashed while written, as in stage_snapshot
    entries: dict[str, Any] = {}
    for name in snapshot.SNAPSHOT_ORDER:
        if name not in frames:
            continue
        if name == HISTORY_TABLE:
            written = _timed(
                seconds,
                "history",
                lambda: write_history(stage, frames[HISTORY_TABLE], date, previous, previous_manifest),
                rss,
            )
            history_written = dict(written.written_rows)
        else:
            written = _timed(
                seconds,
                "tables",
                lambda n=name: snapshot.write_table_reusing(
                    stage,
                    n,
                    frames[n],
                    votable=n in snapshot.VOTABLE_TABLES,
                    previous=previous,
                    previous_manifest=previous_manifest,
                ),
                rss,
            )
        entries[name] = written.entry
        known.update(written.files)
        reused += written.reused
    flush_early()  # as stage_snapshot: the tables flushed while the MOCs are made
    document = changes_document(frames["changes"], date, None if previous is None else previous.name, as_of)
    _timed(seconds, "changes", lambda: snapshot.write_changes(stage, frames["changes"], document), rss)
    entries["changes"] = {"table": "voharvest.changes", "rows": len(frames["changes"]), "files": ["changes.parquet"]}
    tool = f"voharvest {snapshot.code_version()}"
    mocs = _timed(
        seconds,
        "mocs",
        lambda: snapshot.write_mocs_reusing(
            stage,
            {n: frames[n] for n in snapshot.MOC_TABLES},
            tool,
            previous=previous,
            previous_manifest=previous_manifest,
        ),
        rss,
    )
    known.update(mocs.reused)
    reused += list(mocs.reused)
    tap = _timed(seconds, "tap_kit", lambda: write_tap_kit(stage, [snapshot.SNAPSHOT_TABLES[n] for n in entries]), rss)
    document = {
        "snapshot": date.isoformat(),
        "as_of_mjd": as_of,
        "code_version": snapshot.code_version(),
        "code_digest": snapshot.code_digest(),
        "previous_snapshot": None if previous is None else previous.name,
        "tables": entries,
        "changes": change_counts(frames["changes"]),
        "mocs": mocs.files,
        "mocs_omitted": mocs.omitted,
        "moc_inputs": mocs.inputs,
        "tap": tap,
        "sources": sources,
        "datalink": datalink_manifest_entry(pending_links.files, None, None),
        "validation": {"violations": [], "checks": "all blocking checks passed"},
    }
    files = _timed(seconds, "manifest", lambda: snapshot.file_entries(stage, known), rss)  # hashed once
    document["provenance"] = _timed(
        seconds,
        "provenance",
        lambda: write_provenance(stage, document, files),
        rss,
    )
    files = _timed(seconds, "manifest", lambda: snapshot.file_entries(stage, files), rss)  # the PROV files only
    _timed(
        seconds,
        "landing",
        lambda: write_landing_page(stage, {**document, "files": files}, frames, frames["changes"]),
        rss,
    )
    _timed(seconds, "manifest", lambda: snapshot.write_manifest(stage, document, known=files), rss)
    _timed(seconds, "datalink", lambda: pending_links.wait(linked=reused), rss)
    published = _timed(seconds, "publish", lambda: snapshot.publish_snapshot(stage, root, date, trusted=reused), rss)
    sizes = _sizes(published.path)  # after the clock (and after the background links: nothing runs meanwhile)
    files = snapshot.listed_files(published.path, snapshot.read_manifest(published.path))
    facts = {
        "status": published.status,
        "files": len(files),
        "reused_files": len(reused),
        "reconcile": counts,
        "history_rows_written": history_written,
        "table_rows": {k: v["rows"] for k, v in entries.items()},
        "moc_files": len(mocs.files),
        "sizes_bytes": sizes,
    }
    return seconds, facts, frames


def run_day(day: str, work: pathlib.Path, root: pathlib.Path) -> dict[str, Any]:
    """One publication of :func:`run` in this (fresh) process: its inputs read from ``work``, then timed.

    A real publication is one process holding one day's harvest; so is this one, and its peak RSS is
    that of such a process (interpreter, libraries, the day's inputs and the publication).
    """
    import gc
    import pickle

    plan = json.loads((work / "days.json").read_text())[day]
    with open(work / plan["harvest"], "rb") as handle:
        harvest = pickle.load(handle)  # noqa: S301 - written by run() of this benchmark
    history = None
    if plan["history"]:
        with open(work / plan["history"], "rb") as handle:
            history = pickle.load(handle)  # noqa: S301 - written by run() of this benchmark
    gc.collect()
    with RssSampler() as rss:
        seconds, facts, _frames = publish_day(
            root, harvest, dt.date.fromisoformat(plan["date"]), plan["as_of"], rss, history
        )
    return {
        "stages_s": {k: round(seconds.get(k, 0.0), 3) for k in STAGES},
        "total_s": round(sum(seconds.values()), 3),
        "peak_rss_mb": round(rss.peak, 1),
        "stage_rss_mb": {k: round(v, 1) for k, v in rss.per_stage.items()},
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **facts,
    }


def _published_frames(snapshot_dir: pathlib.Path) -> dict[str, Any]:
    """The tables of a published snapshot as frames (the floor is measured on the same rows)."""
    import pyarrow.parquet as pq

    from models.arrow import to_frame
    from models.history_store import HISTORY_TABLE, read_history
    from models.snapshot import read_manifest

    out = {}
    for name in read_manifest(snapshot_dir)["tables"]:
        if name == HISTORY_TABLE:
            out[name] = to_frame(read_history(snapshot_dir))
        else:
            out[name] = to_frame(pq.read_table(snapshot_dir / f"{name}.parquet"))
    return out


def run(rows: int, changes: int, keep: pathlib.Path | None = None) -> dict[str, Any]:
    """Publish three days of ``rows`` obsplan rows into one root; returns the figures.

    ``full``: the day before, ``changes`` observations changed against the history of the day before
    that, into an empty root: every file built, as before issue 13's storage. ``daily``: the day,
    ``changes`` observations changed, with the full day's snapshot to reuse from. ``nochange``: the
    next day with the same rows. The inputs are generated here and written to disk; each day is then
    published by a fresh process (:func:`run_day`), as a daily run would be.
    """
    import gc
    import pickle
    import shutil

    from benchmarks import schedules
    from models import snapshot
    from models.arrow import conform
    from models.compose import compose

    t0 = time.perf_counter()
    current = schedules.harvest(rows)
    date = schedules.AS_OF_DATE
    as_of = schedules.as_of_mjd()
    # the day before (``changes`` exposures different) and the day before that (as many again): the full
    # publication is the day before, reconciled against the history of the day before that
    before = schedules.previous_harvest(current, changes, seed=1)
    first = schedules.previous_harvest(before, changes, seed=2)
    history = compose(
        {k: {"obsplan": f} for k, f in first.items()}, None, None, date - dt.timedelta(days=2), as_of - 2.0
    )["obsplan_history"]
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench_inputs-", dir=keep))
    for name, value in (("before.pkl", before), ("current.pkl", current), ("history.pkl", history)):
        with open(work / name, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
    plan = {
        "full": {
            "harvest": "before.pkl",
            "history": "history.pkl",
            "date": date - dt.timedelta(days=1),
            "as_of": as_of - 1,
        },
        "daily": {"harvest": "current.pkl", "history": None, "date": date, "as_of": as_of},
        "nochange": {
            "harvest": "current.pkl",
            "history": None,
            "date": date + dt.timedelta(days=1),
            "as_of": as_of + 1,
        },
    }
    (work / "days.json").write_text(json.dumps(plan, default=str))
    del first, before, current, history
    gc.collect()
    generate_s = time.perf_counter() - t0

    root = pathlib.Path(tempfile.mkdtemp(prefix="bench_publish-", dir=keep))
    days: dict[str, Any] = {}
    for day in DAYS:
        cmd = [sys.executable, __file__, "--day", day, "--work", str(work), "--root", str(root)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
        if proc.returncode:
            raise SystemExit(f"day {day} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        days[day] = json.loads(proc.stdout.strip().splitlines()[-1])
    floor_dir = pathlib.Path(tempfile.mkdtemp(prefix="floor-", dir=keep))
    frames = _published_frames(root / "snapshots" / date.isoformat())  # the floor: the daily snapshot's rows
    tables = {n: conform(f, snapshot.SNAPSHOT_TABLES[n]) for n, f in frames.items()}
    floor = floor_seconds(tables, frames, floor_dir)
    floor_total = sum(floor.values())
    same = floor_seconds(tables, frames, floor_dir, published_orders=True)
    same_total = sum(same.values())
    datalink_files = datalink_floor_seconds(root / "snapshots" / date.isoformat(), floor_dir / "dl")
    full = days["full"]["total_s"]
    issue_stages = sum(v for k, v in days["full"]["stages_s"].items() if k in ISSUE_STAGES)
    result = {
        "rows": rows,
        "changes": changes,
        "generate_s": round(generate_s, 3),
        "days": days,
        "total_s": full,
        "floor_s": {k: round(v, 3) for k, v in floor.items()},
        "floor_total_s": round(floor_total, 3),
        "ratio": round(full / floor_total, 2),
        "floor_published_orders_s": {k: round(v, 3) for k, v in same.items()},
        "ratio_published_orders": round(full / same_total, 2),
        # the stages issue 13 names (no DataLink documents, PROV or landing page: later issues) against floor*
        "issue_stages_s": round(issue_stages, 3),
        "ratio_issue_stages": round(issue_stages / same_total, 2),
        # as in earlier runs: floor* without the space-time MOCs' mocpy calls
        "ratio_issue_stages_without_stmocs": round(issue_stages / (same_total - same["stmocs"]), 2),
        # every stage against floor* plus bare writes of the same DataLink documents
        "floor_datalink_files_s": round(datalink_files, 3),
        "ratio_every_stage": round(full / (same_total + datalink_files), 2),
        "daily_over_full": round(days["daily"]["total_s"] / full, 3),
        "nochange_over_full": round(days["nochange"]["total_s"] / full, 3),
        "peak_rss_mb": max(d["peak_rss_mb"] for d in days.values()),
        "ru_maxrss_mb": max(d["ru_maxrss_mb"] for d in days.values()),
        "load_average": round(os.getloadavg()[0], 2),
    }
    if keep is None:  # with --keep, the inputs stay too: a day can be published again (--day, --work, --root)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(floor_dir, ignore_errors=True)
    return result


def _print_table(result: dict[str, Any]) -> None:
    mb = 1e6
    days = result["days"]
    print(f"\n{result['rows']:,} obsplan rows ({result['changes']} changed; load average {result['load_average']})")
    print(f"{'stage':<14} " + " ".join(f"{d:>9} {'RSS MB':>7}" for d in DAYS))
    for name in STAGES:
        cells = [f"{days[d]['stages_s'][name]:9.2f} {days[d]['stage_rss_mb'].get(name, 0.0):7.0f}" for d in DAYS]
        print(f"{name:<14} " + " ".join(cells))
    print(f"{'total':<14} " + " ".join(f"{days[d]['total_s']:9.2f} {days[d]['peak_rss_mb']:7.0f}" for d in DAYS))
    print(f"{'reused files':<14} " + " ".join(f"{days[d]['reused_files']:>9} {days[d]['files']:>7}" for d in DAYS))
    floor = result["floor_s"]
    print(
        f"floor {result['floor_total_s']:.2f} s (parquet {floor['parquet']:.2f} + mocpy {floor['mocs']:.2f}); "
        f"ratio {result['ratio']:.2f}"
    )
    same = result["floor_published_orders_s"]
    print(
        f"floor* {sum(same.values()):.2f} s (mocpy at the published orders: space and time {same['mocs']:.2f}, "
        f"space-time {same['stmocs']:.2f}); ratio* {result['ratio_published_orders']:.2f}"
    )
    print(
        f"issue 13's stages (no DataLink, PROV, landing) {result['issue_stages_s']:.2f} s: "
        f"ratio to floor* {result['ratio_issue_stages']:.2f} (to floor* without space-time MOCs, as before: "
        f"{result['ratio_issue_stages_without_stmocs']:.2f}); every stage against floor* + bare writes of the "
        f"DataLink documents ({result['floor_datalink_files_s']:.2f} s): {result['ratio_every_stage']:.2f}"
    )
    print(f"daily / full {result['daily_over_full']:.3f}, no-change / full {result['nochange_over_full']:.3f}")
    print(
        f"reconcile (daily): {days['daily']['reconcile']}; "
        f"history rows written: {days['daily']['history_rows_written']}"
    )
    print(
        f"peak RSS {result['peak_rss_mb']:.0f} MB during the stages, ru_maxrss {result['ru_maxrss_mb']:.0f} MB "
        "(each day in a fresh process holding its inputs)"
    )
    sizes = days["full"]["sizes_bytes"]
    print("sizes MB (full): " + ", ".join(f"{k} {v / mb:.1f}" for k, v in sizes.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--keep", type=pathlib.Path, help="write the snapshots under this directory and keep them")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--day", choices=DAYS, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=pathlib.Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.day:
        print(json.dumps(run_day(args.day, args.work, args.root)))
        return
    if args.child:
        print(json.dumps(run(args.rows[0], args.changes, args.keep)))
        return
    for rows in args.rows:
        cmd = [sys.executable, __file__, "--child", "--rows", str(rows), "--changes", str(args.changes)]
        if args.keep:
            cmd += ["--keep", str(args.keep)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
        if proc.returncode:
            print(proc.stdout[-4000:], proc.stderr[-4000:], file=sys.stderr)
            raise SystemExit(proc.returncode)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        _print_table(result)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
