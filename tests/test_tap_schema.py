"""TAP_SCHEMA rows and the PostgreSQL/pgSphere DDL, run in a real PostgreSQL 15 + pgSphere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import IVOA_TABLES, OBSCORE, OBSPLAN
from models.regions import circle_stcs, stcs_to_pgsphere
from models.tap_schema import TAP_SCHEMA_SPECS, ident, postgres_ddl, sql_literal, tap_schema_rows
from tests.pg import PgCluster, postgres  # noqa: F401  (session fixture)

SPECS = list(IVOA_TABLES.values())


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rows() -> dict[str, pd.DataFrame]:
    return tap_schema_rows(SPECS)


def test_schemas_and_tables(rows):
    assert rows["schemas"]["schema_name"].tolist() == ["ivoa", "TAP_SCHEMA"]
    tables = rows["tables"].set_index("table_name")
    assert tables.index.tolist() == [
        "ivoa.obsplan",
        "ivoa.obscore",
        "ivoa.obscore_radio",
        "ivoa.obscore_hea",
        "TAP_SCHEMA.schemas",
        "TAP_SCHEMA.tables",
        "TAP_SCHEMA.columns",
        "TAP_SCHEMA.keys",
        "TAP_SCHEMA.key_columns",
    ]
    assert tables.loc["ivoa.obsplan", "utype"] == "ivo://ivoa.net/std/obsloctap#table-1.0"
    assert tables.loc["ivoa.obscore", "utype"] == "ivo://ivoa.net/std/ObsCore#core-1.1"
    assert (tables["table_type"] == "table").all()
    assert tables["table_index"].tolist() == list(range(9))
    assert list(rows["tables"].columns) == [
        "schema_name",
        "table_name",
        "table_type",
        "utype",
        "description",
        "table_index",
    ]


def test_columns_follow_specs(rows):
    cols = rows["columns"]
    assert list(cols.columns) == [
        "table_name",
        "column_name",
        "datatype",
        "arraysize",
        "xtype",
        "size",
        "description",
        "utype",
        "unit",
        "ucd",
        "indexed",
        "principal",
        "std",
        "column_index",
    ]
    for spec in [*SPECS, *TAP_SCHEMA_SPECS]:
        mine = cols[cols["table_name"] == spec.qualified_name]
        assert mine["column_name"].tolist() == spec.names
        assert mine["column_index"].tolist() == list(range(1, len(spec.names) + 1))
    by = cols.set_index(["table_name", "column_name"])
    assert len(cols[cols["table_name"] == "ivoa.obsplan"]) == 26
    r = by.loc[("ivoa.obsplan", "s_region")]
    assert (r["datatype"], r["arraysize"], r["xtype"], r["ucd"]) == (
        "char",
        "*",
        "adql:REGION",
        "pos.outline;obs.field",
    )
    assert pd.isna(r["size"]) and r["indexed"] == 0
    t = by.loc[("ivoa.obsplan", "t_planning")]
    assert (t["datatype"], t["unit"], t["indexed"], t["std"]) == ("double", "d", 1, 1)
    assert pd.isna(t["arraysize"]) and pd.isna(t["xtype"]) and pd.isna(t["ucd"])
    p = by.loc[("ivoa.obsplan", "priority")]
    assert p["datatype"] == "int" and pd.isna(p["unit"])
    assert by.loc[("ivoa.obscore", "obs_creation_date"), "xtype"] == "timestamp"
    assert by.loc[("ivoa.obscore", "access_estsize"), "datatype"] == "long"
    assert by.loc[("ivoa.obsplan", "target_name"), "datatype"] == "unicodeChar"
    assert set(cols["std"]) == {1} and set(cols["principal"]) == {1}
    assert str(cols["size"].dtype) == "Int32"
    indexed = tap_schema_rows(SPECS, indexed_regions=True)["columns"].set_index(["table_name", "column_name"])
    assert indexed.loc[("ivoa.obscore", "s_region"), "indexed"] == 1


def test_keys_join_extensions_to_obscore(rows):
    assert rows["keys"][["key_id", "from_table", "target_table"]].values.tolist() == [
        ["obscore_radio_obscore", "ivoa.obscore_radio", "ivoa.obscore"],
        ["obscore_hea_obscore", "ivoa.obscore_hea", "ivoa.obscore"],
    ]
    assert rows["key_columns"].values.tolist() == [
        ["obscore_radio_obscore", "obs_publisher_did", "obs_publisher_did"],
        ["obscore_hea_obscore", "obs_publisher_did", "obs_publisher_did"],
    ]
    alone = tap_schema_rows([OBSPLAN], include_tap_schema=False)
    assert alone["keys"].empty and alone["key_columns"].empty
    assert alone["tables"]["table_name"].tolist() == ["ivoa.obsplan"]


def test_sql_literals_and_identifiers():
    assert sql_literal(None) == "NULL"
    assert sql_literal(float("nan")) == "NULL"
    assert sql_literal(pd.NA) == "NULL"
    assert sql_literal(3) == "3"
    assert sql_literal(0.1) == "0.1"
    assert sql_literal(True) == "TRUE"
    assert sql_literal("O'Brien") == "'O''Brien'"
    assert sql_literal("a\\b'c") == "E'a\\\\b''c'"
    assert sql_literal("Ångström ✓") == "'Ångström ✓'"
    with pytest.raises(ValueError, match="NUL"):
        sql_literal("a\x00b")
    with pytest.raises(ValueError, match="inf"):
        sql_literal(float("inf"))
    assert ident("s_region") == "s_region"
    assert ident("size") == '"size"'
    assert ident("Weird Name") == '"Weird Name"'


def test_ddl_text_has_the_promised_pieces():
    ddl = postgres_ddl(SPECS)
    assert ddl.startswith("-- Generated by voharvest") and ddl.rstrip().endswith("COMMIT;")
    assert "CREATE EXTENSION IF NOT EXISTS pg_sphere;" in ddl
    assert "CREATE SCHEMA IF NOT EXISTS ivoa;" in ddl
    assert "    s_region spoly," in ddl
    assert "CREATE INDEX obsplan_s_region_gist ON ivoa.obsplan USING gist (s_region);" in ddl
    assert "CONSTRAINT obscore_pkey PRIMARY KEY (obs_publisher_did)" in ddl
    assert "UNIQUE NULLS NOT DISTINCT (obs_collection, obs_id)" in ddl
    plain = postgres_ddl(SPECS, pgsphere=False)
    assert "pg_sphere" not in plain and "spoly" not in plain and "    s_region text," in plain


# --------------------------------------------------------------------------------------------
# In PostgreSQL
# --------------------------------------------------------------------------------------------


def _obsplan_rows() -> pd.DataFrame:
    """Three plan rows (values of NuSTAR-like and XMM-like fields; not recorded data)."""
    ra = np.array([114.8251, 83.6331, 266.4168])
    dec = np.array([1.6179, 22.0145, -29.0078])
    return pd.DataFrame(
        {
            "t_planning": [60927.0, 60927.0, 60928.5],
            "target_name": ["PKS 0736+017", "Crab", "Sgr A*"],
            "obs_id": ["30901001002", "0123456789", "30901003002"],
            "obs_collection": ["NuSTAR", "XMM-Newton", "NuSTAR"],
            "s_ra": ra,
            "s_dec": dec,
            "s_fov": [0.2, 0.5, 0.2],
            "s_region": stcs_to_pgsphere(circle_stcs(ra, dec, [0.1, 0.25, 0.1])),
            "t_min": [60930.1, np.nan, 60931.0],
            "t_max": [60930.6, np.nan, 60931.4],
            "t_exptime": [43200.0, np.nan, 34560.0],
            "facility_name": ["NuSTAR", "XMM-Newton", "NuSTAR"],
            "category": ["Fixed", "Other", "Coordinated"],
            "priority": [2, 0, 1],
            "execution_status": ["Scheduled", "Planned", "Scheduled"],
            "tracking_type": ["Sidereal", "Sidereal", "Sidereal"],
        }
    )


def _insert(cur, table: str, frame: pd.DataFrame) -> None:
    cols = ", ".join(frame.columns)
    marks = ", ".join(["%s"] * len(frame.columns))
    values = [
        tuple(None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in r)
        for r in frame.itertuples(index=False)
    ]
    cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", values)


@pytest.fixture
def db(postgres: PgCluster):  # noqa: F811
    conn = postgres.connect(postgres.new_database())
    yield conn
    conn.close()


@pytest.mark.integration
def test_ddl_loads_rows_and_tap_schema_reads_back(db, rows):
    import psycopg2.errors

    with db, db.cursor() as cur:
        cur.execute(postgres_ddl(SPECS))
    with db, db.cursor() as cur:
        _insert(cur, "ivoa.obsplan", _obsplan_rows())
        cur.execute(
            "INSERT INTO ivoa.obscore (calib_level, obs_collection, obs_id, obs_publisher_did, s_region) "
            "VALUES (2, 'HESS-DL3-DR1', '23523', 'ivo://voharvest/HESS-DL3-DR1?23523', %s)",
            (stcs_to_pgsphere(pd.Series(["Circle ICRS 83.6333 22.0144 2.5"]))[0],),
        )
        cur.execute(
            "INSERT INTO ivoa.obscore_hea (obs_publisher_did, energy_min) "
            "VALUES ('ivo://voharvest/HESS-DL3-DR1?23523', 6.6e11)"
        )

    with db, db.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name, datatype, arraysize, xtype, size, description, utype, unit, ucd, "
            "indexed, principal, std, column_index FROM TAP_SCHEMA.columns ORDER BY table_name, column_index"
        )
        got = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
        want = (
            tap_schema_rows(SPECS, indexed_regions=True)["columns"]
            .sort_values(["table_name", "column_index"])
            .reset_index(drop=True)
        )
        assert len(got) == len(want) == sum(len(s.columns) for s in [*SPECS, *TAP_SCHEMA_SPECS])
        for col in want.columns:
            assert [None if pd.isna(v) else v for v in got[col]] == [None if pd.isna(v) else v for v in want[col]], col
        cur.execute("SELECT utype FROM TAP_SCHEMA.tables WHERE table_name = 'ivoa.obsplan'")
        assert cur.fetchone() == ("ivo://ivoa.net/std/obsloctap#table-1.0",)
        cur.execute("SELECT key_id, from_column, target_column FROM TAP_SCHEMA.key_columns ORDER BY key_id")
        assert cur.fetchall() == [
            ("obscore_hea_obscore", "obs_publisher_did", "obs_publisher_did"),
            ("obscore_radio_obscore", "obs_publisher_did", "obs_publisher_did"),
        ]
        # ObsLocTAP's ToO example query, in pgSphere terms: 1 arcmin around PKS 0736+017
        cur.execute("SELECT obs_id FROM ivoa.obsplan WHERE s_region && scircle '<(114.8251d, 1.6179d), 0.016666d>'")
        assert cur.fetchall() == [("30901001002",)]
        # the stored polygon contains the whole circle it replaces, and not much more (16-gon: +2 %)
        for radius, inside in ((0.25, True), (0.256, False)):
            cur.execute(
                f"SELECT scircle '<(83.6331d, 22.0145d), {radius}d>' <@ s_region FROM ivoa.obsplan "
                "WHERE obs_id = '0123456789'"
            )
            assert cur.fetchone() == (inside,), radius
        cur.execute("SELECT count(*) FROM ivoa.obscore NATURAL JOIN ivoa.obscore_hea")
        assert cur.fetchone() == (1,)
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'ivoa' AND indexdef LIKE '%USING gist%' ORDER BY 1"
        )
        assert [r[0] for r in cur.fetchall()] == ["obscore_s_region_gist", "obsplan_s_region_gist"]

    bad_cases = [
        ("UPDATE ivoa.obsplan SET category = 'fixed' WHERE obs_id = '30901001002'", psycopg2.errors.CheckViolation),
        ("UPDATE ivoa.obsplan SET priority = 3 WHERE obs_id = '30901001002'", psycopg2.errors.CheckViolation),
        ("UPDATE ivoa.obsplan SET t_min = NULL WHERE obs_id = '30901001002'", psycopg2.errors.CheckViolation),
        ("UPDATE ivoa.obsplan SET t_min = t_max + 1 WHERE obs_id = '30901001002'", psycopg2.errors.CheckViolation),
        ("UPDATE ivoa.obsplan SET s_ra = 360 WHERE obs_id = '30901001002'", psycopg2.errors.CheckViolation),
        ("UPDATE ivoa.obsplan SET facility_name = NULL WHERE obs_id = '30901001002'", psycopg2.errors.NotNullViolation),
        (
            "INSERT INTO ivoa.obscore_hea (obs_publisher_did) VALUES ('ivo://voharvest/none?1')",
            psycopg2.errors.ForeignKeyViolation,
        ),
        (
            "INSERT INTO ivoa.obsplan (t_planning, obs_id, obs_collection, facility_name, category, priority, "
            "execution_status, tracking_type) VALUES (1, '30901001002', 'NuSTAR', 'NuSTAR', 'Fixed', 0, 'Planned', "
            "'Sidereal')",
            psycopg2.errors.UniqueViolation,
        ),
    ]
    for sql, error in bad_cases:
        with pytest.raises(error), db, db.cursor() as cur:
            cur.execute(sql)
    # Planned rows may lack times; two NULL collections with one obs_id are duplicates (as in validate)
    with db, db.cursor() as cur:
        cur.execute("UPDATE ivoa.obsplan SET t_min = NULL WHERE obs_id = '0123456789'")
        cur.execute(
            "INSERT INTO ivoa.obsplan (t_planning, obs_id, facility_name, category, priority, execution_status, "
            "tracking_type) VALUES (1, 'X1', 'ESO', 'Other', 0, 'Planned', 'Sidereal')"
        )
    with pytest.raises(psycopg2.errors.UniqueViolation), db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO ivoa.obsplan (t_planning, obs_id, facility_name, category, priority, execution_status, "
            "tracking_type) VALUES (2, 'X1', 'ESO', 'Other', 0, 'Planned', 'Sidereal')"
        )


@pytest.mark.integration
def test_ddl_reruns_with_replace_and_keeps_other_tap_schema_rows(db):
    with db, db.cursor() as cur:
        cur.execute(postgres_ddl(SPECS))
        cur.execute("INSERT INTO TAP_SCHEMA.schemas (schema_name, description) VALUES ('other', 'not ours')")
        cur.execute(
            "INSERT INTO TAP_SCHEMA.tables (schema_name, table_name, table_type) VALUES ('other', 'other.t', 'table')"
        )
    with pytest.raises(Exception, match="already exists"), db, db.cursor() as cur:
        cur.execute(postgres_ddl(SPECS))
    with db, db.cursor() as cur:
        cur.execute(postgres_ddl(SPECS, replace=True))
        cur.execute("SELECT count(*) FROM TAP_SCHEMA.columns")
        assert cur.fetchone() == (len(tap_schema_rows(SPECS)["columns"]),)
        cur.execute("SELECT table_name FROM TAP_SCHEMA.tables WHERE schema_name = 'other'")
        assert cur.fetchall() == [("other.t",)]


@pytest.mark.integration
def test_ddl_without_pgsphere_keeps_stcs_text(db):
    with db, db.cursor() as cur:
        cur.execute(postgres_ddl([OBSCORE], pgsphere=False))
        cur.execute(
            "INSERT INTO ivoa.obscore (calib_level, obs_collection, obs_id, obs_publisher_did, s_region) "
            "VALUES (2, 'c', '1', 'ivo://x/c?1', 'Circle ICRS 1 2 3')"
        )
        cur.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = 'ivoa' AND table_name = 'obscore' AND column_name = 's_region'"
        )
        assert cur.fetchone() == ("text",)
        cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_sphere'")
        assert cur.fetchone() == (0,)
