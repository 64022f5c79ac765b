"""Publish DAG: marts -> Parquet, serving DuckDB, manifest.json, PostgreSQL, docs and the HTML report."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from crm.orchestration.assets import MARTS_ASSET, PUBLISHED_ASSET, WRITER_POOL
from crm.orchestration.defaults import DEFAULT_ARGS, START_DATE, TIMEZONE

DOC = """
### CRM publish
Serves the marts to BI tools without ever letting them hold the live warehouse (DuckDB's
single-writer lock would block the pipeline). Runs whenever `crm_transform` updates the marts, and
daily at 04:00 Asia/Taipei.

1. **export_parquet** — every `marts.*` table, read in one read-only transaction, to
   `$CRM_DATA_DIR/published/<mart>/<mart>.parquet`; each file is written under a temporary name and
   swapped in with an atomic rename, so readers see the old or the new file, never half of one.
2. **refresh_serving_database** — rebuilds `published/marts.duckdb` (views over those files) as a
   new file and swaps it in; BI tools open it read-only.
3. **write_manifest** — `published/manifest.json`: each mart's rows, columns and types, build time
   and dbt description.
4. **load_postgres** — only when `CRM_SERVING_POSTGRES_URL` is set: each mart replaces
   `crm_marts.<mart>` in one transaction; the role `crm_bi_reader` can only SELECT from that schema.
5. **publish_docs** — dbt docs and GX Data Docs into `published/docs/`.
6. **render_report** — `published/report.html`, self-contained (plotly.js inlined).

Tasks that open the warehouse file (even read-only, which also excludes a writer) run in the
single-slot `duckdb_writer` pool. Details: `docs/serving.md`.
"""


@dag(
    dag_id="crm_publish",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 4 * * *", timezone=TIMEZONE), assets=MARTS_ASSET
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["crm", "publish", "bi"],
    doc_md=DOC,
)
def crm_publish() -> None:
    @task(
        pool=WRITER_POOL,
        doc_md="Export every mart to Parquet (atomic swap), reading the warehouse read-only.",
    )
    def export_parquet() -> list[dict]:
        from crm.publish import tasks

        return tasks.export_parquet()

    @task(doc_md="Rebuild the serving DuckDB `published/marts.duckdb` (views over the Parquet files).")
    def refresh_serving_database() -> str:
        from crm.publish import tasks

        return tasks.refresh_serving_database()

    @task(doc_md="Write `published/manifest.json` (rows, columns, types, build time, description).")
    def write_manifest() -> str:
        from crm.publish import tasks

        return tasks.write_manifest()

    @task(doc_md="Replace the marts in PostgreSQL `crm_marts` (skipped without CRM_SERVING_POSTGRES_URL).")
    def load_postgres() -> list[dict] | None:
        from crm.publish import tasks

        return tasks.load_postgres()

    @task(pool=WRITER_POOL, doc_md="Generate dbt docs and copy GX Data Docs into `published/docs/`.")
    def publish_docs() -> dict:
        from crm.publish import tasks

        return tasks.publish_docs()

    @task(pool=WRITER_POOL, outlets=[PUBLISHED_ASSET], doc_md="Render `published/report.html`.")
    def render_report() -> str:
        from crm.publish import tasks

        return tasks.render_report()

    exported = export_parquet()
    serving, manifest, docs = refresh_serving_database(), write_manifest(), publish_docs()
    exported >> [serving, manifest, load_postgres(), docs]
    [serving, manifest, docs] >> render_report()


crm_publish()
