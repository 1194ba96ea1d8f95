"""The list of harvested sources: one module per source, each exposing ``SOURCE``.

The list is explicit (not discovered) so that a harvest of "all sources" can never silently lose
one: a listed module that cannot be imported is an error naming it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from scrapers.base import Source

#: Source modules under ``scrapers/``, in harvest order.
SOURCE_MODULES: tuple[str, ...] = ("nustar", "xmm_newton", "integral", "eso", "gadf")


class UnknownSource(KeyError):
    """A source name that no registered module defines."""

    def __str__(self) -> str:
        return str(self.args[0])


def _load(module: str) -> Source:
    mod = importlib.import_module(f"scrapers.{module}")
    source = getattr(mod, "SOURCE", None)
    if not isinstance(source, Source):
        raise TypeError(f"scrapers.{module} defines no SOURCE (scrapers.base.Source)")
    return source


def all_sources() -> dict[str, Source]:
    """Every registered source by name (``nustar``, ``xmm_newton``, ..., ``hess_dl3_dr1``)."""
    sources = (_load(m) for m in SOURCE_MODULES)
    return {s.name: s for s in sources}


def select_sources(names: Iterable[str] | None = None) -> dict[str, Source]:
    """The named sources (all when ``names`` is empty or ``None``), in registry order."""
    known = all_sources()
    wanted = list(names or [])
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise UnknownSource(f"unknown source(s) {unknown}; known: {sorted(known)}")
    return {n: s for n, s in known.items() if not wanted or n in wanted}


def redirect_hosts() -> dict[str, tuple[str, ...]]:
    """Per source, the hosts it declares: where the fetcher may follow a redirect to (besides the request's host)."""
    return {name: source.hosts for name, source in all_sources().items()}
