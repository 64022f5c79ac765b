"""Copy the published marts into PostgreSQL (schema ``crm_marts``) for BI tools, and keep the
read-only role ``crm_bi_reader``.

Each mart is loaded in its own transaction: the rows go into a fresh staging table which then
replaces the live table (drop + rename) before commit, so a dashboard sees the previous version or
the new one, never an empty or half-loaded table (no truncate-then-insert). The data come from the
published Parquet files, i.e. exactly what ``manifest.json`` describes.

The role gets USAGE on the schema and SELECT on its tables (now and, through default privileges,
in future) and nothing else. The connecting user needs CREATEROLE (to create the role once) and
CREATE on the database (to create the schema once).
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as pg_connection

from crm.publish.layout import check_mart_name, published_marts

log = logging.getLogger(__name__)

SERVING_SCHEMA = "crm_marts"
READER_ROLE = "crm_bi_reader"
#: How long a swap waits for dashboards' queries on the old table before failing (and retrying).
LOCK_TIMEOUT = "60s"

_SCALAR_TYPES: dict[str, str] = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(39, 0)",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20, 0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "JSON": "jsonb",
    "BLOB": "bytea",
}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_LIST = re.compile(r"^(.+)\[\]$")


def postgres_type(duckdb_type: str) -> str:
    """The PostgreSQL column type for a DuckDB type (one-dimensional lists become arrays)."""
    type_ = duckdb_type.strip().upper()
    if match := _LIST.fullmatch(type_):
        element = postgres_type(match.group(1))
        if element.endswith("[]"):
            raise ValueError(f"nested list type {duckdb_type} cannot be served to PostgreSQL")
        return f"{element}[]"
    if match := _DECIMAL.fullmatch(type_):
        return f"numeric({match.group(1)}, {match.group(2)})"
    if type_ in _SCALAR_TYPES:
        return _SCALAR_TYPES[type_]
    raise ValueError(f"DuckDB type {duckdb_type} has no PostgreSQL mapping; cast it in the mart")


def _csv_expression(column: str, duckdb_type: str) -> str:
    """How a column is written to the CSV fed to COPY: lists as PostgreSQL array literals."""
    quoted = '"' + column.replace('"', '""') + '"'
    if not _LIST.fullmatch(duckdb_type.strip()):
        return quoted
    element = (
        "case when x is null then 'NULL' else "
        "'\"' || replace(replace(cast(x as varchar), '\\', '\\\\'), '\"', '\\\"') || '\"' end"
    )
    items = f"coalesce(array_to_string(list_transform({quoted}, x -> {element}), ','), '')"
    return f"case when {quoted} is null then null else '{{' || {items} || '}}' end as {quoted}"


@dataclass(frozen=True)
class LoadedMart:
    name: str
    rows: int

    def as_dict(self) -> dict:
        return {"name": self.name, "rows": self.rows}


def ensure_reader_role(
    conn: pg_connection,
    *,
    schema: str = SERVING_SCHEMA,
    role: str = READER_ROLE,
    password: str | None = None,
) -> None:
    """Create the schema and the read-only role if missing and (re)grant exactly the read rights.

    With ``password`` the role may log in with it; otherwise it is left as it is (created NOLOGIN:
    grant it to your BI users, ``GRANT crm_bi_reader TO alice``).
    """
    ident_schema, ident_role = sql.Identifier(schema), sql.Identifier(role)
    with conn, conn.cursor() as cur:
        cur.execute("select 1 from pg_roles where rolname = %s", [role])
        if cur.fetchone() is None:
            cur.execute(sql.SQL("create role {} nologin").format(ident_role))
            log.info("created PostgreSQL role %s", role)
        if password is not None:
            cur.execute(sql.SQL("alter role {} login password %s").format(ident_role), [password])
        cur.execute(sql.SQL("create schema if not exists {}").format(ident_schema))
        cur.execute(sql.SQL("revoke all on schema {} from public").format(ident_schema))
        cur.execute(sql.SQL("revoke all on schema {} from {}").format(ident_schema, ident_role))
        cur.execute(sql.SQL("grant usage on schema {} to {}").format(ident_schema, ident_role))
        cur.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(ident_schema, ident_role))
        cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(ident_schema, ident_role))
        cur.execute(
            sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(
                ident_schema, ident_role
            )
        )
        cur.execute(
            sql.SQL("grant connect on database {} to {}").format(sql.Identifier(conn.info.dbname), ident_role)
        )


def _parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, str]]:
    rows = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
    return [(name, type_) for name, type_, *_ in rows]


def load_mart(
    conn: pg_connection,
    name: str,
    parquet: Path,
    *,
    schema: str = SERVING_SCHEMA,
    role: str = READER_ROLE,
    workdir: Path,
) -> LoadedMart:
    """Replace ``schema.name`` with the content of ``parquet`` in one transaction."""
    check_mart_name(name)
    parquet = parquet.resolve()  # the immutable version: every read below sees the same file
    duck = duckdb.connect()
    try:
        columns = _parquet_columns(duck, parquet)
        csv_path = workdir / f"{name}.csv"
        select = ", ".join(_csv_expression(col, type_) for col, type_ in columns)
        duck.execute(
            f"copy (select {select} from read_parquet(?)) to '{csv_path}' (format csv, header false)",
            [str(parquet)],
        )
        rows = int(duck.execute("select count(*) from read_parquet(?)", [str(parquet)]).fetchone()[0])
    finally:
        duck.close()
    staging = f"{name}__loading"
    table, staged = sql.Identifier(schema, name), sql.Identifier(schema, staging)
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(col), sql.SQL(postgres_type(type_))) for col, type_ in columns
    )
    with conn, conn.cursor() as cur:
        cur.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        cur.execute(sql.SQL("drop table if exists {}").format(staged))
        cur.execute(sql.SQL("create table {} ({})").format(staged, definition))
        with csv_path.open("r", encoding="utf-8") as fh:
            cur.copy_expert(sql.SQL("copy {} from stdin with (format csv)").format(staged), fh)
        if cur.rowcount != rows:
            raise RuntimeError(
                f"COPY into {schema}.{staging} loaded {cur.rowcount} rows, {parquet} has {rows}"
            )
        cur.execute(sql.SQL("grant select on {} to {}").format(staged, sql.Identifier(role)))
        cur.execute(sql.SQL("drop table if exists {}").format(table))
        cur.execute(sql.SQL("alter table {} rename to {}").format(staged, sql.Identifier(name)))
    csv_path.unlink(missing_ok=True)
    return LoadedMart(name, rows)


def drop_stale_tables(conn: pg_connection, keep: set[str], *, schema: str = SERVING_SCHEMA) -> list[str]:
    """Drop tables of ``schema`` that are no longer published marts (e.g. a mart was removed)."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "select table_name from information_schema.tables where table_schema = %s order by 1", [schema]
        )
        stale = [name for (name,) in cur.fetchall() if name not in keep]
        for name in stale:
            cur.execute(sql.SQL("drop table {}").format(sql.Identifier(schema, name)))
    return stale


def publish_to_postgres(
    url: str,
    published_dir: Path,
    *,
    schema: str = SERVING_SCHEMA,
    role: str = READER_ROLE,
    reader_password: str | None = None,
) -> list[LoadedMart]:
    """Load every published mart into ``schema`` and refresh the reader role's grants."""
    marts = published_marts(published_dir)
    if not marts:
        raise RuntimeError(f"no published marts under {published_dir}: run the Parquet export first")
    conn = psycopg2.connect(url, application_name="crm_publish")
    try:
        ensure_reader_role(conn, schema=schema, role=role, password=reader_password)
        loaded = []
        with tempfile.TemporaryDirectory(prefix="crm_publish_pg_") as workdir:
            for name, path in marts.items():
                loaded.append(load_mart(conn, name, path, schema=schema, role=role, workdir=Path(workdir)))
                log.info("PostgreSQL %s.%s: %s rows", schema, name, f"{loaded[-1].rows:,}")
        for name in drop_stale_tables(conn, set(marts), schema=schema):
            log.warning("dropped %s.%s: no longer a published mart", schema, name)
        return loaded
    finally:
        conn.close()
