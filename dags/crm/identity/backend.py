"""The one place that picks splink's backend for a dbt Python model's session.

dbt-duckdb hands a Python model a ``duckdb.DuckDBPyConnection`` and returns refs as DuckDB
relations; dbt-spark hands a ``SparkSession`` and Spark DataFrames. Everything else in
:mod:`crm.identity` talks to splink through :class:`SplinkBackend`, so running identity resolution
on another engine means adding a backend here, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb
from splink import DuckDBAPI
from splink.internals.database_api import DatabaseAPISubClass
from splink.internals.dialects import DuckDBDialect, SparkDialect
from splink.internals.input_column import InputColumn
from splink.internals.splink_dataframe import SplinkDataFrame

#: The sample bucket is the first 32 bits of an MD5: uniform on [0, 2**32).
SAMPLE_BUCKETS = 2**32


def sample_clause(
    dialect_bucket: str,
    string_type: str,
    proportion: float,
    unique_id_cols: list[InputColumn],
    seed: int | None,
) -> str:
    """splink's proportion_sample_sql with a bucket every engine computes alike.

    splink samples records for the u estimation by ``hash(record id || seed) % modulus`` with each
    engine's own hash function (DuckDB's ``hash``, Spark's Murmur3), so the same records on two
    engines give two samples, two u estimates and possibly different links near the match
    threshold. Here the bucket is the first 32 bits of the MD5 of the same string, which DuckDB,
    Spark and PostgreSQL compute identically, so every engine trains on the same records.
    """
    if proportion >= 1.0:
        return ""
    names = [col.name for col in unique_id_cols]
    composite = " || '-__-' || ".join(f"cast({name} as {string_type})" for name in names)
    if seed is not None:
        composite = f"({composite}) || '_{int(seed)}'"
    threshold = max(1, round(proportion * SAMPLE_BUCKETS))
    return f" AND {dialect_bucket.format(value=composite)} < {threshold}"


class PortableSampleDuckDBDialect(DuckDBDialect):
    """DuckDB dialect whose u-estimation sample equals the Spark one (see :func:`sample_clause`)."""

    def proportion_sample_sql(
        self, proportion: float, unique_id_cols: list[InputColumn], seed: int | None = None
    ) -> str:
        bucket = "cast('0x' || left(md5({value}), 8) as bigint)"
        return sample_clause(bucket, "varchar", proportion, unique_id_cols, seed)


class PortableSampleSparkDialect(SparkDialect):
    """Spark dialect whose u-estimation sample equals the DuckDB one (see :func:`sample_clause`)."""

    def proportion_sample_sql(
        self, proportion: float, unique_id_cols: list[InputColumn], seed: int | None = None
    ) -> str:
        bucket = "cast(conv(substr(md5({value}), 1, 8), 16, 10) as bigint)"
        return sample_clause(bucket, "string", proportion, unique_id_cols, seed)


class SplinkBackend(Protocol):
    """How splink runs next to one dbt adapter."""

    name: str
    db_api: DatabaseAPISubClass

    def select(
        self, relation: Any, columns: Sequence[str], condition: str | None = None, order_by: str | None = None
    ) -> Any:
        """Columns (and rows matching a SQL condition) of a dbt ref, in a deterministic order."""
        ...

    def to_splink_input(self, relation: Any) -> Any:
        """A dbt ref (relation or DataFrame) as something ``db_api.register`` accepts."""
        ...

    def to_model_output(self, frame: SplinkDataFrame) -> Any:
        """A splink result as something the dbt adapter can materialise from a Python model."""
        ...


@dataclass
class DuckDBBackend:
    """splink on a private in-memory DuckDB database.

    splink materialises many ``__splink__*`` work tables; keeping them out of the warehouse file
    means a failed run leaves nothing behind and the warehouse's single-writer lock is held only
    for the final write. The data cross over as Arrow (zero-copy within the process).
    """

    db_api: DatabaseAPISubClass
    name: str = "duckdb"

    @classmethod
    def create(cls, threads: int | None = None) -> DuckDBBackend:
        con = duckdb.connect(":memory:")
        if threads:
            con.execute(f"set threads = {int(threads)}")
        db_api = DuckDBAPI(connection=con)
        db_api.sql_dialect = PortableSampleDuckDBDialect()
        return cls(db_api=db_api)

    def select(
        self, relation: Any, columns: Sequence[str], condition: str | None = None, order_by: str | None = None
    ) -> Any:
        if condition:
            relation = relation.filter(condition)
        relation = relation.project(", ".join(columns))
        return relation.order(order_by) if order_by else relation

    def to_splink_input(self, relation: Any) -> Any:
        if isinstance(relation, duckdb.DuckDBPyRelation):
            return relation.to_arrow_table()
        return relation

    def to_model_output(self, frame: SplinkDataFrame) -> Any:
        return frame.as_duckdbpyrelation().to_arrow_table()


@dataclass
class SparkBackend:
    """splink on the dbt-spark session itself (its work tables live in the session's catalog)."""

    db_api: DatabaseAPISubClass
    name: str = "spark"

    @classmethod
    def create(cls, spark_session: Any) -> SparkBackend:
        from splink import SparkAPI  # pyspark is an optional extra

        db_api = SparkAPI(spark_session=spark_session)
        db_api.sql_dialect = PortableSampleSparkDialect()
        return cls(db_api=db_api)

    def select(
        self, relation: Any, columns: Sequence[str], condition: str | None = None, order_by: str | None = None
    ) -> Any:
        if condition:
            relation = relation.filter(condition)
        relation = relation.select(*columns)
        return relation.orderBy(order_by) if order_by else relation

    def to_splink_input(self, relation: Any) -> Any:
        return relation

    def to_model_output(self, frame: SplinkDataFrame) -> Any:
        return frame.as_spark_dataframe()  # type: ignore[attr-defined]


def backend_for(session: Any) -> SplinkBackend:
    """The splink backend matching a dbt Python model's ``session`` argument."""
    # dbt-duckdb wraps its cursor (DuckDBCursorWrapper) and forwards everything to it.
    cursor = getattr(session, "_cursor", session)
    if isinstance(cursor, duckdb.DuckDBPyConnection):
        return DuckDBBackend.create()
    if type(session).__name__ == "SparkSession":
        return SparkBackend.create(session)
    raise TypeError(
        f"identity resolution has no splink backend for a dbt session of type {type(session).__qualname__}; "
        "supported: duckdb.DuckDBPyConnection (dbt-duckdb), pyspark SparkSession (dbt-spark)"
    )
