"""PostgreSQL as a dbt target: connection settings, shipping raw data with COPY, the PII salt.

Connection: ``CRM_PG_URL`` (``postgresql://user@host:port/dbname``, a password in it or in
``PGPASSWORD`` / ``~/.pgpass``) or the parts
``CRM_PG_HOST``, ``CRM_PG_PORT``, ``CRM_PG_USER``, ``CRM_PG_PASSWORD``, ``CRM_PG_DBNAME``
(defaults 127.0.0.1, 5432, postgres, '', crm). The dbt profile's ``postgres`` target reads the
parts; :meth:`PostgresSettings.dbt_env` derives them from the URL.

Raw data reaches PostgreSQL the way a production load would: ``python -m crm.engines.postgres
--warehouse raw.duckdb`` copies every table the dbt sources read from the DuckDB warehouse into the
same schema and table names with ``COPY`` (see :mod:`crm.engines.pg_copy`).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import duckdb
from splink import DuckDBAPI
from splink.internals.splink_dataframe import SplinkDataFrame

from crm.contract import raw_columns
from crm.engines.pg_copy import copy_duckdb_to_postgres, copy_postgres_to_duckdb
from crm.identity.backend import DuckDBBackend

log = logging.getLogger(__name__)

#: Tables the dbt sources read: (schema, table, required). raw.* come from ingestion; the CLV
#: step's marts.customer_clv exists only after the first CLV fit (stg_clv__customer_scores is
#: empty without it), so it is shipped when present.
SOURCE_TABLES: tuple[tuple[str, str, bool], ...] = (
    ("raw", "sales", True),
    ("raw", "questionnaires", True),
    ("raw", "reply_cards", True),
    ("marts", "customer_clv", False),
)

#: The custom PostgreSQL setting holding the PII salt for the session (postgres__pii_hash).
PII_SALT_SETTING = "crm.pii_salt"
DEV_PII_SALT = "crm-dev-only-insecure-salt"


@dataclass(frozen=True)
class PostgresSettings:
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    dbname: str = "crm"

    @classmethod
    def from_url(cls, url: str) -> PostgresSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"not a PostgreSQL URL (postgresql://user@host:port/dbname): {url!r}")
        dbname = unquote(parts.path.lstrip("/"))
        return cls(
            host=parts.hostname or cls.host,
            port=parts.port or cls.port,
            user=unquote(parts.username) if parts.username else cls.user,
            password=unquote(parts.password) if parts.password else "",
            dbname=dbname or cls.dbname,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PostgresSettings:
        env = os.environ if env is None else env
        if env.get("CRM_PG_URL"):
            return cls.from_url(env["CRM_PG_URL"])
        return cls(
            host=env.get("CRM_PG_HOST", cls.host),
            port=int(env.get("CRM_PG_PORT", cls.port)),
            user=env.get("CRM_PG_USER", cls.user),
            password=env.get("CRM_PG_PASSWORD", cls.password),
            dbname=env.get("CRM_PG_DBNAME", cls.dbname),
        )

    def with_dbname(self, dbname: str) -> PostgresSettings:
        return PostgresSettings(self.host, self.port, self.user, self.password, dbname)

    @property
    def url(self) -> str:
        auth = quote(self.user, safe="") + (":" + quote(self.password, safe="") if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"

    def dbt_env(self) -> dict[str, str]:
        """Environment for the dbt profile's ``postgres`` target."""
        return {
            "CRM_PG_HOST": self.host,
            "CRM_PG_PORT": str(self.port),
            "CRM_PG_USER": self.user,
            "CRM_PG_PASSWORD": self.password,
            "CRM_PG_DBNAME": self.dbname,
        }

    def connect(self, **kwargs: Any) -> Any:
        import psycopg2  # the `postgres` extra

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            **kwargs,
        )


def pii_salt_options(salt: str | None = None) -> str:
    """``PGOPTIONS`` value setting the PII salt for every session libpq opens (dbt's included).

    The salt then never appears in compiled SQL or dbt's target/ artefacts; postgres__pii_hash
    reads it with ``current_setting('crm.pii_salt')``.
    """
    salt = salt if salt is not None else (os.environ.get("CRM_PII_SALT") or DEV_PII_SALT)
    escaped = salt.replace("\\", "\\\\").replace(" ", "\\ ")
    return f"-c {PII_SALT_SETTING}={escaped}"


def with_pii_salt(pgoptions: str, salt: str | None = None) -> str:
    """``PGOPTIONS`` keeping the caller's other options and replacing any earlier salt setting."""
    kept: list[str] = []
    tokens = pgoptions.split()
    index = 0
    while index < len(tokens):
        part = tokens[index]
        if part == "-c" and index + 1 < len(tokens):
            if not tokens[index + 1].startswith(f"{PII_SALT_SETTING}="):
                kept += [part, tokens[index + 1]]
            index += 2
            continue
        if not part.startswith(f"-c{PII_SALT_SETTING}="):
            kept.append(part)
        index += 1
    return " ".join([*kept, pii_salt_options(salt)])


@contextmanager
def duckdb_reader(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    if not warehouse.exists():
        raise FileNotFoundError(f"DuckDB warehouse not found: {warehouse}")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        yield con
    finally:
        con.close()


def _source_query(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    """Select the source's columns: raw.* in contract order (checked against the warehouse)."""
    present = [
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]
    if schema == "raw":
        expected = [name for name, _ in raw_columns(table)]
        missing = sorted(set(expected) - set(present))
        if missing:
            raise ValueError(f"{schema}.{table} in the DuckDB warehouse lacks contract columns {missing}")
        names = expected
    else:
        names = present
    return "select " + ", ".join(f'"{name}"' for name in names) + f' from "{schema}"."{table}"'


def ship_raw(warehouse: Path, settings: PostgresSettings) -> dict[str, int]:
    """Copy every dbt source table from the DuckDB warehouse to PostgreSQL; returns rows per table."""
    loaded: dict[str, int] = {}
    with duckdb_reader(warehouse) as con:
        existing = set(
            con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        )
        pg_conn = settings.connect()
        try:
            for schema, table, required in SOURCE_TABLES:
                if (schema, table) not in existing:
                    if required:
                        raise ValueError(f"{schema}.{table} is missing from the DuckDB warehouse {warehouse}")
                    log.info("%s.%s not in the warehouse (optional source): not shipped", schema, table)
                    continue
                started = time.perf_counter()
                rows = copy_duckdb_to_postgres(con, _source_query(con, schema, table), pg_conn, schema, table)
                loaded[f"{schema}.{table}"] = rows
                log.info(
                    "%s.%s: %d rows copied in %.1f s", schema, table, rows, time.perf_counter() - started
                )
        finally:
            pg_conn.close()
    return loaded


class PostgresIdentityIO:
    """splink on a private in-process DuckDB; relations arrive and results leave over COPY."""

    def __init__(self, settings: PostgresSettings, threads: int | None = None) -> None:
        self._con = duckdb.connect(":memory:")
        if threads:
            self._con.execute(f"set threads = {int(threads)}")
        self.backend = DuckDBBackend(db_api=DuckDBAPI(connection=self._con))
        self._pg = settings.connect()
        self._copies = 0

    def read(self, schema: str, table: str, columns: Sequence[str]) -> Any:
        self._copies += 1
        target = f"pg_{table}_{self._copies}"
        copy_postgres_to_duckdb(self._pg, schema, table, self._con, target, columns)
        return self._con.table(target)

    def write(self, frame: SplinkDataFrame, schema: str, table: str) -> int:
        return copy_duckdb_to_postgres(
            self._con, f"select * from {frame.physical_name}", self._pg, schema, table
        )

    def close(self) -> None:
        self._pg.close()
        self._con.close()


#: Collations that order text by code point, as DuckDB and Spark do.
CODE_POINT_COLLATIONS = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"})


def warn_unless_code_point_collation(settings: PostgresSettings) -> str:
    """Log a warning when the database orders text by a linguistic collation; returns it.

    The raw text columns are shipped ``collate "C"``, so tie-breaks on text derived from them (the
    identity anchor's source_record_id, survivorship, min(customer_ref)) follow code-point order
    as on DuckDB; only text from seeds or literals follows the database's collation. A ``C`` /
    ``C.UTF-8`` database (``template template0 locale 'C.UTF-8'``) makes that order apply to all.
    """
    conn = settings.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("select datcollate from pg_database where datname = current_database()")
            (collation,) = cur.fetchone()
    finally:
        conn.close()
    if collation not in CODE_POINT_COLLATIONS:
        log.warning(
            'database %s collates text as %s, not by code point: raw text is shipped collate "C"; '
            "text from seeds or literals sorts by the database collation",
            settings.dbname,
            collation,
        )
    return str(collation)


@dataclass
class PostgresEngine:
    """dbt-postgres target `postgres`; raw data over COPY; splink on an in-process DuckDB."""

    settings: PostgresSettings
    pii_salt: str | None = None
    name: str = "postgres"
    dbt_target: str = "postgres"
    runs_python_models: bool = False

    @classmethod
    def from_env(cls, url: str | None = None, pii_salt: str | None = None, **_: object) -> PostgresEngine:
        settings = PostgresSettings.from_url(url) if url else PostgresSettings.from_env()
        return cls(settings=settings, pii_salt=pii_salt)

    def dbt_env(self) -> dict[str, str]:
        return {
            **self.settings.dbt_env(),
            "PGOPTIONS": with_pii_salt(os.environ.get("PGOPTIONS", ""), self.pii_salt),
        }

    def ship_raw(self, warehouse: Path) -> dict[str, int]:
        warn_unless_code_point_collation(self.settings)
        return ship_raw(warehouse, self.settings)

    def identity_io(self) -> PostgresIdentityIO:
        return PostgresIdentityIO(self.settings, threads=int(os.environ.get("CRM_DBT_THREADS", "2")))

    def fetch(self, sql: str) -> tuple[list[str], list[tuple]]:
        conn = self.settings.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                names = [column[0] for column in cur.description]
                return names, cur.fetchall()
        finally:
            conn.close()

    def close(self) -> None:
        return None


@contextmanager
def temporary_database(
    server: PostgresSettings, prefix: str = "crm_engines", icu_locale: str | None = None
) -> Iterator[PostgresSettings]:
    """A fresh database ``<prefix>_<random>`` on the server, dropped afterwards (even on failure);
    with ``icu_locale`` (e.g. ``en-US``) it collates text by that ICU locale (PostgreSQL 15+)."""
    import secrets

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = server.connect()
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            if icu_locale:
                cur.execute(
                    f'create database "{name}" template template0 locale_provider icu icu_locale %s',
                    (icu_locale,),
                )
            else:
                cur.execute(f'create database "{name}"')
        try:
            yield server.with_dbname(name)
        finally:
            with admin.cursor() as cur:
                cur.execute(f'drop database if exists "{name}" with (force)')
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Copy the dbt sources from a DuckDB warehouse to PostgreSQL."
    )
    parser.add_argument("--warehouse", type=Path, default=os.environ.get("CRM_WAREHOUSE_PATH"))
    parser.add_argument("--url", help="postgresql://... (default: CRM_PG_URL or CRM_PG_* variables)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.warehouse is None:
        parser.error("--warehouse or CRM_WAREHOUSE_PATH is required")
    settings = PostgresSettings.from_url(args.url) if args.url else PostgresSettings.from_env()
    for table, rows in ship_raw(args.warehouse, settings).items():
        print(f"{table}: {rows} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
