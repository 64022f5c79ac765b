"""Stand-ins for dbt's Jinja context so sqlfluff's jinja templater can render the models.

sqlfluff only needs SQL that parses like what dbt compiles for DuckDB; these functions return
DuckDB-flavoured SQL of the same shape as the project macros (``macros/``) and dbt's cross-database
macros (``dbt.*``, in ``dbt.py`` next to this file). ``var`` reads the real vars from
``dbt_project.yml`` so templates that branch on them render as in a dbt run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import dbt  # noqa: F401  (exposed to templates as ``dbt``)

_PROJECT_VARS: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "dbt_project.yml").read_text(encoding="utf-8")
)["vars"]


def var(name: str, default: Any = None) -> Any:
    return _PROJECT_VARS.get(name, default)


def env_var(name: str, default: str = "") -> str:
    return default


class _Column:
    @staticmethod
    def translate_type(name: str) -> str:
        return {"string": "varchar", "float": "double"}.get(name, name)

    @staticmethod
    def numeric_type(name: str, precision: int, scale: int) -> str:
        return f"{name}({precision}, {scale})"


class _Api:
    Column = _Column


api = _Api()


class _Exceptions:
    @staticmethod
    def raise_compiler_error(message: str) -> None:
        raise RuntimeError(message)


exceptions = _Exceptions()


def type_money() -> str:
    return "decimal(18, 4)"


def type_money_sum() -> str:
    return "decimal(38, 4)"


def money_from_product(expression: str) -> str:
    return f"cast({expression} as decimal(18, 4))"


def type_ratio() -> str:
    return "double precision"


def safe_divide(numerator: str, denominator: str) -> str:
    return f"cast({numerator} as double precision) / nullif(cast({denominator} as double precision), 0)"


def rfm_scored_select(from_relation: str, segment_map: str, partition_by: str | None = None) -> str:
    partition = f"{partition_by}, is_rfm_scored" if partition_by else "is_rfm_scored"
    return (
        f"select scored.*, scored.r_score || scored.f_score || scored.m_score as rfm_cell, "
        f"segment_map.rfm_segment from (select base.*, "
        f"least(5, 1 + floor(5 * percent_rank() over (partition by {partition} order by recency_days desc)))"
        f" as r_score, 1 as f_score, 1 as m_score, true as is_rfm_scored, null as rfm_exclusion_reason"
        f" from {from_relation} as base) as scored left join {segment_map} as segment_map"
        f" on scored.r_score = segment_map.r_score and scored.f_score = segment_map.f_score"
    )


def pii_hash(value: str) -> str:
    return f"sha256('salt' || {value})"


def mask_name(value: str) -> str:
    return f"left({value}, 1) || '*'"


def mask_phone(value: str) -> str:
    return f"left({value}, 3) || '*'"


def mask_email(value: str) -> str:
    return f"left({value}, 1) || '***@'"


def load_relation(relation: Any) -> Any:
    """dbt's load_relation: here every relation exists, so templates lint their main branch."""
    return relation


class _Target:
    """dbt's ``target``: the models lint as compiled for the default DuckDB target."""

    type = "duckdb"
    name = "dev"


target = _Target()


def sales_record_id(type_column: str = "customer_ref_type", norm_column: str = "customer_ref_norm") -> str:
    return f"{type_column} || ':' || {norm_column}"


def type_timestamp_tz() -> str:
    return "timestamp with time zone"


def later_than(column: str, instant_text: str) -> str:
    return f"{column} > cast('{instant_text}' as timestamp with time zone)"


def in_values(column: str, values: list[str]) -> str:
    return f"{column} in (" + ", ".join(f"'{value}'" for value in values) + ")"


#: dbt's ``execute``: true, so the models that read watermarks at run time (``run_query``) lint the
#: statement they run, with the stand-in values below.
execute = True


class _QueryColumn:
    def __init__(self, values: list[Any]) -> None:
        self._values = values

    def values(self) -> list[Any]:
        return self._values


class _QueryTable:
    def __init__(self, rows: list[list[Any]]) -> None:
        self.rows = rows
        self.columns = [_QueryColumn([row[i] for row in rows]) for i in range(len(rows[0]) if rows else 0)]


def run_query(sql: str) -> _QueryTable:
    """One row of plausible values by the query's shape: a count (1, so that every branch renders),
    batch ids, or timestamps as text."""
    if "count(*)" in sql:
        return _QueryTable([[1]])
    if "_batch_id" in sql:
        return _QueryTable([["sales-20260101T000000000000-000000000000"]])
    return _QueryTable([["2026-01-01 00:00:00+00", "2026-01-01 00:00:00+00"]])
