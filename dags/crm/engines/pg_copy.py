"""Stream tables between DuckDB and PostgreSQL with COPY (no whole-table frames in memory).

DuckDB -> PostgreSQL: the query's result is fetched as Arrow record batches, each batch is written
as CSV into a small buffer and fed to ``COPY ... FROM STDIN`` through a file-like reader, so memory
holds one batch at a time. The PostgreSQL table is created from the DuckDB result's column types
(:func:`postgres_type`), replaced inside the same transaction, and its row count is reconciled with
DuckDB's before the commit.

PostgreSQL -> DuckDB: ``COPY ... TO STDOUT`` into a temporary CSV file, read by DuckDB with the
column types taken from PostgreSQL's catalogue.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv

#: Arrow record batches per COPY buffer refill (rows). Bounds the memory of a transfer.
BATCH_ROWS = 50_000

_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_SIMPLE_TYPES = {
    # Code-point order like DuckDB and Spark, whatever the database's collation: text derived from
    # raw columns keeps it, so text tie-breaks (identity anchors, survivorship) agree across engines.
    "VARCHAR": 'text collate "C"',
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "HUGEINT": "numeric(38, 0)",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}
_PG_TO_DUCKDB = {
    "text": "VARCHAR",
    "character varying": "VARCHAR",
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "double precision": "DOUBLE",
    "real": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
}


class TransferError(RuntimeError):
    """A table could not be copied faithfully (unsupported type, row count mismatch)."""


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def postgres_type(duckdb_type: str) -> str:
    """The PostgreSQL column type holding a DuckDB type's values exactly."""
    upper = duckdb_type.upper()
    if upper in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[upper]
    decimal = _DECIMAL.fullmatch(upper)
    if decimal:
        return f"numeric({decimal.group(1)}, {decimal.group(2)})"
    raise TransferError(f"no PostgreSQL type for the DuckDB type {duckdb_type!r}")


def duckdb_type(pg_type: str, precision: int | None, scale: int | None) -> str:
    """The DuckDB type for a PostgreSQL ``information_schema.columns.data_type``."""
    if pg_type == "numeric":
        if precision is None:
            return "DOUBLE"  # unconstrained numeric: DuckDB's DECIMAL tops out at 38 digits
        return f"DECIMAL({precision}, {scale or 0})"
    if pg_type in _PG_TO_DUCKDB:
        return _PG_TO_DUCKDB[pg_type]
    raise TransferError(f"no DuckDB type for the PostgreSQL type {pg_type!r}")


class _CsvBatchReader(io.RawIOBase):
    """A read-only byte stream of CSV (no header) rendered batch by batch from Arrow batches."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self._batches = batches
        self._buffer = b""
        self.rows = 0

    def readable(self) -> bool:
        return True

    def _refill(self) -> bool:
        for batch in self._batches:
            if batch.num_rows == 0:
                continue
            sink = io.BytesIO()
            pa_csv.write_csv(batch, sink, pa_csv.WriteOptions(include_header=False))
            self._buffer += sink.getvalue()
            self.rows += batch.num_rows
            return True
        return False

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._buffer) < size) and self._refill():
            pass
        if size < 0:
            size = len(self._buffer)
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return chunk

    def readinto(self, target: Any) -> int:
        chunk = self.read(len(target))
        target[: len(chunk)] = chunk
        return len(chunk)


def duckdb_columns(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of a query's result, without running it."""
    relation = con.sql(query)
    return [(name, str(kind)) for name, kind in zip(relation.columns, relation.types, strict=True)]


def copy_duckdb_to_postgres(
    con: duckdb.DuckDBPyConnection,
    query: str,
    pg_conn: Any,
    schema: str,
    table: str,
    *,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Replace ``schema.table`` in PostgreSQL with the result of a DuckDB query; returns the rows.

    One transaction: drop, create (types from DuckDB), COPY, count. A count that differs from the
    rows streamed out of DuckDB rolls the table back and raises :class:`TransferError` naming it.
    """
    columns = duckdb_columns(con, query)
    target = f"{quote_ident(schema)}.{quote_ident(table)}"
    ddl = ", ".join(f"{quote_ident(name)} {postgres_type(kind)}" for name, kind in columns)
    column_list = ", ".join(quote_ident(name) for name, _ in columns)
    reader = _CsvBatchReader(con.execute(query).fetch_record_batch(batch_rows))
    try:
        with pg_conn.cursor() as cur:
            cur.execute(f"create schema if not exists {quote_ident(schema)}")
            cur.execute(f"drop table if exists {target} cascade")
            cur.execute(f"create table {target} ({ddl})")
            cur.copy_expert(f"copy {target} ({column_list}) from stdin with (format csv)", reader)
            cur.execute(f"select count(*) from {target}")
            (loaded,) = cur.fetchone()
        if loaded != reader.rows:
            raise TransferError(
                f"{schema}.{table}: {reader.rows} rows read from DuckDB but {loaded} loaded into PostgreSQL"
            )
        pg_conn.commit()
    except BaseException:
        pg_conn.rollback()
        raise
    return int(loaded)


def postgres_columns(pg_conn: Any, schema: str, table: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of a PostgreSQL table, in column order; raises if it does not exist."""
    with pg_conn.cursor() as cur:
        cur.execute(
            "select column_name, data_type, numeric_precision, numeric_scale "
            "from information_schema.columns where table_schema = %s and table_name = %s "
            "order by ordinal_position",
            (schema, table),
        )
        rows = cur.fetchall()
    pg_conn.rollback()
    if not rows:
        raise TransferError(f"PostgreSQL has no table {schema}.{table}")
    return [(name, duckdb_type(kind, precision, scale)) for name, kind, precision, scale in rows]


def copy_postgres_to_duckdb(
    pg_conn: Any,
    schema: str,
    table: str,
    con: duckdb.DuckDBPyConnection,
    target: str,
    columns: Sequence[str] | None = None,
) -> int:
    """Create DuckDB table ``target`` from PostgreSQL ``schema.table`` (optionally some columns)."""
    catalogue = dict(postgres_columns(pg_conn, schema, table))
    names = list(columns) if columns else list(catalogue)
    missing = [name for name in names if name not in catalogue]
    if missing:
        raise TransferError(f"{schema}.{table} has no column(s) {missing}")
    select = ", ".join(quote_ident(name) for name in names)
    types = {name: catalogue[name] for name in names}
    with tempfile.TemporaryDirectory(prefix="crm_pg_copy_") as folder:
        path = Path(folder) / f"{table}.csv"
        with path.open("wb") as sink, pg_conn.cursor() as cur:
            cur.copy_expert(
                f"copy (select {select} from {quote_ident(schema)}.{quote_ident(table)}) "
                "to stdout with (format csv, header true)",
                sink,
            )
        pg_conn.rollback()
        con.execute(
            f"create or replace table {target} as select * from read_csv(?, header = true, "
            "columns = ?, auto_detect = false, quote = '\"', escape = '\"', allow_quoted_nulls = false)",
            [str(path), types],
        )
    (rows,) = con.execute(f"select count(*) from {target}").fetchone()  # type: ignore[misc]
    return int(rows)
