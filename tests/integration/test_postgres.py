"""The same snapshot through the plain PostgreSQL + pgSphere route: ``tap/schema.sql`` and the bulk
loader, then the ObsLocTAP example queries as pgSphere SQL and the extension joins."""

from __future__ import annotations

import pandas as pd
import psycopg2
import pytest

from tests.integration.expected import QUERIES

pytestmark = pytest.mark.integration


def _fetch(dsn: str, sql: str) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_all_rows_loaded(pg_dsn: str, tables: dict[str, pd.DataFrame]) -> None:
    for name, frame in tables.items():
        assert _fetch(pg_dsn, f"SELECT COUNT(*) FROM ivoa.{name}")[0][0] == len(frame), name


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_obsloctap_queries_in_pgsphere(pg_dsn: str, query) -> None:  # noqa: ANN001
    assert sorted(r[0] for r in _fetch(pg_dsn, query.sql)) == sorted(query.expected)


def test_natural_joins(pg_dsn: str, tables: dict[str, pd.DataFrame]) -> None:
    for ext in ("obscore_radio", "obscore_hea"):
        got = _fetch(pg_dsn, f"SELECT COUNT(*) FROM ivoa.obscore NATURAL JOIN ivoa.{ext}")[0][0]
        assert got == len(tables["obscore"].merge(tables[ext], on="obs_publisher_did")) == len(tables[ext]), ext
