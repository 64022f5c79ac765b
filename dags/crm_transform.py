"""Transform DAG: dbt builds staging, identity resolution, classification and marts."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, get_current_context, task

from crm.orchestration.assets import MARTS_ASSET, RAW_ASSETS, WRITER_POOL
from crm.orchestration.defaults import DEFAULT_ARGS, START_DATE, TIMEZONE

DOC = """
### CRM transform
Runs `dbt build` (models, snapshots, data tests and unit tests) over the DuckDB warehouse whenever
any raw source asset is updated, and daily at 03:00 Asia/Taipei so nothing waits forever.

Params (manual runs): `reference_date` — the as-of date for RFM, lifecycle and churn: empty for the
run's data interval end, `latest` for the day after the newest order, or an ISO date (backfills);
`full_refresh` — rebuild incremental models from scratch.

Failed data tests fail the task without retries (a retry cannot fix data); transient errors retry
with exponential backoff. The task runs in the single-slot `duckdb_writer` pool.
"""


@dag(
    dag_id="crm_transform",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 3 * * *", timezone=TIMEZONE),
        assets=(RAW_ASSETS["questionnaires"] | RAW_ASSETS["reply_cards"] | RAW_ASSETS["sales"]),
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["crm", "dbt"],
    doc_md=DOC,
    params={
        "reference_date": Param(
            "", type="string", description="'' = data interval end, 'latest', or YYYY-MM-DD"
        ),
        "full_refresh": Param(False, type="boolean", description="rebuild incremental models from scratch"),
    },
)
def crm_transform() -> None:
    @task(pool=WRITER_POOL, outlets=[MARTS_ASSET], doc_md="`dbt build` of the whole project.")
    def dbt_build() -> dict:
        from crm.orchestration.tasks import dbt_build, resolve_reference_date

        context = get_current_context()
        params = context["params"]
        reference_date = resolve_reference_date(
            params.get("reference_date"), context.get("data_interval_end")
        )
        return dbt_build(reference_date, full_refresh=bool(params.get("full_refresh")))

    dbt_build()


crm_transform()
