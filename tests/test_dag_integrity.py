"""DAG integrity: every DAG imports fast and cleanly, with the conventions operators rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

DAGS_FOLDER = REPO_ROOT / "dags"
EXPECTED_DAGS = {"crm_ingest", "crm_transform", "crm_publish"}
#: Libraries that must not be imported while the DAG files are parsed (they cost seconds each).
HEAVY_MODULES = ("great_expectations", "dbt", "splink", "pymc_marketing", "plotly", "openpyxl", "faker")
PARSE_BUDGET_S = 5.0

_PROBE = textwrap.dedent(
    """
    import json, sys, time
    started = time.monotonic()
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    stats = {s.file: s.duration.total_seconds() for s in bag.dagbag_stats}
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "tags": sorted(dag.tags or []),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "doc_md": bool(dag.doc_md),
            "tasks": {t.task_id: {"retries": t.retries, "pool": t.pool,
                                  "upstream": sorted(t.upstream_task_ids)} for t in dag.tasks},
            "start_date_tz": str(dag.start_date.tzinfo) if dag.start_date else None,
        }
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2].split(",")))
    print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "stats": stats,
                      "dags": dags, "heavy": heavy}))
    """
)


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
    }
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(DAGS_FOLDER), ",".join(HEAVY_MODULES)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dags_import_without_errors(dagbag):
    assert dagbag["errors"] == {}
    assert set(dagbag["dags"]) >= EXPECTED_DAGS


def test_dag_files_parse_within_budget_and_without_heavy_imports(dagbag):
    slow = {f: s for f, s in dagbag["stats"].items() if s > PARSE_BUDGET_S}
    assert slow == {}
    assert dagbag["heavy"] == [], "heavy libraries must be imported inside tasks, not at parse time"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_conventions(dagbag, dag_id):
    dag = dagbag["dags"][dag_id]
    assert dag["tags"] and "crm" in dag["tags"]
    assert dag["catchup"] is False
    assert dag["max_active_runs"] == 1
    assert dag["doc_md"]
    assert dag["start_date_tz"] not in (None, "None")
    for task_id, task in dag["tasks"].items():
        if _is_dbt_watcher_task(dag_id, task_id, task):
            continue
        assert task["retries"] >= 1, f"{dag_id}.{task_id} has no retries"


def _is_dbt_watcher_task(dag_id: str, task_id: str, task: dict) -> bool:
    """Cosmos' watcher tasks have no Airflow retries by design: the producer cannot be retried (one
    `dbt build` per run) and a retried sensor would run dbt outside the writer pool (docs/orchestration.md).
    The DAG renders them from the dbt manifest; without one, dbt is a single retried task."""
    return dag_id == "crm_transform" and task_id.startswith("dbt_build.") and task["retries"] == 0


def test_no_cycles(dagbag):
    for dag_id, dag in dagbag["dags"].items():
        graph = {t: set(v["upstream"]) for t, v in dag["tasks"].items()}
        visiting, done = set(), set()

        def visit(node, graph=graph, visiting=visiting, done=done, dag_id=dag_id):
            assert node not in visiting, f"cycle in {dag_id} through {node}"
            if node in done:
                return
            visiting.add(node)
            for parent in graph[node]:
                visit(parent)
            visiting.discard(node)
            done.add(node)

        for node in graph:
            visit(node)


def test_warehouse_writers_share_the_single_slot_pool(dagbag):
    writers = {("crm_ingest", f"ingest_{s}") for s in ("questionnaires", "reply_cards", "sales")}
    writers |= {("crm_transform", "fit_clv"), ("crm_transform", "refresh_clv_dependants")}
    for dag_id, task_id in writers:
        tasks = dagbag["dags"][dag_id]["tasks"]
        assert task_id in tasks, f"{dag_id}.{task_id} missing"
        assert tasks[task_id]["pool"] == "duckdb_writer"
    # dbt writes from one task: the cosmos watcher producer, or the single `dbt build` without a manifest.
    transform = dagbag["dags"]["crm_transform"]["tasks"]
    dbt_writer = (
        "dbt_build.dbt_producer_watcher" if "dbt_build.dbt_producer_watcher" in transform else "dbt_build"
    )
    assert transform[dbt_writer]["pool"] == "duckdb_writer"
