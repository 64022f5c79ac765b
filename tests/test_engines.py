"""The same dbt project on several engines: whole build and tests, then the key marts row for row.

The DuckDB build of the default sample is the reference. Every other engine in
``ENGINES_UNDER_TEST`` gets the raw tables shipped its production way (PostgreSQL: COPY into a
fresh database; Spark: Parquet files registered as external tables in a fresh local catalog), is
built by ``python -m crm.engines.build`` (seeds, models, snapshot, every data test and unit test,
the identity step between phases), and must then hold the same dim_customers, customer_rfm and
loyalty_monthly (:mod:`crm.engines.compare`). Build timings are
printed and recorded as test properties.

To add an engine: a scratch context in ``SCRATCH`` (yielding the build's environment and the
options for :func:`crm.engines.load_engine`) and a ``pytest.param`` in ``ENGINES_UNDER_TEST``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from crm.engines import load_engine
from crm.engines.compare import compare_engines, compare_tables, format_report

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PII_SALT = "test-salt-for-test_engines"
POSTGRES_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _base_env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO / "dags"),
        "CRM_DATA_DIR": str(data_dir),
        "CRM_WAREHOUSE_PATH": str(data_dir / "warehouse.duckdb"),
        "CRM_SETTLE_SECONDS": "0",
        "CRM_PII_SALT": PII_SALT,
        "CRM_DBT_THREADS": "2",
        "GX_ANALYTICS_ENABLED": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def _run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command[:4])} failed ({result.returncode}):\n"
            f"{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
        )
    return time.perf_counter() - started


@dataclass
class Built:
    engine: str
    wall_seconds: float
    report: dict
    options: dict


def _build(engine: str, data_dir: Path, env: dict[str, str], options: dict) -> Built:
    report = data_dir / f"build_{engine}.json"
    seconds = _run(
        [
            str(VENV_BIN / "python"),
            "-m",
            "crm.engines.build",
            "--target",
            engine,
            "--warehouse",
            str(data_dir / "warehouse.duckdb"),
            "--target-path",
            str(data_dir / f"dbt_target_{engine}"),
            "--report",
            str(report),
        ],
        env,
    )
    built = Built(engine, seconds, json.loads(report.read_text(encoding="utf-8")), options)
    phases = ", ".join(f"{p['name']} {p['seconds']:.1f} s" for p in built.report["phases"])
    print(f"\n{engine} build: {seconds:.1f} s wall ({phases})")
    return built


@contextmanager
def postgres_scratch(data_dir: Path) -> Iterator[tuple[dict[str, str], dict]]:
    """A fresh database crm_engines_<random> on CRM_TEST_POSTGRES_URL's server, dropped afterwards.

    It sorts text linguistically (ICU en-US) where the server has ICU, unlike DuckDB's code-point
    order, so the comparison also proves that the collation cannot change customers or scores.
    """
    pytest.importorskip("psycopg2", reason="the postgres extra is not installed")
    from crm.engines.postgres import PostgresSettings, temporary_database

    server = PostgresSettings.from_url(POSTGRES_URL)
    try:
        conn = server.connect()
    except Exception as exc:  # any connection failure means "no server here"
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}: {exc}")
    try:
        with conn.cursor() as cur:
            # ICU collations exist when the server was built with ICU (Debian's is).
            cur.execute("select 1 from pg_collation where collname = 'en-US-x-icu'")
            icu = cur.fetchone() is not None
    finally:
        conn.close()
    with temporary_database(server, icu_locale="en-US" if icu else None) as settings:
        yield {"CRM_PG_URL": settings.url}, {"url": settings.url}


@contextmanager
def spark_scratch(data_dir: Path) -> Iterator[tuple[dict[str, str], dict]]:
    """A fresh local Spark catalog (Hive metastore + warehouse + raw Parquet) under the data dir.

    The build runs in its own process; the comparison then opens the same catalog in this one
    (Derby allows one process at a time, and the build's has exited by then).
    """
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("Spark needs Java 17 (no java on PATH, no JAVA_HOME)")
    spark_dir = data_dir / "spark"
    shutil.rmtree(spark_dir, ignore_errors=True)
    yield {"CRM_SPARK_DIR": str(spark_dir)}, {"spark_dir": spark_dir, "pii_salt": PII_SALT}
    shutil.rmtree(spark_dir, ignore_errors=True)


#: engine -> scratch context (build environment, load_engine options).
SCRATCH: dict[str, Callable[[Path], AbstractContextManager[tuple[dict[str, str], dict]]]] = {
    "postgres": postgres_scratch,
    "spark": spark_scratch,
}
ENGINES_UNDER_TEST = [
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("spark", marks=pytest.mark.spark, id="spark"),
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Built]]:
    """The default sample, ingested and built on DuckDB."""
    from crm.sample_data import GenerationConfig, generate

    data_dir = tmp_path_factory.mktemp("engines") / "data"
    generate(data_dir, GenerationConfig())
    env = _base_env(data_dir)
    ingest_seconds = _run([str(VENV_BIN / "python"), "-m", "crm.ingest", "--no-docs"], env)
    print(f"\ningestion of the default sample: {ingest_seconds:.1f} s")
    built = _build("duckdb", data_dir, env, {"warehouse": data_dir / "warehouse.duckdb"})
    yield data_dir, built


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("engine", ENGINES_UNDER_TEST)
def test_engine_builds_everything_and_matches_duckdb(
    reference: tuple[Path, Built], engine: str, record_property: Callable[[str, object], None]
) -> None:
    data_dir, duckdb_build = reference
    with SCRATCH[engine](data_dir) as (extra_env, options):
        built = _build(engine, data_dir, {**_base_env(data_dir), **extra_env}, options)
        record_property(f"{engine}_build_seconds", round(built.wall_seconds, 1))
        record_property("duckdb_build_seconds", round(duckdb_build.wall_seconds, 1))
        started = time.perf_counter()
        reference_engine = load_engine("duckdb", **duckdb_build.options)
        other = load_engine(engine, **options)
        try:
            result = compare_engines(reference_engine, other)
        finally:
            reference_engine.close()
            other.close()
        print(f"comparison duckdb vs {engine}: {time.perf_counter() - started:.1f} s")
        if engine == "postgres":
            incremental = _postgres_incremental_monthly_runs(data_dir, options["url"])
    report = format_report("duckdb", engine, result)
    print(report)
    assert not any(result.values()), report
    if engine == "postgres":
        # the month spine and the monthly RFM history are incremental (custom strategy replace_from)
        # on PostgreSQL as on DuckDB: after the reference date moves back two months and forward
        # again, each equals its full refresh
        assert incremental and all(v == 0 for v in incremental.values()), incremental
    rows = {mart: len(load_engine("duckdb", **duckdb_build.options).fetch(f"select * from marts.{mart}")[1])
            for mart in result}  # fmt: skip
    assert all(rows.values()), f"empty marts compared: {rows}"


#: The incremental monthly models, their upstream tables, and the columns compared (all but _computed_at).
MONTHLY_CHAIN = (
    "int_reference_dates_resolved",
    "int_calendar_months_generated",
    "int_customer_months_spined",
    "customer_rfm_monthly",
)
MONTHLY_TABLES = ("intermediate.int_customer_months_spined", "marts.customer_rfm_monthly")


def _postgres_incremental_monthly_runs(data_dir: Path, url: str) -> dict[str, int]:
    """On the built PostgreSQL warehouse: run the monthly chain incrementally with the reference date
    two months back, then at its default again; after each run, count the rows that differ from a
    full refresh of the two models (either way)."""
    import psycopg2

    from crm.engines.postgres import PostgresEngine

    engine = PostgresEngine.from_env(url=url, pii_salt=PII_SALT)
    env = {**_base_env(data_dir), **engine.dbt_env(), "CRM_DBT_TARGET": "postgres"}
    project = str(REPO / "dbt_project")
    target = data_dir / "dbt_target_postgres_incremental"

    def dbt(*args: str) -> None:
        _run(
            [str(VENV_BIN / "dbt"), "run", "--project-dir", project, "--profiles-dir", project,
             "--target-path", str(target), "--log-path", str(target / "logs"), *args],
            env,
        )  # fmt: skip

    conn = psycopg2.connect(url)
    conn.autocommit = True
    differences: dict[str, int] = {}
    try:
        with conn.cursor() as cur:
            cur.execute("select max(month_start) from intermediate.int_customer_months_spined")
            (reference_month,) = cur.fetchone()
            back = reference_month
            for _ in range(2):
                back = (back.replace(day=1) - dt.timedelta(days=1)).replace(day=15)
            for label, dbt_vars in (("back", {"reference_date": back.isoformat()}), ("forward", {})):
                dbt("--select", *MONTHLY_CHAIN, "--vars", json.dumps(dbt_vars))
                columns = {}
                for table in MONTHLY_TABLES:
                    schema, name = table.split(".")
                    cur.execute(
                        "select column_name from information_schema.columns where table_schema = %s "
                        "and table_name = %s and column_name <> '_computed_at' order by ordinal_position",
                        [schema, name],
                    )
                    columns[table] = ", ".join(c for (c,) in cur.fetchall())
                    cur.execute(f"drop table if exists public.{name}_incremental")
                    cur.execute(
                        f"create table public.{name}_incremental as select {columns[table]} from {table}"
                    )
                dbt("--select", *MONTHLY_CHAIN[2:], "--full-refresh", "--vars", json.dumps(dbt_vars))
                for table in MONTHLY_TABLES:
                    name = table.split(".")[1]
                    full = f"select {columns[table]} from {table}"
                    incremental = f"select * from public.{name}_incremental"
                    sides = {
                        "only incremental": (incremental, full),
                        "only full refresh": (full, incremental),
                    }
                    for side, (left, right) in sides.items():
                        cur.execute(f"select count(*) from ({left} except all {right}) as difference")
                        differences[f"{label}: {name} {side}"] = cur.fetchone()[0]
            cur.execute("select max(month_start) from intermediate.int_customer_months_spined")
            assert cur.fetchone() == (reference_month,)
    finally:
        conn.close()
    return differences


def test_comparison_names_mart_key_and_column() -> None:
    columns = ["customer_id", "net_revenue", "retention_rate", "rfm_segment", "first_purchase_date"]
    reference = (
        columns,
        [
            ("C1", Decimal("10.0000"), 0.5, "Champions", dt.date(2024, 1, 1)),
            ("C2", Decimal("3.3300"), None, "Lost", None),
            ("C3", Decimal("1.0000"), 0.25, "New", None),
        ],
    )
    other = (
        [c.upper() for c in columns],  # engines may report upper-case names
        [
            ("C1", Decimal("10.004"), 0.5 + 1e-12, "Champions", dt.date(2024, 1, 1)),  # same to the cent
            ("C2", Decimal("3.3400"), 1e-12, "Lost", None),  # a cent off; a ratio where none was
            ("C4", Decimal("1.0000"), 0.25, "New", None),  # C3 missing, C4 extra
        ],
    )
    found = {(m.key, m.column) for m in compare_tables("dim_customers", ("customer_id",), reference, other)}
    assert found == {
        (("C2",), "net_revenue"),
        (("C2",), "retention_rate"),
        (("C3",), "<row>"),
        (("C4",), "<row>"),
    }
    mismatch = compare_tables("dim_customers", ("customer_id",), reference, other)[0]
    assert "dim_customers[" in str(mismatch)
    shifted = (columns, [("C1", Decimal("10.0000"), 0.5 + 1e-6, "Champions", dt.date(2024, 1, 1))])
    (ratio,) = compare_tables("dim_customers", ("customer_id",), (columns, reference[1][:1]), shifted)
    assert ratio.column == "retention_rate"


@pytest.mark.postgres
def test_copy_to_postgres_keeps_nulls_empty_strings_and_exact_types(tmp_path: Path) -> None:
    """COPY round trip: NULL vs '' and quotes/newlines, decimals, dates, timestamptz, booleans."""
    pytest.importorskip("psycopg2", reason="the postgres extra is not installed")
    from crm.engines.pg_copy import TransferError, copy_duckdb_to_postgres, copy_postgres_to_duckdb

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(
        "create table t as select * from (values "
        "(1, 'plain', 1.2345::decimal(18,4), date '2024-02-29',"
        " timestamptz '2024-01-01 10:00:00.123456+00', true),"
        "(2, '', -0.0001::decimal(18,4), null, null, false),"
        "(3, null, null, date '1900-01-01', timestamptz '2025-12-31 23:59:59+08', null),"
        "(4, 'say \"hi\", then\nleave', 12::decimal(18,4), date '2024-01-01', null, true)"
        ") as v(id, s, d, day, ts, flag)"
    )
    expected = con.execute("select * from t order by id").fetchall()
    with postgres_scratch(tmp_path) as (_, options):
        from crm.engines.postgres import PostgresSettings

        settings = PostgresSettings.from_url(options["url"])
        pg = settings.connect()
        try:
            assert copy_duckdb_to_postgres(con, "select * from t", pg, "raw", "t", batch_rows=2) == 4
            with pg.cursor() as cur:
                cur.execute("select id, s, d, day, ts, flag from raw.t order by id")
                shipped = cur.fetchall()
            pg.rollback()
            assert [row[:4] + row[5:] for row in shipped] == [row[:4] + row[5:] for row in expected]
            assert [row[4] for row in shipped] == [row[4] for row in expected]
            assert copy_postgres_to_duckdb(pg, "raw", "t", con, "back") == 4
            assert con.execute("select * from back order by id").fetchall() == expected
            # Text sorts by code point as in DuckDB, also in a linguistically collating database.
            words = ["apple", "Zeta", "_x", "éclair", "Apple"]
            values = ", ".join(f"('{w}')" for w in words)
            copy_duckdb_to_postgres(con, f"select * from (values {values}) as v(s)", pg, "raw", "words")
            with pg.cursor() as cur:
                cur.execute("select s from raw.words order by s")
                assert [s for (s,) in cur.fetchall()] == sorted(words)
            pg.rollback()
            with pytest.raises(TransferError, match="INTERVAL"):
                copy_duckdb_to_postgres(con, "select interval 1 day as i", pg, "raw", "bad")
        finally:
            pg.close()


def test_phase_check_rejects_missing_and_repeated_nodes() -> None:
    from crm.engines.build import BuildError, BuildReport, PhaseResult, check_complete

    expected = {"model.p.a", "test.p.t", "unit_test.p.a.u"}
    complete = BuildReport(
        "x", [PhaseResult("1", 1.0, ["model.p.a"]), PhaseResult("5", 1.0, ["test.p.t", "unit_test.p.a.u"])]
    )
    check_complete(complete, expected)
    missing = BuildReport("x", [PhaseResult("1", 1.0, ["model.p.a"])])
    with pytest.raises(BuildError, match=r"2 never ran"):
        check_complete(missing, expected)
    repeated = BuildReport("x", [*complete.phases, PhaseResult("6", 1.0, ["test.p.t"])])
    with pytest.raises(BuildError, match=r"1 ran twice \['test.p.t'\]"):
        check_complete(repeated, expected)


def test_postgres_settings_and_salt_options() -> None:
    from crm.engines.postgres import PostgresSettings, with_pii_salt

    settings = PostgresSettings.from_url("postgresql://crm:example%40pw@db.example:6543/warehouse")
    assert (settings.host, settings.port, settings.user, settings.password, settings.dbname) == (
        "db.example", 6543, "crm", "example@pw", "warehouse",
    )  # fmt: skip
    assert PostgresSettings.from_url(settings.url) == settings
    assert settings.dbt_env()["CRM_PG_PORT"] == "6543"
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        PostgresSettings.from_url("mysql://x@y/z")
    assert with_pii_salt("-c search_path=x -c crm.pii_salt=old", "new salt") == (
        "-c search_path=x -c crm.pii_salt=new\\ salt"
    )
