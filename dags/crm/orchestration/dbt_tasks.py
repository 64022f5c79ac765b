"""``crm_transform``'s dbt build as Airflow tasks: one per seed, model and snapshot, plus each model's tests.

Rendered by astronomer-cosmos from the manifest that ``dbt parse`` wrote at build time
(``crm.orchestration.dbt_manifest``), never by parsing the dbt project while Airflow parses DAGs.

Execution mode (``$CRM_DBT_EXECUTION_MODE``, measured in docs/orchestration.md):

- ``watcher`` (default): one producer task runs a single ``dbt build`` of the whole project, and
  one sensor per node turns the result dbt reported for that node into a task state once the
  producer has finished. The whole build costs one dbt invocation. The producer is the only task
  that writes the warehouse: it runs in the ``duckdb_writer`` pool; the sensors only read XCom.
- ``local``: one dbt invocation per node (``dbt run/seed/snapshot/test --select <node>``) in the
  worker's Python (dbtRunner). Every node task writes, so all of them share the writer pool.

Retries (cosmos' watcher caveats): the producer cannot be retried (cosmos skips a second attempt
rather than run a second ``dbt build`` in the same DAG run), and a retried or cleared sensor would
fall back to running dbt for its node *outside* the writer pool. So in watcher mode the producer and
the sensors have no Airflow retries; a failed transform is re-run as a new DAG run (idempotent, see
docs/orchestration.md). In local mode every node retries with backoff, except failed data tests.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MethodType
from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule

from crm.config import Settings
from crm.orchestration.dbt import production_dbt_env
from crm.orchestration.dbt_manifest import manifest_path

if TYPE_CHECKING:
    from airflow.sdk import TaskGroup

log = logging.getLogger(__name__)

GROUP_ID = "dbt_build"
DBT_PROJECT_NAME = "crm_warehouse"
EXECUTION_MODE_ENV = "CRM_DBT_EXECUTION_MODE"
EXECUTION_MODES = ("watcher", "local")
#: How often a watcher sensor (or its trigger, once deferred) looks for its node's result.
SENSOR_POKE_INTERVAL_S = 2


def dbt_vars_json(params: Mapping[str, Any], dag_run: object) -> str:
    """The ``--vars`` of this run as JSON (a DAG macro: cosmos templates the operators' ``vars``)."""
    from crm.orchestration.tasks import resolve_reference_date, run_end

    reference_date = resolve_reference_date(params.get("reference_date"), run_end(dag_run))
    return json.dumps({"reference_date": reference_date} if reference_date else {})


def execution_mode() -> str:
    mode = os.environ.get(EXECUTION_MODE_ENV, "watcher").strip().lower()
    if mode not in EXECUTION_MODES:
        raise ValueError(f"{EXECUTION_MODE_ENV}={mode!r}: expected one of {', '.join(EXECUTION_MODES)}")
    return mode


def dbt_task_group(*, writer_pool: str, default_args: Mapping[str, Any]) -> TaskGroup | None:
    """The cosmos ``DbtTaskGroup`` for the whole project, or None when no manifest has been parsed."""
    settings = Settings.from_env()
    manifest = manifest_path(settings)
    if not manifest.is_file():
        log.warning(
            "crm_transform: no dbt manifest at %s, so dbt runs as a single `dbt build` task; "
            "run `python -m crm.orchestration.dbt_manifest` (make dbt-manifest) for one task per node",
            manifest,
        )
        return None

    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    mode = execution_mode()
    project_dir = settings.dbt_project_dir
    group = DbtTaskGroup(
        group_id=GROUP_ID,
        project_config=ProjectConfig(
            dbt_project_path=project_dir,
            manifest_path=manifest,
            project_name=DBT_PROJECT_NAME,
            install_dbt_deps=False,
            # Cosmos runs dbt in a temporary copy of the project: the profile's relative default
            # path would point into it, so the warehouse path is passed absolute.
            # Like every pipeline build, the producer's leaves dbt unit tests out (crm.orchestration.dbt).
            env_vars={"CRM_WAREHOUSE_PATH": str(settings.warehouse_path), **production_dbt_env()},
        ),
        profile_config=ProfileConfig(
            profile_name=DBT_PROJECT_NAME,
            target_name=os.environ.get("CRM_DBT_TARGET", "dev"),
            profiles_yml_filepath=project_dir / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER if mode == "watcher" else ExecutionMode.LOCAL,
            # The producer runs dbt as a child process: in-process (dbtRunner) dbt-duckdb keeps its
            # read-write connection open, and under `airflow dags test` (one process for all tasks)
            # the CLV step could then not open the warehouse. Per-node local tasks use dbtRunner,
            # which saves a Python start per node.
            invocation_mode=InvocationMode.SUBPROCESS if mode == "watcher" else InvocationMode.DBT_RUNNER,
            dbt_executable_path=_dbt_executable(),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=False,
            # A test on several models (e.g. a singular test joining two of them) runs in its own
            # task after all of them, not after the first. (The watcher producer's single build
            # orders tests itself.)
            should_detach_multiple_parents_tests=mode == "local",
        ),
        operator_args={
            # Keep the build's run_results.json once cosmos' temporary project copy is gone.
            "callback": "crm.orchestration.dbt_results.keep_run_results",
            "vars": "{{ crm_dbt_vars(params, dag_run) }}",
            "full_refresh": "{{ params.full_refresh }}",
            "install_deps": False,
        },
        default_args=dict(default_args),
    )
    _assign_pools_and_retries(group, mode, writer_pool)
    return group


def _dbt_executable() -> str:
    """dbt beside the interpreter (the venv's, which Airflow's PATH may not include), else PATH's."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def _assign_pools_and_retries(group: TaskGroup, mode: str, writer_pool: str) -> None:
    from cosmos.operators.local import DbtTestLocalOperator
    from cosmos.operators.watcher import DbtConsumerWatcherSensor, DbtProducerWatcherOperator

    tasks = _tasks_in(group)
    if mode == "local":
        for task in tasks:
            task.pool = writer_pool
            if isinstance(task, DbtTestLocalOperator):
                task.retries = 0  # a failed data test fails again on retry
        return

    producer = next(task for task in tasks if isinstance(task, DbtProducerWatcherOperator))
    producer.pool = writer_pool
    producer.retries = 0
    # Cosmos gives the producer top priority; in the writer pool that would let a transform run
    # triggered by the first raw asset jump ahead of the ingestion tasks still loading other sources.
    producer.priority_weight = 1
    in_group = {task.task_id for task in tasks}
    for task in tasks:
        if not isinstance(task, DbtConsumerWatcherSensor):
            continue
        task.retries = 0
        task.poke_interval = SENSOR_POKE_INTERVAL_S
        task._fallback_to_non_watcher_run = MethodType(_refuse_fallback_run, task)
        if not task.upstream_task_ids & in_group:
            # Root sensors wait for the producer to finish (success or not) instead of cosmos'
            # "start at once" (only wired for DbtDag): `airflow dags test` runs one task at a time,
            # and a sensor started before the producer would wait for it forever.
            producer >> task
            task.trigger_rule = TriggerRule.ALL_DONE


def _refuse_fallback_run(sensor: Any, try_number: int, context: Any) -> bool:
    """Replaces cosmos' fallback, which would run dbt for the node outside the single-writer pool."""
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(
        f"{sensor.task_id}: the dbt build in {sensor.producer_task_id} did not report this node "
        f"(try {try_number}); see that task's log, then trigger a new crm_transform run"
    )


def _tasks_in(group: TaskGroup) -> list[Any]:
    from airflow.sdk import TaskGroup as SdkTaskGroup

    tasks: list[Any] = []
    for child in group.children.values():
        tasks.extend(_tasks_in(child) if isinstance(child, SdkTaskGroup) else [child])
    return tasks
