"""Transform DAG: dbt builds staging, identity resolution, classification and marts; then the CLV model."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, get_current_context, task

from crm.config import warehouse_engine
from crm.orchestration.assets import MARTS_ASSET, RAW_BATCH_ASSET, WRITER_POOL, engine_marts_asset
from crm.orchestration.dbt_tasks import GROUP_ID, dbt_task_group, dbt_vars_json
from crm.orchestration.defaults import DEFAULT_ARGS, START_DATE, TIMEZONE

DOC = """
### CRM transform
Builds the dbt project (seeds, staging views, identity resolution, classification, marts, the
snapshot, data tests and unit tests) over the DuckDB warehouse, then fits the CLV models
(BG/NBD + Gamma-Gamma) into `marts.customer_clv` / `marts.clv_model_runs`, rebuilds the models
that carry the scores (`dim_customers` and its dependants, with their tests), and emits the
`marts` asset that triggers `crm_publish`. Runs whenever an ingestion run loaded new data (the `raw`
asset, emitted once per ingestion run), and daily at
03:00 Asia/Taipei so nothing waits forever.

The `dbt_build` group shows every dbt model, seed and snapshot as a task, each model's tests in a
task after it (astronomer-cosmos, rendered from the manifest `dbt parse` wrote at build time;
without a manifest the group is a single `dbt build` task). Default execution: one producer
`dbt build` in the `duckdb_writer` pool, per-node sensors that mirror its results.

Params (manual runs): `reference_date` — the as-of date for RFM, lifecycle, churn and CLV: empty
for the run's data interval end, `latest` for the day after the newest order, or an ISO date
(backfills); `full_refresh` — rebuild incremental models from scratch.

Failed data tests fail without retries (a retry cannot fix data); transient errors of the other
tasks retry with exponential backoff. See docs/orchestration.md.

With `CRM_WAREHOUSE_ENGINE=postgres` or `spark` (read when the DAG is parsed) the DAG is one task,
`engine_build`: it ships the validated raw tables to that engine (COPY / Parquet external tables)
and builds the same dbt project there in phases around the identity step (docs/engines.md). BI
tools read the marts on that engine; the CLV fit and `crm_publish` stay with the DuckDB default.
"""

ENGINE = warehouse_engine()


@dag(
    dag_id="crm_transform",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 3 * * *", timezone=TIMEZONE),
        assets=RAW_BATCH_ASSET,
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["crm", "dbt", "clv"],
    doc_md=DOC,
    params={
        "reference_date": Param(
            "", type="string", description="'' = data interval end, 'latest', or YYYY-MM-DD"
        ),
        "full_refresh": Param(False, type="boolean", description="rebuild incremental models from scratch"),
    },
    user_defined_macros={"crm_dbt_vars": dbt_vars_json},
)
def crm_transform() -> None:
    if ENGINE != "duckdb":

        @task(
            pool=WRITER_POOL,
            outlets=[engine_marts_asset(ENGINE)],
            doc_md=f"Ship raw tables to {ENGINE} and `dbt build` the whole project there in phases.",
        )
        def engine_build() -> dict:
            from crm.orchestration.tasks import engine_build, resolve_reference_date, run_end

            context = get_current_context()
            params = context["params"]
            reference_date = resolve_reference_date(params.get("reference_date"), run_end(context["dag_run"]))
            return engine_build(ENGINE, reference_date, full_refresh=bool(params.get("full_refresh")))

        engine_build()
        return

    dbt_build = dbt_task_group(writer_pool=WRITER_POOL, default_args=DEFAULT_ARGS)
    if dbt_build is None:

        @task(task_id=GROUP_ID, pool=WRITER_POOL, doc_md="`dbt build` of the whole project (no manifest).")
        def dbt_build_all() -> dict:
            from crm.orchestration.tasks import dbt_build, resolve_reference_date, run_end

            context = get_current_context()
            params = context["params"]
            reference_date = resolve_reference_date(params.get("reference_date"), run_end(context["dag_run"]))
            return dbt_build(reference_date, full_refresh=bool(params.get("full_refresh")))

        dbt_build = dbt_build_all()

    @task(
        pool=WRITER_POOL,
        doc_md="Fit BG/NBD + Gamma-Gamma to `int_customer_clv_summary`; replace `marts.customer_clv`.",
    )
    def fit_clv() -> dict:
        from crm.orchestration.tasks import fit_clv

        return fit_clv()

    @task(
        pool=WRITER_POOL,
        outlets=[MARTS_ASSET],
        doc_md="`dbt build --select stg_clv__customer_scores+`: dim_customers and its dependants "
        "pick up this run's CLV scores (with their tests).",
    )
    def refresh_clv_dependants() -> dict:
        from crm.orchestration.tasks import (
            CLV_DEPENDANTS_SELECTOR,
            dbt_build,
            resolve_reference_date,
            run_end,
        )

        context = get_current_context()
        reference_date = resolve_reference_date(
            context["params"].get("reference_date"), run_end(context["dag_run"])
        )
        return dbt_build(reference_date, select=CLV_DEPENDANTS_SELECTOR)

    dbt_build >> fit_clv() >> refresh_clv_dependants()


crm_transform()
