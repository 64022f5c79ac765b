"""CLV result tables: marts.customer_clv (replaced atomically) and marts.clv_model_runs (appended)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import pandas as pd

CUSTOMER_CLV_TABLE = "marts.customer_clv"
MODEL_RUNS_TABLE = "marts.clv_model_runs"

CUSTOMER_CLV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "varchar primary key"),
    ("probability_alive", "double not null"),
    ("expected_purchases_3m", "double not null"),
    ("expected_purchases_6m", "double not null"),
    ("expected_purchases_12m", "double not null"),
    ("expected_avg_order_value", "double not null"),
    ("clv_12m", "double not null"),
    ("clv_tier", "varchar not null"),
    ("frequency", "integer not null"),
    ("recency", "double not null"),
    ("tenure", "double not null"),
    ("monetary_value", "double not null"),
    ("period_days", "integer not null"),
    ("calibration_end_date", "date not null"),
    ("run_id", "varchar not null"),
    ("scored_at", "timestamp with time zone not null"),
)

MODEL_RUNS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "varchar primary key"),
    ("status", "varchar not null"),  # succeeded | skipped | failed
    ("reason", "varchar"),
    ("started_at", "timestamp with time zone not null"),
    ("finished_at", "timestamp with time zone not null"),
    ("library", "varchar not null"),
    ("library_version", "varchar not null"),
    ("fit_method", "varchar not null"),
    ("summary_table", "varchar not null"),
    ("period_days", "integer"),
    ("first_purchase_date", "date"),
    ("calibration_end_date", "date"),
    ("n_customers", "integer not null"),
    ("n_repeat_buyers", "integer not null"),
    ("n_repeat_transactions", "bigint not null"),
    ("n_gamma_gamma_customers", "integer"),
    ("bgnbd_r", "double"),
    ("bgnbd_alpha", "double"),
    ("bgnbd_a", "double"),
    ("bgnbd_b", "double"),
    ("bgnbd_log_likelihood", "double"),
    ("bgnbd_max_abs_gradient", "double"),
    ("bgnbd_converged", "boolean"),
    ("bgnbd_fit_seconds", "double"),
    ("gg_p", "double"),
    ("gg_q", "double"),
    ("gg_v", "double"),
    ("gg_log_likelihood", "double"),
    ("gg_max_abs_gradient", "double"),
    ("gg_converged", "boolean"),
    ("gg_fit_seconds", "double"),
    ("discount_rate_monthly", "double not null"),
    ("predict_seconds", "double"),
    ("total_seconds", "double not null"),
)


def _ddl(table: str, columns: tuple[tuple[str, str], ...], *, if_not_exists: bool = False) -> str:
    body = ",\n    ".join(f"{name} {type_}" for name, type_ in columns)
    return f"create table {'if not exists ' if if_not_exists else ''}{table} (\n    {body}\n)"


def write_results(con: duckdb.DuckDBPyConnection, customers: pd.DataFrame, run: Mapping[str, Any]) -> None:
    """Replace marts.customer_clv with ``customers`` and append ``run`` to marts.clv_model_runs, atomically.

    The new scores go to a fresh table that is swapped in (drop + rename) inside the same transaction
    as the run row, so readers see either the previous run or this one, never a half-written table.
    """
    schema, name = CUSTOMER_CLV_TABLE.split(".")
    staging = f"{schema}.{name}__new"
    names = [column for column, _ in CUSTOMER_CLV_COLUMNS]
    missing = sorted(set(names) - set(customers.columns))
    if missing:
        raise ValueError(f"customer scores lack the columns {missing} of {CUSTOMER_CLV_TABLE}")
    frame = customers[names]
    con.begin()
    try:
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"drop table if exists {staging}")
        con.execute(_ddl(staging, CUSTOMER_CLV_COLUMNS))
        con.register("clv_scores", frame)
        try:
            column_list = ", ".join(names)
            con.execute(f"insert into {staging} ({column_list}) select {column_list} from clv_scores")
        finally:
            con.unregister("clv_scores")
        con.execute(f"drop table if exists {CUSTOMER_CLV_TABLE}")
        con.execute(f"alter table {staging} rename to {name}")
        _insert_run(con, run)
        con.commit()
    except BaseException:
        con.rollback()
        raise


def append_run(con: duckdb.DuckDBPyConnection, run: Mapping[str, Any]) -> None:
    """Append one row to marts.clv_model_runs (for runs that leave marts.customer_clv as it is)."""
    con.begin()
    try:
        _insert_run(con, run)
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _insert_run(con: duckdb.DuckDBPyConnection, run: Mapping[str, Any]) -> None:
    names = [column for column, _ in MODEL_RUNS_COLUMNS]
    unknown = sorted(set(run) - set(names))
    if unknown:
        raise ValueError(f"{MODEL_RUNS_TABLE} has no columns {unknown}")
    con.execute(f"create schema if not exists {MODEL_RUNS_TABLE.split('.')[0]}")
    con.execute(_ddl(MODEL_RUNS_TABLE, MODEL_RUNS_COLUMNS, if_not_exists=True))
    placeholders = ", ".join("?" for _ in names)
    con.execute(
        f"insert into {MODEL_RUNS_TABLE} ({', '.join(names)}) values ({placeholders})",
        [run.get(column) for column in names],
    )
