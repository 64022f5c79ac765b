"""Serving layer: atomic Parquet export, the serving DuckDB, manifest.json, docs swap and PostgreSQL.

The warehouses here are tiny DuckDB files with a hand-made ``marts`` schema (the dbt build and the
whole pipeline are exercised end to end elsewhere). The PostgreSQL tests use the server named by
``CRM_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) and are skipped,
with the reason, only when it cannot be reached.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import stat
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from crm.publish import postgres as pg_publish
from crm.publish.atomic import swap_directory
from crm.publish.dbt_artifacts import DbtArtifacts
from crm.publish.docs import publish_gx_data_docs
from crm.publish.layout import parquet_path, published_marts
from crm.publish.manifest import build_manifest, write_manifest
from crm.publish.parquet_export import KEEP_VERSIONS, export_marts
from crm.publish.serving_duckdb import build_serving_database

PG_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

CUSTOMERS_DDL = """
create table marts.dim_customers (
    customer_id varchar primary key,
    region varchar,
    net_revenue decimal(18, 2),
    purchase_orders integer,
    gross_margin_rate double,
    is_churned boolean,
    first_purchase_date date,
    updated_at timestamp with time zone,
    interests varchar[]
)
"""


def make_warehouse(path: Path, customers: int, *, extra_mart: bool = True) -> Path:
    """A warehouse with ``marts.dim_customers`` (awkward values included) and ``marts.fct_sales``."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        con.execute(CUSTOMERS_DDL)
        con.execute(
            """
            insert into marts.dim_customers
            select 'C' || lpad(cast(i as varchar), 6, '0'),
                   case i % 4
                       when 0 then '台北市' when 1 then '' when 2 then null else 'say "hi", \\ bye'
                   end,
                   cast(i * 10.25 as decimal(18, 2)),
                   i % 7,
                   case when i % 5 = 0 then null else i / 1000.0 end,
                   i % 3 = 0,
                   date '2024-01-01' + cast(i % 365 as integer),
                   timestamptz '2026-01-01 08:00:00+08' + to_seconds(i),
                   case i % 3 when 0 then ['tea', 'a "quoted", item'] when 1 then [] else null end
            from range(?) as t(i)
            """,
            [customers],
        )
        if extra_mart:
            con.execute(
                "create table marts.fct_sales as select 'O' || cast(i as varchar) as order_id, "
                "cast(i as decimal(18, 2)) as net_amount from range(?) as t(i)",
                [customers * 2],
            )
    finally:
        con.close()
    return path


# --- Parquet export -------------------------------------------------------------------------------


def test_export_writes_one_parquet_per_mart_with_the_warehouse_rows(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "warehouse.duckdb", 50)
    published = tmp_path / "published"

    exported = export_marts(warehouse, published)

    assert {m.name: m.row_count for m in exported} == {"dim_customers": 50, "fct_sales": 100}
    assert set(published_marts(published)) == {"dim_customers", "fct_sales"}
    table = pq.read_table(parquet_path(published, "dim_customers"))
    con = duckdb.connect(str(warehouse), read_only=True)
    expected = con.execute("select * from marts.dim_customers order by customer_id").fetchall()
    con.close()
    got = duckdb.connect().execute(
        "select * from read_parquet(?) order by customer_id", [str(parquet_path(published, "dim_customers"))]
    )
    assert got.fetchall() == expected
    assert table.num_rows == 50
    assert not list(published.rglob(".*tmp-*")), "temporary files left behind"


def test_export_opens_the_warehouse_read_only(tmp_path: Path) -> None:
    """DuckDB refuses, in one process, a read-write connection next to a read-only one: the export
    succeeding while a read-only connection is open proves it does not open the warehouse for writing."""
    warehouse = make_warehouse(tmp_path / "warehouse.duckdb", 5)
    reader = duckdb.connect(str(warehouse), read_only=True)
    try:
        with pytest.raises(duckdb.ConnectionException):  # the premise: a writer would be refused
            duckdb.connect(str(warehouse))
        export_marts(warehouse, tmp_path / "published")
    finally:
        reader.close()
    assert set(published_marts(tmp_path / "published")) == {"dim_customers", "fct_sales"}


def test_a_reader_during_republish_sees_the_old_or_the_new_file_never_a_partial_one(tmp_path: Path) -> None:
    small = make_warehouse(tmp_path / "small.duckdb", 200)
    large = make_warehouse(tmp_path / "large.duckdb", 30_000)
    published = tmp_path / "published"
    export_marts(small, published)
    build_serving_database(published)
    target = parquet_path(published, "dim_customers")
    stop = threading.Event()
    seen: set[int] = set()
    errors: list[BaseException] = []

    def read_with_pyarrow() -> None:
        while not stop.is_set():
            try:
                with target.open("rb") as fh:  # one open: whatever file the name pointed to then
                    seen.add(pq.read_table(fh).num_rows)
            except BaseException as exc:  # a partial file would raise here
                errors.append(exc)
                return

    def read_with_duckdb() -> None:
        """Through the serving database, as BI tools do (DuckDB opens a file twice per query)."""
        while not stop.is_set():
            try:
                con = duckdb.connect(str(published / "marts.duckdb"), read_only=True)
                try:
                    for _ in range(3):
                        rows, ids = con.execute(
                            "select count(*), count(distinct customer_id) from dim_customers"
                        ).fetchone()
                        assert rows == ids
                        seen.add(rows)
                finally:
                    con.close()
            except BaseException as exc:
                errors.append(exc)
                return

    readers = [threading.Thread(target=read_with_pyarrow), threading.Thread(target=read_with_duckdb)]
    for reader in readers:
        reader.start()
    try:
        for i in range(8):
            export_marts(large if i % 2 == 0 else small, published)
            build_serving_database(published)
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=60)
    assert not errors, f"reader saw a broken file: {errors[0]!r}"
    assert seen <= {200, 30_000}
    assert seen, "the reader never managed to read"
    assert not list(published.rglob(".*tmp-*"))


def test_each_publish_is_a_new_immutable_version_and_old_versions_are_pruned(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb", 3)
    published = tmp_path / "published"
    versions = [export_marts(warehouse, published)[0].version_path for _ in range(KEEP_VERSIONS + 2)]

    link = parquet_path(published, "dim_customers")
    assert link.is_symlink() and not Path(os.readlink(link)).is_absolute()  # relocatable
    assert link.resolve() == versions[-1]
    remaining = sorted((published / "_versions" / "dim_customers").iterdir())
    assert remaining == versions[-KEEP_VERSIONS:]
    assert not versions[-1].stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_a_failed_export_leaves_the_previous_publication_untouched(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "warehouse.duckdb", 10)
    published = tmp_path / "published"
    export_marts(warehouse, published)
    before = {name: path.read_bytes() for name, path in published_marts(published).items()}
    con = duckdb.connect(str(warehouse))
    con.execute("insert into marts.fct_sales values ('new', 1)")
    # A mart that fails at query time (the export reads every mart before swapping any).
    con.execute("create view marts.zz_broken as select cast('not a number' as integer) as n")
    con.close()

    with pytest.raises(duckdb.ConversionException):
        export_marts(warehouse, published)

    after = {name: path.read_bytes() for name, path in published_marts(published).items()}
    assert after == before
    assert len(list((published / "_versions" / "fct_sales").iterdir())) == 1
    assert not list(published.rglob(".*tmp-*"))


def test_marts_dropped_from_the_warehouse_are_unpublished(tmp_path: Path) -> None:
    published = tmp_path / "published"
    export_marts(make_warehouse(tmp_path / "one.duckdb", 5), published)
    (published / "docs").mkdir()  # not a mart: must survive

    export_marts(make_warehouse(tmp_path / "two.duckdb", 5, extra_mart=False), published)

    assert set(published_marts(published)) == {"dim_customers"}
    assert not (published / "fct_sales").exists()
    assert not (published / "_versions" / "fct_sales").exists()
    assert (published / "docs").is_dir()


# --- serving DuckDB -------------------------------------------------------------------------------


def test_serving_database_has_read_only_views_over_the_parquet_files(tmp_path: Path) -> None:
    published = tmp_path / "published"
    export_marts(make_warehouse(tmp_path / "a.duckdb", 30), published)

    serving = build_serving_database(published)

    assert serving == published / "marts.duckdb"
    assert not serving.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    con = duckdb.connect(str(serving), read_only=True)
    try:
        kinds = dict(con.execute("select table_name, table_type from information_schema.tables").fetchall())
        assert kinds == {"dim_customers": "VIEW", "fct_sales": "VIEW"}
        assert con.execute("select count(*) from marts.dim_customers").fetchone()[0] == 30
        assert con.execute("select count(*) from fct_sales").fetchone()[0] == 60
        with pytest.raises(duckdb.Error):
            con.execute("create table marts.x as select 1")
        # A republish + rebuild: this connection keeps reading its (kept) version, a new one the new.
        export_marts(make_warehouse(tmp_path / "b.duckdb", 40), published)
        build_serving_database(published)
        assert con.execute("select count(*) from marts.dim_customers").fetchone()[0] == 30
    finally:
        con.close()
    con = duckdb.connect(str(serving), read_only=True)
    assert con.execute("select count(*) from marts.dim_customers").fetchone()[0] == 40
    con.close()


def test_serving_database_rebuild_swaps_the_file_under_an_open_reader(tmp_path: Path) -> None:
    published = tmp_path / "published"
    export_marts(make_warehouse(tmp_path / "a.duckdb", 3), published)
    build_serving_database(published)
    reader = duckdb.connect(str(published / "marts.duckdb"), read_only=True)
    try:
        export_marts(make_warehouse(tmp_path / "b.duckdb", 3, extra_mart=False), published)
        build_serving_database(published)
        # The open reader keeps its (old) file; a new connection sees the new set of views.
        assert reader.execute("select count(*) from dim_customers").fetchone()[0] == 3
    finally:
        reader.close()
    fresh = duckdb.connect(str(published / "marts.duckdb"), read_only=True)
    names = {name for (name,) in fresh.execute("select table_name from information_schema.tables").fetchall()}
    fresh.close()
    assert names == {"dim_customers"}
    assert not list(published.glob(".*tmp-*"))


# --- manifest.json --------------------------------------------------------------------------------


def write_dbt_target(target: Path) -> Path:
    target.mkdir(parents=True)
    manifest = {
        "nodes": {
            "model.crm_warehouse.dim_customers": {
                "resource_type": "model",
                "name": "dim_customers",
                "alias": "dim_customers",
                "schema": "marts",
                "description": "One row per customer.",
                "columns": {"customer_id": {"description": "Stable surrogate key."}},
            },
            "model.crm_warehouse.stg_sales": {
                "resource_type": "model",
                "name": "stg_sales",
                "schema": "staging",
                "description": "not a mart",
                "columns": {},
            },
        }
    }
    run_results = {
        "metadata": {"generated_at": "2026-11-23T03:00:09Z"},
        "args": {"which": "build"},
        "results": [
            {
                "unique_id": "model.crm_warehouse.dim_customers",
                "status": "success",
                "timing": [
                    {"name": "compile", "completed_at": "2026-11-23T03:00:01Z"},
                    {"name": "execute", "completed_at": "2026-11-23T03:00:05Z"},
                ],
            },
            {"unique_id": "test.crm_warehouse.unique_dim_customers_customer_id", "status": "pass"},
            {"unique_id": "unit_test.crm_warehouse.dim_customers.t1", "status": "fail", "failures": 2},
        ],
    }
    (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (target / "run_results.json").write_text(json.dumps(run_results), encoding="utf-8")
    return target


def test_manifest_lists_each_mart_with_rows_columns_types_build_time_and_description(tmp_path: Path) -> None:
    published = tmp_path / "published"
    export_marts(make_warehouse(tmp_path / "w.duckdb", 25), published)
    target = write_dbt_target(tmp_path / "dbt" / "target")

    path = write_manifest(published, target)

    manifest = json.loads(path.read_text(encoding="utf-8"))
    marts = {m["name"]: m for m in manifest["marts"]}
    assert set(marts) == {"dim_customers", "fct_sales"}
    customers = marts["dim_customers"]
    assert customers["row_count"] == 25
    assert customers["description"] == "One row per customer."
    assert customers["built_at"] == "2026-11-23T03:00:05Z"
    assert customers["parquet"] == "dim_customers/dim_customers.parquet"
    assert customers["parquet_version"].startswith("_versions/dim_customers/dim_customers-")
    columns = {c["name"]: c for c in customers["columns"]}
    assert [c["name"] for c in customers["columns"]][:3] == ["customer_id", "region", "net_revenue"]
    assert columns["net_revenue"]["type"] == "DECIMAL(18,2)"
    assert columns["updated_at"]["type"] == "TIMESTAMP WITH TIME ZONE"
    assert columns["interests"]["type"] == "VARCHAR[]"
    assert columns["customer_id"]["description"] == "Stable surrogate key."
    assert marts["fct_sales"]["row_count"] == 50
    assert marts["fct_sales"]["description"] is None  # no dbt model: said so, not invented
    assert manifest["dbt_invocation"] == {"command": "build", "generated_at": "2026-11-23T03:00:09Z"}


def test_dbt_artifacts_count_tests_and_unit_tests(tmp_path: Path) -> None:
    artifacts = DbtArtifacts.load(write_dbt_target(tmp_path / "target"))
    assert artifacts.test_status_counts() == {("test", "pass"): 1, ("unit_test", "fail"): 1}
    assert DbtArtifacts.load(tmp_path / "missing").models == {}
    manifest = build_manifest(tmp_path / "nothing", artifacts)
    assert manifest["marts"] == []


# --- docs -----------------------------------------------------------------------------------------


def test_swap_directory_replaces_a_published_directory_atomically(tmp_path: Path) -> None:
    target = tmp_path / "docs"
    for version in ("v1", "v2"):
        staged = tmp_path / f".staged-{version}"
        staged.mkdir()
        (staged / "index.html").write_text(version, encoding="utf-8")
        swap_directory(staged, target)
        assert (target / "index.html").read_text(encoding="utf-8") == version
    assert target.is_symlink()
    # Only the live version remains (plus the link).
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "docs") == [os.readlink(target)]


def test_gx_data_docs_are_copied_under_published_docs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm.config import Settings

    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    settings = Settings.from_env()
    assert publish_gx_data_docs(settings, settings.published_dir) is None  # nothing built yet
    site = settings.gx_root / "gx" / "uncommitted" / "data_docs" / "local_site"
    (site / "validations").mkdir(parents=True)
    (site / "index.html").write_text("<html>gx</html>", encoding="utf-8")
    (site / "validations" / "v.html").write_text("v", encoding="utf-8")

    index = publish_gx_data_docs(settings, settings.published_dir)

    assert index == settings.published_dir / "docs" / "gx" / "index.html"
    assert index.read_text(encoding="utf-8") == "<html>gx</html>"
    assert (index.parent / "validations" / "v.html").is_file()


# --- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_admin_url() -> str:
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        psycopg2.connect(PG_URL, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {PG_URL} (CRM_TEST_POSTGRES_URL) is unreachable: {exc}".strip())
    return PG_URL


@pytest.fixture
def pg_serving(pg_admin_url: str):
    """Clean ``crm_marts`` schema and a ``public`` table the reader must not see; cleaned up after."""
    import psycopg2

    secret = f"crm_publish_test_secret_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("drop schema if exists crm_marts cascade")
        cur.execute(f"create table public.{secret} (v text)")
        cur.execute(f"insert into public.{secret} values ('not for BI')")
    try:
        yield admin, secret
    finally:
        with admin.cursor() as cur:
            cur.execute("drop schema if exists crm_marts cascade")
            cur.execute(f"drop table if exists public.{secret}")
            cur.execute("select 1 from pg_roles where rolname = 'crm_bi_reader'")
            if cur.fetchone():
                cur.execute("drop owned by crm_bi_reader")
                # The role may also serve another database on this server: then it stays.
                with contextlib.suppress(psycopg2.errors.DependentObjectsStillExist):
                    cur.execute("drop role crm_bi_reader")
        admin.close()


def reader_url(admin_url: str, password: str) -> str:
    from psycopg2.extensions import make_dsn, parse_dsn

    params = parse_dsn(admin_url)
    params.update(user="crm_bi_reader", password=password)
    return make_dsn(**params)


@pytest.mark.postgres
def test_postgres_serving_loads_every_mart_with_the_same_values(tmp_path: Path, pg_serving) -> None:
    admin, _ = pg_serving
    warehouse = make_warehouse(tmp_path / "w.duckdb", 40)
    published = tmp_path / "published"
    export_marts(warehouse, published)

    loaded = pg_publish.publish_to_postgres(PG_URL, published)

    assert {m.name: m.rows for m in loaded} == {"dim_customers": 40, "fct_sales": 80}
    with admin.cursor() as cur:
        cur.execute("select * from crm_marts.dim_customers order by customer_id")
        rows = cur.fetchall()
    con = duckdb.connect(str(warehouse), read_only=True)
    expected = con.execute("select * from marts.dim_customers order by customer_id").fetchall()
    con.close()
    assert len(rows) == len(expected) == 40
    for got, want in zip(rows, expected, strict=True):
        assert got[:7] == want[:7]  # text (incl. '' vs NULL, quotes, CJK), numeric, int, float, bool, date
        assert got[7] == want[7].astimezone(dt.UTC)
        assert got[8] == want[8]  # varchar[] -> text[] (incl. empty and NULL lists)
    assert isinstance(rows[1][2], Decimal)
    assert rows[1][1] == "" and rows[2][1] is None and rows[3][1] == 'say "hi", \\ bye'


@pytest.mark.postgres
def test_postgres_reload_replaces_a_mart_in_one_transaction(
    tmp_path: Path, pg_serving, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, _ = pg_serving
    published = tmp_path / "published"
    export_marts(make_warehouse(tmp_path / "a.duckdb", 10), published)
    pg_publish.publish_to_postgres(PG_URL, published)
    export_marts(make_warehouse(tmp_path / "b.duckdb", 20), published)

    # The new load fails half way (COPY rejects a value): the old table must be untouched.
    real_type = pg_publish.postgres_type
    monkeypatch.setattr(pg_publish, "postgres_type", lambda t: "integer" if t == "VARCHAR" else real_type(t))
    with pytest.raises(Exception, match="invalid input syntax"):
        pg_publish.publish_to_postgres(PG_URL, published)
    with admin.cursor() as cur:
        cur.execute("select count(*) from crm_marts.dim_customers")
        assert cur.fetchone()[0] == 10
        cur.execute("select table_name from information_schema.tables where table_schema = 'crm_marts'")
        assert {name for (name,) in cur.fetchall()} == {"dim_customers", "fct_sales"}

    monkeypatch.setattr(pg_publish, "postgres_type", real_type)
    pg_publish.publish_to_postgres(PG_URL, published)
    with admin.cursor() as cur:
        cur.execute("select count(*) from crm_marts.dim_customers")
        assert cur.fetchone()[0] == 20


@pytest.mark.postgres
def test_bi_reader_role_can_only_select_the_marts(tmp_path: Path, pg_serving) -> None:
    import psycopg2
    from psycopg2 import errors

    admin, secret = pg_serving
    password = uuid.uuid4().hex
    published = tmp_path / "published"
    export_marts(make_warehouse(tmp_path / "w.duckdb", 12), published)
    pg_publish.publish_to_postgres(PG_URL, published, reader_password=password)
    # A second publish swaps the tables: the grants must carry over to the new ones.
    pg_publish.publish_to_postgres(PG_URL, published, reader_password=password)
    with admin.cursor() as cur:
        cur.execute("show server_version_num")
        server_version = int(cur.fetchone()[0])

    reader = psycopg2.connect(reader_url(PG_URL, password))
    reader.autocommit = True
    try:
        with reader.cursor() as cur:
            cur.execute("select current_user")
            assert cur.fetchone()[0] == "crm_bi_reader"
            cur.execute("select count(*) from crm_marts.dim_customers")
            assert cur.fetchone()[0] == 12
            cur.execute("select count(*) from crm_marts.fct_sales")
            assert cur.fetchone()[0] == 24

        denied = [
            f"select * from public.{secret}",
            "insert into crm_marts.dim_customers (customer_id) values ('x')",
            "update crm_marts.dim_customers set region = 'x'",
            "delete from crm_marts.dim_customers",
            "truncate crm_marts.fct_sales",
            "create table crm_marts.bi_scratch (v int)",
            "create view crm_marts.bi_view as select 1 as v",
            "drop table crm_marts.fct_sales",
            "alter table crm_marts.fct_sales add column x int",
            "create schema bi_scratch",
            f"insert into public.{secret} values ('x')",
        ]
        if server_version >= 150000:  # before 15, PUBLIC may create in schema public by default
            denied.append("create table public.bi_scratch (v int)")
        for statement in denied:
            with reader.cursor() as cur, pytest.raises(errors.InsufficientPrivilege):
                cur.execute(statement)
    finally:
        reader.close()

    with admin.cursor() as cur:
        cur.execute(
            "select privilege_type from information_schema.role_table_grants "
            "where grantee = 'crm_bi_reader' and table_schema = 'crm_marts' group by 1"
        )
        assert {p for (p,) in cur.fetchall()} == {"SELECT"}
        cur.execute(
            "select rolsuper, rolcreaterole, rolcreatedb, rolcanlogin from pg_roles where rolname = %s",
            ["crm_bi_reader"],
        )
        assert cur.fetchone() == (False, False, False, True)


def test_postgres_types_cover_the_mart_column_types() -> None:
    assert pg_publish.postgres_type("DECIMAL(18,2)") == "numeric(18, 2)"
    assert pg_publish.postgres_type("VARCHAR[]") == "text[]"
    assert pg_publish.postgres_type("TIMESTAMP WITH TIME ZONE") == "timestamp with time zone"
    with pytest.raises(ValueError, match="no PostgreSQL mapping"):
        pg_publish.postgres_type("MAP(VARCHAR, INTEGER)")
    with pytest.raises(ValueError, match="nested list"):
        pg_publish.postgres_type("INTEGER[][]")
