"""crm_transform: cosmos rendering from the parsed manifest, run vars, idempotent re-runs and backfills.

The structural tests parse the DAG file in a subprocess (as the dag-processor does). The slow test
runs the real DAG twice with ``airflow dags test`` for the same past logical date (a backfill of an
interval whose data is partly in the future of its as-of date) on a small ingested sample, and
compares a checksum of every mart and snapshot table between the runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pendulum
import pytest

from crm.config import Settings
from crm.orchestration.dbt import dbt_env, production_dbt_env
from crm.orchestration.dbt_tasks import dbt_vars_json
from crm.orchestration.tasks import resolve_reference_date
from tests.conftest import REPO_ROOT

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SAMPLE_SALES_LINES = 1_500
SAMPLE_PERSONS = 300
#: 2025-07-01 03:00 in Taipei: the daily run that covers 2025-06-30 (the sample runs to 2025-12-31).
BACKFILL_LOGICAL_DATE = "2025-06-30T19:00:00+00:00"
BACKFILL_AS_OF = dt.date(2025, 7, 1)
#: Written by the run itself, so they differ between two runs over the same data.
RUN_COLUMNS = {"customer_clv": ("run_id", "scored_at")}

_PROBE = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    dag = bag.dags.get("crm_transform")
    tasks = {} if dag is None else {
        t.task_id: {"type": type(t).__name__, "pool": t.pool, "retries": t.retries,
                    "trigger_rule": str(t.trigger_rule), "upstream": sorted(t.upstream_task_ids),
                    "outlets": [getattr(o, "name", None) for o in t.outlets]}
        for t in dag.tasks
    }
    stats = {s.file: s.duration.total_seconds() for s in bag.dagbag_stats}
    heavy = sorted(m for m in ("dbt", "pymc_marketing", "great_expectations") if m in sys.modules)
    print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "tasks": tasks,
                      "seconds": max(stats.values()), "heavy": heavy}))
    """
)


def _env(data_dir: Path, airflow_home: Path, **extra: str) -> dict[str, str]:
    inherited = {
        k: v for k, v in os.environ.items() if k not in ("CRM_DBT_MANIFEST_PATH", "CRM_DBT_EXECUTION_MODE")
    }
    env = {
        **inherited,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "dags"), os.environ.get("PYTHONPATH", "")]),
        "CRM_DATA_DIR": str(data_dir),
        "CRM_WAREHOUSE_PATH": str(data_dir / "warehouse.duckdb"),
        "CRM_SETTLE_SECONDS": "0",
        "CRM_PII_SALT": "test-salt-for-test_transform_dag",
        "GX_ANALYTICS_ENABLED": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **extra,
    }
    return env


def _run(command: list[str], env: dict[str, str], timeout: float = 900) -> str:
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert out.returncode == 0, (
        f"{' '.join(command)} exited {out.returncode}:\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
    )
    return out.stdout + out.stderr


def _parse(env: dict[str, str]) -> dict:
    out = _run([sys.executable, "-c", _PROBE, str(REPO_ROOT / "dags" / "crm_transform.py")], env, timeout=300)
    return json.loads(out.strip().splitlines()[-1])


@dataclass(frozen=True)
class Project:
    data_dir: Path
    airflow_home: Path

    def env(self, **extra: str) -> dict[str, str]:
        return _env(self.data_dir, self.airflow_home, **extra)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A small ingested sample, its parsed dbt manifest, and an initialised SQLite Airflow home."""
    from crm.sample_data import GenerationConfig, generate

    root = tmp_path_factory.mktemp("transform")
    project = Project(root / "data", root / "airflow_home")
    project.airflow_home.mkdir()
    generate(project.data_dir, GenerationConfig(sales_lines=SAMPLE_SALES_LINES, persons=SAMPLE_PERSONS))
    env = project.env()
    _run([sys.executable, "-m", "crm.ingest", "--no-docs"], env)
    _run([sys.executable, "-m", "crm.orchestration.dbt_manifest"], env)
    _run([AIRFLOW, "db", "migrate"], env)
    _run([AIRFLOW, "pools", "set", "duckdb_writer", "1", "DuckDB allows one writer"], env)
    return project


# --- run vars ---------------------------------------------------------------------------------


def test_reference_date_is_the_interval_end_in_the_dags_timezone() -> None:
    # 2025-06-30T19:00Z is 2025-07-01 03:00 in Taipei: the daily run covering 30 June.
    end = pendulum.datetime(2025, 6, 30, 19, tz="UTC")
    assert resolve_reference_date("", end) == "2025-07-01"
    assert resolve_reference_date(None, end) == "2025-07-01"
    assert resolve_reference_date("latest", end) is None
    assert resolve_reference_date("2024-03-01", end) == "2024-03-01"
    assert resolve_reference_date("", None) is None
    with pytest.raises(ValueError, match="reference_date '2024-13-01'"):
        resolve_reference_date("2024-13-01", end)


def test_dbt_vars_are_json_for_the_dbt_command_line() -> None:
    end = pendulum.datetime(2025, 6, 30, 19, tz="UTC")
    scheduled = SimpleNamespace(data_interval_end=end, run_after=end)
    assert json.loads(dbt_vars_json({"reference_date": ""}, scheduled)) == {"reference_date": "2025-07-01"}
    assert json.loads(dbt_vars_json({"reference_date": "latest"}, scheduled)) == {}
    # Asset-triggered runs have no data interval: as of the day they run.
    triggered = SimpleNamespace(data_interval_end=None, run_after=pendulum.datetime(2026, 3, 1, 17, tz="UTC"))
    assert json.loads(dbt_vars_json({"reference_date": ""}, triggered)) == {"reference_date": "2026-03-02"}


def test_pipeline_dbt_builds_leave_unit_tests_out_unless_told_to_run_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DBT_EXCLUDE_RESOURCE_TYPES", raising=False)
    monkeypatch.delenv("CRM_DBT_UNIT_TESTS", raising=False)
    settings = Settings.from_env()
    assert dbt_env(settings)["DBT_EXCLUDE_RESOURCE_TYPES"] == "unit_test"
    assert production_dbt_env() == {"DBT_EXCLUDE_RESOURCE_TYPES": "unit_test"}

    monkeypatch.setenv("CRM_DBT_UNIT_TESTS", "run")
    assert production_dbt_env() == {}
    assert "DBT_EXCLUDE_RESOURCE_TYPES" not in dbt_env(settings)

    monkeypatch.setenv("CRM_DBT_UNIT_TESTS", "sometimes")
    with pytest.raises(ValueError, match="CRM_DBT_UNIT_TESTS='sometimes'"):
        production_dbt_env()

    # dbt's own variable, when set, wins.
    monkeypatch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "snapshot")
    assert dbt_env(settings)["DBT_EXCLUDE_RESOURCE_TYPES"] == "snapshot"


# --- rendering --------------------------------------------------------------------------------


def test_every_dbt_node_is_a_task_and_tests_run_after_their_model(project: Project) -> None:
    parsed = _parse(project.env())
    assert parsed["errors"] == {}
    assert parsed["heavy"] == [], "dbt / PyMC / GX must not be imported while the DAG is parsed"
    assert parsed["seconds"] < 5.0
    tasks = parsed["tasks"]
    manifest = json.loads((project.data_dir / "dbt" / "manifest" / "manifest.json").read_text())
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for model in models:
        assert f"dbt_build.{model}.run" in tasks, f"model {model} has no task"
    tested = {
        parent.split(".")[-1]
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("test", "unit_test")
        for parent in node["depends_on"]["nodes"]
    }
    for model in models & tested:
        assert f"dbt_build.{model}.run" in tasks[f"dbt_build.{model}.test"]["upstream"]

    # One dbt invocation writes the warehouse, in the writer pool; the sensors only read XCom.
    writers = [t for t, v in tasks.items() if v["pool"] == "duckdb_writer"]
    assert sorted(writers) == ["dbt_build.dbt_producer_watcher", "fit_clv", "refresh_clv_dependants"]
    sensors = [v for t, v in tasks.items() if t.endswith((".run", ".test", ".seed", ".snapshot"))]
    assert sensors and all(v["retries"] == 0 and v["pool"] == "default_pool" for v in sensors)
    roots = [t for t, v in tasks.items() if t.startswith("dbt_build.") and v["upstream"] == []]
    assert roots == ["dbt_build.dbt_producer_watcher"]

    # The CLV step runs after every dbt leaf; the models reading its scores are rebuilt after it,
    # and that last task announces the marts.
    dbt_tasks = {t: v for t, v in tasks.items() if t.startswith("dbt_build.")}
    leaves = set(dbt_tasks) - {u for v in dbt_tasks.values() for u in v["upstream"]}
    assert leaves and leaves <= set(tasks["fit_clv"]["upstream"])
    assert tasks["fit_clv"]["retries"] >= 1
    assert tasks["refresh_clv_dependants"]["upstream"] == ["fit_clv"]
    assert tasks["refresh_clv_dependants"]["outlets"] == ["marts"]
    assert [t for t, v in tasks.items() if v["outlets"]] == ["refresh_clv_dependants"]


def test_local_mode_puts_every_dbt_task_in_the_writer_pool(project: Project) -> None:
    tasks = _parse(project.env(CRM_DBT_EXECUTION_MODE="local"))["tasks"]
    dbt_tasks = {t: v for t, v in tasks.items() if t.startswith("dbt_build.")}
    assert len(dbt_tasks) > 50
    assert {v["pool"] for v in dbt_tasks.values()} == {"duckdb_writer"}
    assert all(v["retries"] == 0 for t, v in dbt_tasks.items() if t.endswith(".test"))
    assert all(v["retries"] >= 1 for t, v in dbt_tasks.items() if t.endswith(".run"))


def test_without_a_manifest_the_dag_falls_back_to_one_dbt_build_task(
    project: Project, tmp_path: Path
) -> None:
    env = project.env(CRM_DBT_MANIFEST_PATH=str(tmp_path / "missing" / "manifest.json"))
    parsed = _parse(env)
    assert parsed["errors"] == {}
    assert set(parsed["tasks"]) == {"dbt_build", "fit_clv", "refresh_clv_dependants"}
    assert parsed["tasks"]["dbt_build"]["pool"] == "duckdb_writer"
    assert parsed["tasks"]["fit_clv"]["upstream"] == ["dbt_build"]


# --- idempotency and backfills ----------------------------------------------------------------


def _checksums(warehouse: Path) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent md5 of every mart and snapshot table."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            """
            select table_schema, table_name from information_schema.tables
            where table_schema in ('marts', 'snapshots') and table_name <> 'clv_model_runs'
            order by all
            """
        ).fetchall()
        sums = {}
        for schema, table in tables:
            excluded = RUN_COLUMNS.get(table)
            columns = f"* exclude ({', '.join(excluded)})" if excluded else "*"
            sums[f"{schema}.{table}"] = con.execute(
                f"""
                select count(*), md5(coalesce(string_agg(row_text, chr(10) order by row_text), ''))
                from (
                    select cast(t as varchar) as row_text
                    from (select {columns} from {schema}.{table}) as t
                )
                """
            ).fetchone()
    return sums


def _dags_test(project: Project, logical_date: str) -> None:
    out = _run([AIRFLOW, "dags", "test", "crm_transform", logical_date], project.env(), timeout=1200)
    finished = re.findall(r"DagRun Finished: dag_id=crm_transform,.*?state=(\w+)", out)
    failures = re.findall(r"CRM PIPELINE FAILURE .*", out)
    assert finished == ["success"], f"crm_transform {logical_date}: {finished} {failures}\n{out[-3000:]}"
    # A run whose logical date precedes the DAG's start date gets no tasks and "succeeds" empty.
    assert "end task task_id=fit_clv" in out, f"crm_transform {logical_date} did not run fit_clv"


@pytest.mark.slow
def test_rerunning_a_past_interval_gives_the_same_warehouse(project: Project) -> None:
    warehouse = project.data_dir / "warehouse.duckdb"
    _dags_test(project, BACKFILL_LOGICAL_DATE)
    first = _checksums(warehouse)
    _dags_test(project, BACKFILL_LOGICAL_DATE)
    second = _checksums(warehouse)

    for table in ("marts.dim_customers", "marts.fct_sales", "marts.customer_clv"):
        assert first[table][0] > 0, f"{table} is empty"
    changed = {
        table: (first[table], second.get(table)) for table in first if first[table] != second.get(table)
    }
    assert changed == {}, f"a re-run of the same interval changed: {changed}"
    assert set(second) == set(first)

    # The producer's build ran the data tests but, like every pipeline build, not the dbt unit tests.
    results = json.loads((project.data_dir / "dbt" / "target" / "run_results.json").read_text())
    kinds = {r["unique_id"].split(".")[0] for r in results["results"]}
    assert {"model", "test"} <= kinds and "unit_test" not in kinds, kinds

    with duckdb.connect(str(warehouse), read_only=True) as con:
        # The backfill is as of its own interval: dbt's reference date is that run's, not today's.
        assert con.execute(
            "select reference_date from intermediate.int_reference_dates_resolved"
        ).fetchone() == (BACKFILL_AS_OF,)
        (calibration_end,) = con.execute(
            "select distinct calibration_end_date from marts.customer_clv"
        ).fetchone()
        assert calibration_end == BACKFILL_AS_OF - dt.timedelta(days=1)
        # One CLV run row per transform run, with identical estimates.
        runs = con.execute(
            "select status, bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b, gg_p, gg_q, gg_v "
            "from marts.clv_model_runs"
        ).fetchall()
        assert len(runs) == 2 and runs[0] == runs[1]


# --- another engine (CRM_WAREHOUSE_ENGINE) ------------------------------------------------------


@pytest.mark.parametrize("engine", ["postgres", "spark"])
def test_with_another_engine_the_dag_ships_raw_and_builds_there_in_one_task(
    engine: str, tmp_path: Path
) -> None:
    parsed = _parse(_env(tmp_path / "data", tmp_path / "home", CRM_WAREHOUSE_ENGINE=engine))
    assert parsed["errors"] == {}
    assert set(parsed["tasks"]) == {"engine_build"}
    task = parsed["tasks"]["engine_build"]
    # Shipping reads the DuckDB warehouse: it waits for ingestion's writers like every writer does.
    assert task["pool"] == "duckdb_writer"
    # Its own asset: crm_publish (DuckDB copies) is not triggered by marts built elsewhere.
    assert task["outlets"] == [f"marts.{engine}"]
    assert parsed["heavy"] == []


def test_an_unknown_engine_fails_the_dag_import_naming_the_variable(tmp_path: Path) -> None:
    parsed = _parse(_env(tmp_path / "data", tmp_path / "home", CRM_WAREHOUSE_ENGINE="oracle"))
    assert parsed["tasks"] == {}
    (error,) = parsed["errors"].values()
    assert "CRM_WAREHOUSE_ENGINE='oracle'" in error and "postgres" in error


@pytest.mark.slow
@pytest.mark.postgres
def test_the_transform_dag_builds_the_marts_on_postgres(project: Project) -> None:
    """`airflow dags test crm_transform` with CRM_WAREHOUSE_ENGINE=postgres: raw shipped over COPY,
    the whole project built and tested there, as of the run's interval."""
    pytest.importorskip("psycopg2", reason="the postgres extra is not installed")
    from crm.engines.postgres import PostgresSettings, temporary_database

    server = PostgresSettings.from_url(
        os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    with temporary_database(server, prefix="crm_transform_it") as database:
        env = project.env(CRM_WAREHOUSE_ENGINE="postgres", CRM_PG_URL=database.url)
        out = _run([AIRFLOW, "dags", "test", "crm_transform", BACKFILL_LOGICAL_DATE], env, timeout=1200)
        finished = re.findall(r"DagRun Finished: dag_id=crm_transform,.*?state=(\w+)", out)
        assert finished == ["success"], out[-3000:]
        assert "end task task_id=engine_build" in out, out[-3000:]
        with contextlib.closing(database.connect()) as con, con.cursor() as cur:
            cur.execute("select reference_date from intermediate.int_reference_dates_resolved")
            assert cur.fetchall() == [(BACKFILL_AS_OF,)]
            cur.execute("select count(*), count(distinct customer_id) from marts.dim_customers")
            customers, distinct = cur.fetchone()
            assert customers == distinct > 0
    with duckdb.connect(str(project.data_dir / "warehouse.duckdb"), read_only=True) as con:
        (raw_sales,) = con.execute("select count(*) from raw.sales").fetchone()
    assert raw_sales > 0  # shipping read the warehouse and left it as it was
