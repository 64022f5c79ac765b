"""The publish DAG's task callables (heavy imports stay inside the functions: DAG parsing is fast).

Every task reads its inputs from the published directory or, for the export and the report's audit
panels, from the warehouse opened read-only: nothing here writes the live warehouse.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from crm.config import Settings

log = logging.getLogger(__name__)

#: Optional: where to copy the marts for BI tools (unset: PostgreSQL serving is skipped).
POSTGRES_URL_ENV = "CRM_SERVING_POSTGRES_URL"
#: Optional: lets the crm_bi_reader role log in with this password (else it stays NOLOGIN).
READER_PASSWORD_ENV = "CRM_BI_READER_PASSWORD"  # noqa: S105 - the name of the variable


def dbt_target_dir(settings: Settings) -> Path:
    from crm.orchestration.dbt import dbt_env

    return Path(dbt_env(settings)["DBT_TARGET_PATH"])


def export_parquet() -> list[dict]:
    from crm.publish.parquet_export import export_marts

    settings = Settings.from_env()
    return [m.as_dict() for m in export_marts(settings.warehouse_path, settings.published_dir)]


def refresh_serving_database() -> str:
    from crm.publish.serving_duckdb import build_serving_database

    return str(build_serving_database(Settings.from_env().published_dir))


def write_manifest() -> str:
    from crm.publish.manifest import write_manifest as write

    settings = Settings.from_env()
    return str(write(settings.published_dir, dbt_target_dir(settings)))


def load_postgres() -> list[dict] | None:
    """Copy the marts to PostgreSQL when ``CRM_SERVING_POSTGRES_URL`` is set; otherwise skip."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"{POSTGRES_URL_ENV} is not set: PostgreSQL serving is disabled")
    from crm.publish.postgres import publish_to_postgres

    loaded = publish_to_postgres(
        url, Settings.from_env().published_dir, reader_password=os.environ.get(READER_PASSWORD_ENV) or None
    )
    return [m.as_dict() for m in loaded]


def publish_docs() -> dict[str, str | None]:
    from crm.publish.docs import generate_dbt_docs, publish_gx_data_docs

    settings = Settings.from_env()
    dbt_index = generate_dbt_docs(settings, settings.published_dir)
    gx_index = publish_gx_data_docs(settings, settings.published_dir)
    return {"dbt": str(dbt_index), "gx": str(gx_index) if gx_index else None}


def render_report() -> str:
    """Render ``published/report.html`` from the serving database and the warehouse's audit tables."""
    import duckdb

    from crm.publish.dbt_artifacts import DbtArtifacts
    from crm.publish.layout import DOCS_DIR, REPORT, SERVING_DATABASE
    from crm.report.render import write_report
    from crm.report.source import ReportSource
    from crm.warehouse import connect

    settings = Settings.from_env()
    published = settings.published_dir
    marts = duckdb.connect(str(published / SERVING_DATABASE), read_only=True)
    try:
        with connect(settings.warehouse_path, read_only=True) as warehouse:
            source = ReportSource(
                marts=marts,
                audit=warehouse,
                dbt=DbtArtifacts.load(dbt_target_dir(settings)),
                docs_dir=published / DOCS_DIR,
            )
            path = write_report(source, published / REPORT)
    finally:
        marts.close()
    print(f"CRM report: {path}")
    return str(path)
