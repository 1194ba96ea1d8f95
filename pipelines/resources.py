"""Dagster resources: where raw bytes come from (live or replay) and where outputs go.

Both are configured, never subclassed per environment: ``FetcherResource(replay_dir=...)`` replays a
raw archive, ``FetcherResource()`` fetches live into ``<archive_root>/<date>/``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from models import snapshot
from scrapers.archive import RawArchive
from scrapers.base import Request
from scrapers.fetch import Fetcher, HttpFetcher, ReplayFetcher
from scrapers.registry import redirect_hosts

#: Work area under the output root: each source's latest IVOA frames per snapshot date.
WORK = ".work"
_META = "source.json"


class FetcherResource(dg.ConfigurableResource):
    """Live HTTP fetching into a dated raw archive, or replay from an archive directory.

    A live page cannot be fetched for another day, so live mode fetches only today's (UTC)
    partition; another date is replayed from its raw archive ``<archive_root>/<date>/`` when a
    live harvest left one (how backfills work), and refused otherwise.
    """

    replay_dir: str | None = None
    archive_root: str = "raw_archive"

    @property
    def is_replay(self) -> bool:
        """Whether requests are answered from an archive."""
        return self.replay_dir is not None

    def archive_for(self, date: dt.date) -> RawArchive:
        """The raw archive holding (or receiving) the bytes of ``date``."""
        if self.replay_dir is not None:
            return RawArchive(self.replay_dir)
        return RawArchive(Path(self.archive_root) / date.isoformat())

    @contextmanager
    def open(self, date: dt.date) -> Iterator[Fetcher]:
        """A fetcher for ``date`` (closed on exit); refuses dates it cannot serve."""
        if self.replay_dir is not None:
            fetcher = ReplayFetcher(self.replay_dir)
            if fetcher.as_of is not None and fetcher.as_of != date:
                raise dg.Failure(
                    f"replay archive {self.replay_dir} is for {fetcher.as_of.isoformat()}, not {date.isoformat()}"
                )
            yield fetcher
            return
        today = dt.datetime.now(dt.UTC).date()  # the pipeline layer may read the clock; parsers never do
        kept = self.archive_for(date)
        if date != today and kept.root.is_dir() and kept.as_of == date:
            # a past date whose live harvest left its raw archive: replayed (UI backfills, `voharvest backfill`)
            yield ReplayFetcher(kept.root)
            return
        if date != today:
            raise dg.Failure(
                f"live harvest of {date.isoformat()} refused: pages can only be fetched for today "
                f"({today.isoformat()}); replay that date's raw archive instead "
                f"(--replay {Path(self.archive_root) / date.isoformat()})"
            )
        archive = self.archive_for(date)
        if archive.as_of is None:
            archive.set_as_of(date)
        with HttpFetcher(archive, redirect_hosts=redirect_hosts()) as live:
            yield live


def _request_json(request: Request) -> dict[str, Any]:
    return dataclasses.asdict(request)


def request_from_json(entry: dict[str, Any]) -> Request:
    """Inverse of the request description kept in the work area."""
    fields = dict(entry)
    fields["params"] = tuple(tuple(p) for p in fields.get("params", ()))
    fields["data"] = tuple(tuple(p) for p in fields.get("data", ()))
    return Request(**fields)


class OutputStore(dg.ConfigurableResource):
    """The output root: published snapshots, ``latest``, staging and the per-source work area.

    ``force`` allows replacing an already published date whose content differs (snapshots are
    otherwise immutable). ``public_base_url`` is the URL the publish root is served at
    (``--public-base-url`` / ``$VOHARVEST_PUBLIC_BASE_URL``): DataLink documents and ObsCore
    ``access_url`` of event lists then point at ``<it>/snapshots/<date>/datalink/...``; unset, the
    documents are still written and the TAP kit serves them (``models.dachs``).
    """

    root: str = "output"
    force: bool = False
    #: Rebuild even when the raw inputs are byte-identical to the published snapshot's (``harvest --rebuild``).
    rebuild: bool = False
    public_base_url: str | None = None

    @property
    def path(self) -> Path:
        """The output root as a path."""
        return Path(self.root)

    def work_dir(self, date: dt.date) -> Path:
        """Work area of one snapshot date."""
        return self.path / WORK / date.isoformat()

    def write_source(
        self, date: dt.date, source: str, frames: dict[str, pd.DataFrame], meta: dict[str, Any], requests: list[Request]
    ) -> Path:
        """Replace a source's frames for ``date`` (written aside, then swapped in)."""
        final = self.work_dir(date) / source
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{source}.", dir=final.parent))
        try:
            for name, frame in sorted(frames.items()):
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
            document = {**meta, "tables": sorted(frames), "requests": [_request_json(r) for r in requests]}
            (tmp / _META).write_bytes(snapshot.dumps(document))
            if final.exists():
                old = final.with_name(f".{source}.old.{os.getpid()}")
                os.rename(final, old)
                os.rename(tmp, final)
                shutil.rmtree(old)
            else:
                os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def read_sources(self, date: dt.date) -> dict[str, tuple[dict[str, pd.DataFrame], dict[str, Any]]]:
        """Every source's frames and metadata harvested for ``date``, by source name."""
        base = self.work_dir(date)
        out: dict[str, tuple[dict[str, pd.DataFrame], dict[str, Any]]] = {}
        if not base.is_dir():
            return out
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            meta = json.loads((folder / _META).read_text())
            frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in meta["tables"]}
            out[folder.name] = (frames, meta)
        return out

    def previous(self, date: dt.date) -> Path | None:
        """The newest published snapshot before ``date``."""
        return snapshot.previous_snapshot(self.path, date)

    def previous_manifest(self, date: dt.date) -> dict[str, Any] | None:
        """Manifest of the previous snapshot, if any."""
        prev = self.previous(date)
        return None if prev is None else snapshot.read_manifest(prev)
