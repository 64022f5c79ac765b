"""Assets that link the DAGs: ingestion produces raw tables, transform produces marts, publish serves them."""

from __future__ import annotations

from airflow.sdk import Asset

from crm.contract import SOURCES

RAW_ASSETS: dict[str, Asset] = {
    source: Asset(name=f"raw.{source}", uri=f"crm://warehouse/raw/{source}", group="crm")
    for source in SOURCES
}

#: Emitted once per ingestion run that loaded anything (after every source task): the transform DAG
#: waits on this one asset, so a run that loads three sources starts one transform, not three.
RAW_BATCH_ASSET = Asset(name="raw", uri="crm://warehouse/raw", group="crm")

#: The mart tables BI tools read (the publish DAG waits for this asset).
MARTS_ASSET = Asset(name="marts", uri="crm://warehouse/marts", group="crm")


def engine_marts_asset(engine: str) -> Asset:
    """The marts built on another engine (PostgreSQL, Spark): BI tools read them there, so this
    asset does not trigger crm_publish (which publishes the DuckDB warehouse's marts)."""
    return Asset(name=f"marts.{engine}", uri=f"crm://{engine}/marts", group="crm")


#: Published copies (Parquet, serving DuckDB, report) that BI tools read instead of the live warehouse.
PUBLISHED_ASSET = Asset(name="published", uri="crm://published", group="crm")

#: Airflow pool with one slot: every task that writes the DuckDB warehouse runs in it.
WRITER_POOL = "duckdb_writer"
