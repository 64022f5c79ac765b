"""Spark as a dbt target: the local session dbt-spark's ``session`` method uses, and raw data as Parquet.

dbt-spark's ``session`` method runs every statement on ``SparkSession.builder.getOrCreate()`` in
the dbt process, so :func:`get_session` must run first in that process: it creates the session with
this project's settings (small local resources, a persistent Hive catalog, the PII salt as a
session conf) and dbt then reuses it. In production the same project runs on a Thrift server or
Databricks (docs/engines.md); only the local session is built here.

Catalog: a Hive metastore (embedded Derby) and a warehouse directory under ``$CRM_SPARK_DIR``
(default ``$CRM_DATA_DIR/spark``), so the marts survive the process and a later session reads them.
Derby allows one process at a time: two Spark processes cannot share one ``CRM_SPARK_DIR``.

Raw data reaches Spark the production way (:func:`ship_raw`): every table the dbt sources read is
exported from the DuckDB warehouse to Parquet (``COPY ... (format parquet)``, one directory per table
and export) and registered as an EXTERNAL table ``raw.<table>`` over it; row counts are reconciled.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from splink.internals.splink_dataframe import SplinkDataFrame

from crm.engines.postgres import SOURCE_TABLES, _source_query, duckdb_reader

log = logging.getLogger(__name__)

#: Spark conf holding the PII salt; spark__pii_hash reads it with ``${spark.crm.pii_salt}``.
PII_SALT_CONF = "spark.crm.pii_salt"
DEV_PII_SALT = "crm-dev-only-insecure-salt"


@dataclass(frozen=True)
class SparkSettings:
    """Where the local catalog lives and how much of the machine the session may take.

    Attributes:
        root: catalog root: ``warehouse/`` (managed tables), ``metastore_db/`` (Derby), ``raw/``
            (Parquet exports behind the external raw tables).
        master: Spark master URL; ``local[2]`` in CI.
        shuffle_partitions: ``spark.sql.shuffle.partitions``; Spark's 200 default makes thousands
            of empty tasks on sample-sized data.
        driver_memory: JVM heap of the local driver (which is also the executor in local mode).
        extra_conf: further ``spark.*`` settings (``CRM_SPARK_CONF="k=v,k=v"``).
    """

    root: Path
    master: str = "local[2]"
    shuffle_partitions: int = 4
    driver_memory: str = "1g"
    extra_conf: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SparkSettings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("CRM_DATA_DIR") or "data")
        extra: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in env.get("CRM_SPARK_CONF", "").split(","))):
            key, sep, value = item.partition("=")
            if not sep or not key.strip().startswith("spark."):
                raise ValueError(f"CRM_SPARK_CONF entries must be spark.key=value; got {item!r}")
            extra[key.strip()] = value.strip()
        return cls(
            root=Path(env.get("CRM_SPARK_DIR") or data_dir / "spark").expanduser().resolve(),
            master=env.get("CRM_SPARK_MASTER", cls.master),
            shuffle_partitions=int(env.get("CRM_SPARK_SHUFFLE_PARTITIONS", cls.shuffle_partitions)),
            driver_memory=env.get("CRM_SPARK_DRIVER_MEMORY", cls.driver_memory),
            extra_conf=extra,
        )

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "warehouse"

    @property
    def metastore_dir(self) -> Path:
        return self.root / "metastore_db"

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    def conf(self) -> dict[str, str]:
        """The session's Spark configuration (static settings take effect only at JVM start)."""
        return {
            "spark.master": self.master,
            "spark.app.name": "crm-warehouse",
            "spark.driver.memory": self.driver_memory,
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
            "spark.sql.adaptive.enabled": "true",
            # Dates and timestamps are compared with DuckDB and PostgreSQL results: one time zone.
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.catalogImplementation": "hive",
            "spark.sql.warehouse.dir": str(self.warehouse_dir),
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={self.metastore_dir};create=true"
            ),
            # derby.log next to the metastore instead of the working directory.
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.root}",
            # ${spark.crm.pii_salt} in SQL (spark__pii_hash) is substituted from the session conf.
            "spark.sql.variable.substitute": "true",
            # splink's Scala UDFs (jaro_winkler, ...) ship inside the splink wheel: a local jar.
            "spark.jars": _splink_jar(),
            **self.extra_conf,
        }


def _splink_jar() -> str:
    from splink.backends.spark import similarity_jar_location

    return similarity_jar_location()


def get_session(settings: SparkSettings | None = None, pii_salt: str | None = None) -> Any:
    """The process's SparkSession, created with ``settings`` if none runs yet.

    The PII salt (``pii_salt``, else ``CRM_PII_SALT``, else the development default) is set as the
    session conf ``spark.crm.pii_salt``: SQL reads it by reference, so it never appears in
    compiled SQL or dbt's target/ artefacts.
    """
    from pyspark.sql import SparkSession  # the `spark` extra

    settings = settings or SparkSettings.from_env()
    settings.root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in settings.conf().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("CRM_SPARK_LOG_LEVEL", "ERROR"))
    active_warehouse = session.conf.get("spark.sql.warehouse.dir")
    if Path(active_warehouse.removeprefix("file:")).resolve() != settings.warehouse_dir:
        raise RuntimeError(
            f"a SparkSession with another catalog is already running in this process ({active_warehouse}); "
            f"expected {settings.warehouse_dir}"
        )
    salt = pii_salt if pii_salt is not None else (os.environ.get("CRM_PII_SALT") or DEV_PII_SALT)
    if any(char in salt for char in "'\\$"):
        # It is substituted into a SQL string literal (spark__pii_hash).
        raise ValueError("the PII salt must not contain quotes, backslashes or '$' on Spark")
    session.conf.set(PII_SALT_CONF, salt)
    # splink breaks long lineages by writing Parquet under the checkpoint directory.
    session.sparkContext.setCheckpointDir(str(settings.checkpoint_dir))
    log.info(
        "Spark %s session ready in %.1f s (%s)", session.version, time.perf_counter() - started, settings.root
    )
    return session


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _export_dir(settings: SparkSettings, schema: str, table: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return settings.raw_dir / schema / table / f"export-{stamp}-{uuid.uuid4().hex[:8]}"


def _register_external(session: Any, schema: str, table: str, location: Path) -> int:
    """(Re)point the external table ``schema.table`` at ``location``; returns its row count.

    Drop + create of an EXTERNAL table touches only the catalog, never the files, so readers see
    the old export until the new definition is in place; the schema comes from the Parquet footers.
    """
    qualified = f"{_quote(schema)}.{_quote(table)}"
    session.sql(f"create database if not exists {_quote(schema)}")
    existing = session.catalog.tableExists(f"{schema}.{table}")
    if existing:
        kind = session.sql(f"describe table extended {qualified}").filter("col_name = 'Type'").collect()
        if kind and kind[0]["data_type"].strip().upper() != "EXTERNAL":
            raise RuntimeError(f"{schema}.{table} exists in the Spark catalog and is not an external table")
        session.sql(f"drop table {qualified}")
    location_literal = str(location).replace("\\", "\\\\").replace("'", "\\'")
    session.sql(f"create table {qualified} using parquet location '{location_literal}'")
    return int(session.sql(f"select count(*) as n from {qualified}").collect()[0]["n"])


def _remove_old_exports(current: Path) -> None:
    for old in current.parent.glob("export-*"):
        if old != current:
            shutil.rmtree(old, ignore_errors=True)


def ship_raw(session: Any, warehouse: Path, settings: SparkSettings) -> dict[str, int]:
    """Export every dbt source table from DuckDB to Parquet and register it in Spark.

    Each export goes to a new directory; the external table is switched to it only after its row
    count in Spark equals the count DuckDB exported (same read transaction as the COPY), and older
    exports are deleted after the switch. Returns rows per ``schema.table``.
    """
    shipped: dict[str, int] = {}
    with duckdb_reader(warehouse) as con:
        existing = set(
            con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        )
        con.execute("begin transaction")  # one snapshot for every COPY and count
        try:
            for schema, table, required in SOURCE_TABLES:
                if (schema, table) not in existing:
                    if required:
                        raise ValueError(f"{schema}.{table} is missing from the DuckDB warehouse {warehouse}")
                    log.info("%s.%s not in the warehouse (optional source): not shipped", schema, table)
                    continue
                started = time.perf_counter()
                query = _source_query(con, schema, table)
                target = _export_dir(settings, schema, table)
                target.parent.mkdir(parents=True, exist_ok=True)
                staging = target.with_name("." + target.name + ".tmp")
                con.execute(f"copy ({query}) to '{staging}' (format parquet, per_thread_output true)")
                exported = int(con.execute(f"select count(*) from ({query})").fetchone()[0])
                staging.rename(target)  # Spark never sees a half-written directory
                rows = _register_external(session, schema, table, target)
                if rows != exported:
                    raise RuntimeError(
                        f"{schema}.{table}: Spark reads {rows} rows from {target}, DuckDB exported {exported}"
                    )
                _remove_old_exports(target)
                shipped[f"{schema}.{table}"] = rows
                log.info(
                    "%s.%s: %d rows shipped in %.1f s", schema, table, rows, time.perf_counter() - started
                )
        finally:
            con.execute("rollback")
    return shipped


class SparkIdentityIO:
    """The identity step on splink's SparkAPI over the dbt session itself (no data leaves Spark).

    splink's work tables are temporary views plus Parquet checkpoints under the session's
    checkpoint directory; results are written as managed Parquet tables.
    """

    def __init__(self, session: Any) -> None:
        from crm.identity.backend import SparkBackend

        self.session = session
        self.backend = SparkBackend.create(session)

    def read(self, schema: str, table: str, columns: Sequence[str]) -> Any:
        return self.session.table(f"{_quote(schema)}.{_quote(table)}").select(*columns)

    def write(self, frame: SplinkDataFrame, schema: str, table: str) -> int:
        self.session.sql(f"create database if not exists {_quote(schema)}")
        qualified = f"{_quote(schema)}.{_quote(table)}"
        frame.as_spark_dataframe().write.mode("overwrite").format("parquet").saveAsTable(qualified)  # type: ignore[attr-defined]
        return int(self.session.table(qualified).count())

    def close(self) -> None:
        for table in self.session.catalog.listTables():
            if table.isTemporary and table.name.startswith("__splink__"):
                self.session.catalog.dropTempView(table.name)


@dataclass
class SparkEngine:
    """dbt-spark target `spark` (session method) on the process's local SparkSession."""

    settings: SparkSettings
    pii_salt: str | None = None
    name: str = "spark"
    dbt_target: str = "spark"
    runs_python_models: bool = False
    _session: Any = None

    @classmethod
    def from_env(
        cls, spark_dir: Path | str | None = None, pii_salt: str | None = None, **_: object
    ) -> SparkEngine:
        settings = SparkSettings.from_env()
        if spark_dir is not None:
            settings = replace(settings, root=Path(spark_dir).expanduser().resolve())
        return cls(settings=settings, pii_salt=pii_salt)

    @property
    def session(self) -> Any:
        """Created on first use, before dbt's first statement (dbt-spark then reuses it)."""
        if self._session is None:
            self._session = get_session(self.settings, self.pii_salt)
        return self._session

    def dbt_env(self) -> dict[str, str]:
        self.session  # noqa: B018 - the session must exist before dbt-spark's getOrCreate()
        return {}

    def ship_raw(self, warehouse: Path) -> dict[str, int]:
        return ship_raw(self.session, Path(warehouse), self.settings)

    def identity_io(self) -> SparkIdentityIO:
        return SparkIdentityIO(self.session)

    def fetch(self, sql: str) -> tuple[list[str], list[tuple]]:
        frame = self.session.sql(sql)
        return list(frame.columns), [tuple(row) for row in frame.collect()]

    def close(self) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Ship the dbt sources from a DuckDB warehouse to the local Spark catalog as Parquet."
    )
    parser.add_argument("--warehouse", type=Path, default=os.environ.get("CRM_WAREHOUSE_PATH"))
    parser.add_argument(
        "--spark-dir", type=Path, help="catalog root (default CRM_SPARK_DIR or CRM_DATA_DIR/spark)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.warehouse is None:
        parser.error("--warehouse or CRM_WAREHOUSE_PATH is required")
    settings = SparkSettings.from_env()
    if args.spark_dir:
        settings = replace(settings, root=args.spark_dir.resolve())
    session = get_session(settings)
    try:
        for table, rows in ship_raw(session, args.warehouse, settings).items():
            print(f"{table}: {rows} rows")
    finally:
        session.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
