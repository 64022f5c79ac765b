"""Ingestion DAG: landing files -> GX validation -> raw.<source> / quarantine.<source>."""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task

from crm.contract import SOURCES
from crm.orchestration.assets import RAW_ASSETS, RAW_BATCH_ASSET, WRITER_POOL
from crm.orchestration.defaults import DEFAULT_ARGS, START_DATE, TIMEZONE

DOC = """
### CRM ingestion
Picks up every settled file in `$CRM_DATA_DIR/landing/<source>/` (questionnaires, reply cards,
sales), detects its encoding and header aliases, normalises values, validates each batch with the
Great Expectations suite `expectations/<source>.json`, and in **one transaction per file** loads
valid rows into `raw.<source>` and quarantines the others in `quarantine.<source>` with every
failed rule as a reason code. Files are moved to `archive/` (or `rejected/` with a `.reason.json`),
never deleted; `audit.file_manifest` records each file's sha256, outcome and row counts, and a file
whose content was loaded before is skipped even under a new name.

A source task emits its `raw.<source>` asset only when it loaded new data (lineage per source);
once all sources are done, `announce_new_raw_data` emits the `raw` asset when any of them loaded,
which triggers `crm_transform` once per ingestion run. Writers share the single-slot
`duckdb_writer` pool (DuckDB has one writer).
"""


@dag(
    dag_id="crm_ingest",
    schedule=CronTriggerTimetable("0 2 * * *", timezone=TIMEZONE),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["crm", "ingestion"],
    doc_md=DOC,
)
def crm_ingest() -> None:
    loads = []
    for source in SOURCES:

        @task(
            task_id=f"ingest_{source}",
            pool=WRITER_POOL,
            outlets=[RAW_ASSETS[source]],
            doc_md=f"Load new `{source}` landing files into raw.{source} / quarantine.{source}.",
        )
        def ingest(source: str = source) -> dict:
            from crm.orchestration.tasks import ingest_source

            return ingest_source(source)

        loads.append(ingest())

    @task(trigger_rule="all_done", doc_md="Render GX Data Docs from this run's validation results.")
    def build_data_docs() -> str | None:
        from crm.orchestration.tasks import build_data_docs

        return build_data_docs()

    @task(
        trigger_rule="all_done",
        outlets=[RAW_BATCH_ASSET],
        doc_md="Once every source is done, emit the `raw` asset (one transform run) if any of them loaded "
        "new data; a failed source does not hold back the data the others loaded.",
    )
    def announce_new_raw_data(**context) -> list[str]:
        from airflow.sdk.exceptions import AirflowSkipException

        ti = context["ti"]
        loaded = [s for s in SOURCES if ti.xcom_pull(task_ids=f"ingest_{s}") is not None]
        if not loaded:
            raise AirflowSkipException("no source loaded new data: nothing to transform")
        return loaded

    loads >> build_data_docs()
    loads >> announce_new_raw_data()


crm_ingest()
