"""Assets by layer: ``raw/<source>_raw`` -> ``core/<source>_core`` -> ``out/ivoa/*`` -> ``out/publish/snapshot``.

Dagster labels a box of the lineage graph with the last part of its asset key only (there is no
display name in Dagster 1.13), so the per-source keys end in ``<source>_<layer>``: every box names its
source, and the label stays within the 18 characters the zoomed-out graph shows untruncated.

Assets only wire pure functions of :mod:`scrapers` and :mod:`models` together and move bytes
between resources; parsing, reconciliation and publication rules live there.
"""

import datetime as dt
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from models import snapshot, unchanged
from models.arrow import conform, to_frame
from models.compose import OBSCORE_TABLES, SOURCE_TABLES, as_of_mjd, carry_over, compose, source_collections
from models.durable import RootLocked
from models.history import change_counts
from models.history_store import read_previous_history
from models.parquet import read_parquet
from models.timeutil import mjd_from_datetime
from pipelines.checks import (
    drift_check_results,
    drift_check_specs,
    spec_check_results,
    spec_check_specs,
    table_schema,
)
from pipelines.partitions import SNAPSHOT_DAYS, freshness_window, partition_date
from pipelines.resources import FetcherResource, OutputStore, request_from_json
from scrapers.archive import RawArchive, record_entry
from scrapers.base import RawRecord, Request, Source, SourceError
from scrapers.drift import drift_findings, row_counts
from scrapers.fetch import FetchError, ReplayFetcher

#: Tables of the IVOA layer, in publication order.
OUT_TABLES = ("obsplan", "obsplan_history", "changes", *OBSCORE_TABLES)
#: Dagster retries of a fetch that failed in a retryable way (after the fetcher's own retries).
FETCH_RETRIES = 2
FETCH_RETRY_WAIT_S = 60


#: Layers of the per-source assets (also their asset groups and the first part of their keys).
SOURCE_LAYERS = ("raw", "core")


def source_key(layer: str, name: str) -> dg.AssetKey:
    """Asset key of one source's asset in ``layer``: ``raw/nustar_raw``, ``core/nustar_core``.

    Parameters
    ----------
    layer
        ``raw`` (the archived responses) or ``core`` (the parsed, normalised IVOA frames).
    name
        The source's registry name.

    Returns
    -------
    dagster.AssetKey
        ``[layer, f"{name}_{layer}"]``: the first part groups the keys by layer (asset catalog,
        ``key:"raw/*"`` selections); the last part, the one the lineage graph prints on the box,
        names the source.
    """
    if layer not in SOURCE_LAYERS:
        raise ValueError(f"layer {layer!r}: expected one of {SOURCE_LAYERS}")
    return dg.AssetKey([layer, f"{name}_{layer}"])


def raw_key(source: Source) -> dg.AssetKey:
    """Asset key of a source's raw responses (``raw/<source>_raw``)."""
    return source_key("raw", source.name)


def core_key(source: Source) -> dg.AssetKey:
    """Asset key of a source's IVOA frames (``core/<source>_core``)."""
    return source_key("core", source.name)


def out_key(table: str) -> dg.AssetKey:
    """Asset key of an IVOA-layer table."""
    return dg.AssetKey(["out", "ivoa", table])


PUBLISH_KEY = dg.AssetKey(["out", "publish", "snapshot"])
PROVENANCE_KEY = out_key("provenance")


def pool_name(source: Source) -> str:
    """Concurrency pool of a source's fetches: its (first) remote host."""
    return source.hosts[0] if source.hosts else source.name


def _as_of(records: list[RawRecord], date: dt.date) -> dt.datetime:
    """When the source was looked at: its latest fetch time (never before the snapshot date)."""
    start = dt.datetime.combine(date, dt.time(0, 0), tzinfo=dt.UTC)
    return max([start, *(r.fetched_at.astimezone(dt.UTC) for r in records)])


def build_raw_asset(source: Source) -> dg.AssetsDefinition:
    """Fetch (or replay) every request of ``source`` for the partition's date into the raw archive."""

    @dg.asset(
        key=raw_key(source),
        partitions_def=SNAPSHOT_DAYS,
        group_name="raw",
        kinds={"http", source.name},
        tags={"source": source.name},
        pool=pool_name(source),
        description=(
            f"{source.facility}: raw responses of {source.name} ({source.description or source.facility}), "
            "archived byte for byte "
            f"in the dated raw archive. Hosts: {', '.join(source.hosts)}. Retryable fetch failures are retried "
            f"{FETCH_RETRIES} times by Dagster after the fetcher's own retries."
        ),
        metadata={"hosts": list(source.hosts), "cron": source.cron or "archive-only"},
    )
    def _raw(context: dg.AssetExecutionContext, fetcher: FetcherResource) -> dg.MaterializeResult:
        date = partition_date(context)
        requests = source.requests(date)
        records: list[RawRecord] = []
        with fetcher.open(date) as client:
            for request in requests:  # a handful of pages per source
                try:
                    records.append(client.fetch(request))
                except FetchError as exc:
                    if exc.retryable:
                        raise dg.RetryRequested(max_retries=FETCH_RETRIES, seconds_to_wait=FETCH_RETRY_WAIT_S) from exc
                    raise dg.Failure(description=f"fetch failed: {exc}") from exc
                except SourceError as exc:  # the raw archive cannot be read or written (ArchiveError)
                    where = fetcher.archive_for(date).record_path(request)
                    raise dg.Failure(description=f"{exc} (archive record {where})") from exc
        listing = [
            {k: e[k] for k in ("name", "url", "status", "sha256", "size", "fetched_at")}
            for e in map(record_entry, records)
        ]
        return dg.MaterializeResult(
            metadata={
                "requests": len(records),
                "bytes": sum(len(r.content) for r in records),
                "archive": dg.MetadataValue.path(str(fetcher.archive_for(date).root)),
                "responses": dg.MetadataValue.json(listing),
            }
        )

    return _raw


def _replay(source: Source, archive: RawArchive, requests: list[Request]) -> list[RawRecord]:
    """The archived responses of ``requests``; any archive or recorded fetch failure is a step failure."""
    replay = ReplayFetcher(archive)
    records = []
    for request in requests:
        try:
            records.append(replay.fetch(request))
        except SourceError as exc:  # FetchError, ArchiveError (a broken record, a tampered blob)
            raise dg.Failure(description=f"{exc} (archive record {archive.record_path(request)})") from exc
    return records


def _parse(source: Source, record: RawRecord, archive: RawArchive) -> pd.DataFrame:
    """One response parsed; every failure names source, request, URL and the archive record."""
    request = record.request
    where = f"archive record {archive.record_path(request)}"
    try:
        return source.parse(request.name, record.content, request.url, content_type=record.headers.get("Content-Type"))
    except SourceError as exc:
        raise dg.Failure(description=f"{exc} ({where})") from exc
    except Exception as exc:  # a bug or an unforeseen value: one line with the context, cause chained
        raise dg.Failure(
            description=f"{source.name}: parsing {request.name!r} failed ({type(exc).__name__}: {exc}) "
            f"[{request.url}] ({where})"
        ) from exc


def _freshness(source: Source) -> dg.FreshnessPolicy | None:
    """Fail the asset's freshness when the latest harvest is older than the source's cadence plus grace."""
    window = freshness_window(source)
    return None if window is None else dg.FreshnessPolicy.time_window(fail_window=window)


def build_core_asset(source: Source) -> dg.AssetsDefinition:
    """Parse and normalise a source's raw responses; drift checks gate what reaches the work area."""
    key = core_key(source)

    @dg.asset(
        key=key,
        deps=[raw_key(source)],
        partitions_def=SNAPSHOT_DAYS,
        group_name="core",
        kinds={"pandas", source.name},
        tags={"source": source.name},
        freshness_policy=_freshness(source),
        check_specs=drift_check_specs(key, source),
        description=(
            f"{source.facility}: {source.name} raw bytes parsed ({source.name}.parse) and normalised to IVOA frames "
            f"({source.name}.normalise) as of the latest fetch time; kept in the output root's work area "
            "only when the drift checks pass."
        ),
    )
    def _core(
        context: dg.AssetExecutionContext, fetcher: FetcherResource, store: OutputStore
    ) -> Iterator[dg.MaterializeResult]:
        date = partition_date(context)
        archive = fetcher.archive_for(date)
        requests = source.requests(date)
        records = _replay(source, archive, requests)
        parsed = {r.request.name: _parse(source, r, archive) for r in records}
        as_of = _as_of(records, date)
        try:
            normalised = source.normalise(parsed, as_of)
        except SourceError as exc:
            raise dg.Failure(description=str(exc)) from exc
        except Exception as exc:  # a bug or an unforeseen value: one line with the context, cause chained
            raise dg.Failure(
                description=f"{source.name}: normalise failed ({type(exc).__name__}: {exc}); raw archive {archive.root}"
            ) from exc
        frames = {k: v for k, v in normalised.items() if k in SOURCE_TABLES}
        findings = drift_findings(source, frames, store.previous_manifest(date))
        counts = row_counts(frames)
        if not any(findings.values()):
            meta = {
                "source": source.name,
                "facility": source.facility,
                "as_of": as_of.isoformat(),
                "as_of_mjd": mjd_from_datetime(as_of),
                "archive": str(archive.root.resolve()),
                "rows": counts,
                "obs_collections": source_collections(frames),
            }
            store.write_source(date, source.name, frames, meta, requests)
        yield dg.MaterializeResult(
            metadata={
                "as_of": as_of.isoformat(),
                "rows": dg.MetadataValue.json(counts),
                "dagster/row_count": sum(counts.values()),
            },
            check_results=drift_check_results(key, findings),
        )

    return _core


def _previous_tables(previous: Path | None) -> dict[str, pd.DataFrame]:
    """The previous snapshot's ObsCore tables and what its history is reconciled against (current versions)."""
    if previous is None:
        return {}
    tables = {
        name: to_frame(read_parquet(previous / f"{name}.parquet"))
        for name in OBSCORE_TABLES
        if (previous / f"{name}.parquet").is_file()
    }
    history = read_previous_history(previous)  # history/obsplan_history-current.parquet, never the closed parts
    if history is not None:
        tables["obsplan_history"] = history
    return tables


def build_ivoa_asset(sources: Mapping[str, Source]) -> dg.AssetsDefinition:
    """Unite the harvested sources, reconcile plan history and complete the ObsCore tables."""
    outs = {
        name: dg.AssetOut(
            key=out_key(name),
            group_name="ivoa",
            kinds={"pandas"},
            description=snapshot.SNAPSHOT_TABLES[name].description,
            metadata={"dagster/column_schema": table_schema(snapshot.SNAPSHOT_TABLES[name])},
        )
        for name in OUT_TABLES
    }
    outs["provenance"] = dg.AssetOut(
        key=PROVENANCE_KEY,
        group_name="ivoa",
        kinds={"json"},
        description="Which sources went into the snapshot: as-of times, row counts, requests, raw archives",
    )
    checks = [c for name in OUT_TABLES for c in spec_check_specs(out_key(name), snapshot.SNAPSHOT_TABLES[name])]

    @dg.multi_asset(
        outs=outs,
        deps=[core_key(s) for s in sources.values()],
        partitions_def=SNAPSHOT_DAYS,
        check_specs=checks,
        name="out_ivoa",
    )
    def _ivoa(context: dg.AssetExecutionContext, store: OutputStore) -> Iterator[Any]:
        date = partition_date(context)
        harvested = store.read_sources(date)
        if not harvested:
            raise dg.Failure(description=f"no source harvested for {date.isoformat()}: nothing to publish")
        previous = store.previous(date)
        previous_manifest = None if previous is None else snapshot.read_manifest(previous)
        prev_tables = _previous_tables(previous)
        not_harvested = {
            name: info
            for name, info in sorted((previous_manifest or {}).get("sources", {}).items())
            if name not in harvested
        }
        collections = sorted({c for info in not_harvested.values() for c in info.get("obs_collections", [])})
        when = as_of_mjd([meta["as_of_mjd"] for _, meta in harvested.values()])
        tables = compose(
            {name: frames for name, (frames, _) in harvested.items()},
            prev_tables.get("obsplan_history"),
            carry_over(prev_tables, collections) if collections else None,
            date,
            when,
            # X-ray ObsCore rows of unchanged performed observations come from the previous snapshot
            # when the same code wrote it (models.compose.xray_obscore)
            previous_obscore=prev_tables if snapshot.written_by_this_code(previous_manifest) else None,
        )
        report: list[dict[str, Any]] = []
        for name in OUT_TABLES:
            spec = snapshot.SNAPSHOT_TABLES[name]
            results, violations = spec_check_results(out_key(name), tables[name], spec, as_of=when)
            report += [v.as_dict() for v in violations]
            frame = tables[name] if violations else to_frame(conform(tables[name], spec))
            yield dg.Output(frame, output_name=name, metadata={"dagster/row_count": len(frame)})
            yield from results
        provenance = {
            "snapshot": date.isoformat(),
            "as_of_mjd": when,
            "previous_snapshot": None if previous is None else previous.name,
            "changes": change_counts(tables["changes"]),
            "sources": {
                **{n: {**info, "carried_over_from": previous.name} for n, info in not_harvested.items()},
                **{n: meta for n, (_, meta) in harvested.items()},
            },
            "violations": report,
        }
        yield dg.Output(provenance, output_name="provenance")

    return _ivoa


#: Forward window (days) of the visibility MOCs published in every snapshot (VOHARVEST_VISIBILITY_DAYS).
VISIBILITY_DAYS = 30.0


def _raw_export(raw_dir: Path, sources: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Copy the exact raw records of the harvested sources into ``raw/`` (a replayable archive)."""
    described: dict[str, Any] = {}
    for name, meta in sorted(sources.items()):
        if "requests" not in meta:  # carried over: its raw bytes are in the earlier snapshot
            continue
        archive = RawArchive(meta["archive"])
        requests = [request_from_json(r) for r in meta["requests"]]
        archive.export(raw_dir, requests)
        described[name] = [
            {k: e[k] for k in ("name", "url", "method", "key", "status", "sha256", "size", "fetched_at")}
            for e in (record_entry(ReplayFetcher(archive).fetch(r)) for r in requests)
        ]
    return described


@dg.asset(
    key=PUBLISH_KEY,
    ins={**{name: dg.AssetIn(out_key(name)) for name in OUT_TABLES}, "provenance": dg.AssetIn(PROVENANCE_KEY)},
    partitions_def=SNAPSHOT_DAYS,
    group_name="publish",
    kinds={"parquet", "votable", "fits", "json"},
    description=(
        "The dated, immutable snapshot output/snapshots/<date>/: tables as Parquet + VOTable, obsplan_history, "
        "changes (JSON + VOTable), MOCs per table and facility, the TAP load kit, raw/ (the exact bytes, "
        "replayable) and manifest.json; staged, validated, moved into place with one rename, then latest."
    ),
)
def publish_snapshot(
    context: dg.AssetExecutionContext,
    store: OutputStore,
    obsplan: pd.DataFrame,
    obsplan_history: pd.DataFrame,
    changes: pd.DataFrame,
    obscore: pd.DataFrame,
    obscore_radio: pd.DataFrame,
    obscore_hea: pd.DataFrame,
    provenance: dict[str, Any],
) -> dg.MaterializeResult:
    """Write, validate and atomically publish the partition's snapshot."""
    date = partition_date(context)
    if not (store.force or store.rebuild):  # published from byte-identical raw inputs: write nothing
        inputs = unchanged.inputs_from_provenance(provenance["sources"], lambda r: request_from_json(r).key)
        verdict = (
            None
            if inputs is None
            else unchanged.check_inputs(store.path, date, inputs, public_base_url=store.public_base_url)
        )
        if verdict is not None and verdict.unchanged and verdict.manifest is not None:
            context.log.info(f"snapshot unchanged: {verdict.snapshot} ({verdict.reason})")
            return dg.MaterializeResult(
                metadata={
                    "path": dg.MetadataValue.path(str(verdict.snapshot)),
                    "status": "unchanged",
                    "reason": verdict.reason,
                    "rows": dg.MetadataValue.json({k: v["rows"] for k, v in verdict.manifest["tables"].items()}),
                    "changes": dg.MetadataValue.json(provenance["changes"]),
                }
            )
    tables = {
        "obsplan": obsplan,
        "obscore": obscore,
        "obscore_radio": obscore_radio,
        "obscore_hea": obscore_hea,
        "obsplan_history": obsplan_history,
    }
    try:
        stage = snapshot.stage_snapshot(
            store.path,
            date,
            tables,
            changes,
            {**provenance, "public_base_url": store.public_base_url},
            lambda raw: _raw_export(raw, provenance["sources"]),
            visibility_days=float(os.environ.get("VOHARVEST_VISIBILITY_DAYS", VISIBILITY_DAYS)),
        )
        try:
            published = snapshot.publish_snapshot(stage, store.path, date, force=store.force)
        finally:
            snapshot.discard(stage)
    except (snapshot.SnapshotError, RootLocked) as exc:
        raise dg.Failure(description=str(exc)) from exc
    except OSError as exc:  # disk full, read-only root, permissions
        raise dg.Failure(
            description=f"publication of {date.isoformat()} into {store.path} failed: {exc}; "
            "nothing was published and the previous snapshot is unchanged"
        ) from exc
    entries = snapshot.read_manifest(published.path)["tables"]
    context.log.info(f"snapshot {published.status}: {published.path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(published.path)),
            "status": published.status,
            "rows": dg.MetadataValue.json({k: v["rows"] for k, v in entries.items()}),
            "changes": dg.MetadataValue.json(provenance["changes"]),
        }
    )


def build_assets(sources: Mapping[str, Source]) -> list[dg.AssetsDefinition]:
    """Every asset of the graph for ``sources``."""
    per_source = [a for s in sources.values() for a in (build_raw_asset(s), build_core_asset(s))]
    return [*per_source, build_ivoa_asset(sources), publish_snapshot]
