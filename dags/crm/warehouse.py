"""DuckDB warehouse: connections (with lock-wait) and the DDL of the raw, quarantine and audit layers."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from crm.contract import LINEAGE_COLUMNS, SOURCES, raw_columns

log = logging.getLogger(__name__)

QUARANTINE_EXTRA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("reason_codes", "VARCHAR[]"),
    ("reasons", "JSON"),
    ("raw_record", "JSON"),
)

FILE_MANIFEST_DDL = """
create table if not exists audit.file_manifest (
    batch_id varchar primary key,
    source varchar not null,
    file_name varchar not null,
    landing_path varchar not null,
    file_sha256 varchar not null,
    size_bytes bigint not null,
    file_type varchar,
    encoding varchar,
    arrived_at timestamp with time zone,
    started_at timestamp with time zone not null,
    finished_at timestamp with time zone,
    status varchar not null,
    rows_read bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    reason varchar,
    stored_path varchar,
    duplicate_of varchar
)
"""

DQ_RESULTS_DDL = """
create table if not exists audit.dq_results (
    batch_id varchar not null,
    source varchar not null,
    file_name varchar not null,
    suite_name varchar not null,
    expectation_type varchar not null,
    column_name varchar,
    reason_code varchar not null,
    success boolean not null,
    element_count bigint,
    unexpected_count bigint,
    unexpected_percent double,
    validated_at timestamp with time zone not null
)
"""


def raw_table_ddl(source: str) -> str:
    cols = ",\n    ".join(f'"{name}" {type_}' for name, type_ in raw_columns(source))
    return f"create table if not exists raw.{source} (\n    {cols}\n)"


def quarantine_table_ddl(source: str) -> str:
    cols = ",\n    ".join(
        f'"{name}" {type_}' for name, type_ in (*LINEAGE_COLUMNS, *QUARANTINE_EXTRA_COLUMNS)
    )
    return f"create table if not exists quarantine.{source} (\n    {cols}\n)"


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw, quarantine and audit layers if they are missing (idempotent)."""
    for schema in ("raw", "quarantine", "audit"):
        con.execute(f"create schema if not exists {schema}")
    for source in SOURCES:
        con.execute(raw_table_ddl(source))
        con.execute(quarantine_table_ddl(source))
    con.execute(FILE_MANIFEST_DDL)
    con.execute(DQ_RESULTS_DDL)


@contextmanager
def connect(
    path: str | Path, *, read_only: bool = False, lock_timeout_s: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting (with backoff) while another process holds DuckDB's write lock.

    DuckDB allows one writer process per file. Airflow routes writers through a single-slot pool,
    but a user's ad-hoc session or a BI tool pointed at the live file can still hold the lock;
    waiting here turns that into a delay instead of a failed task.
    """
    path = Path(path)
    if lock_timeout_s is None:
        lock_timeout_s = float(os.environ.get("CRM_LOCK_TIMEOUT_S", "900"))
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.2
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            log.warning("warehouse %s is locked by another process; retrying in %.1fs", path, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    try:
        yield con
    finally:
        con.close()
