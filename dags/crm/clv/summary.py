"""Load the per-customer repeat-purchase summary built by dbt (``int_customer_clv_summary``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

SUMMARY_TABLE = "intermediate.int_customer_clv_summary"

#: Columns handed to pymc-marketing, named as its CLV models expect them (tenure is Fader & Hardie's T).
MODEL_COLUMNS: tuple[str, ...] = ("customer_id", "frequency", "recency", "T", "monetary_value")


class SummaryError(ValueError):
    """The summary table is missing or inconsistent."""


@dataclass(frozen=True)
class CustomerSummary:
    """The model input: one row per customer, plus the data window it was computed for."""

    frame: pd.DataFrame
    """customer_id, frequency, recency, T, monetary_value (times in periods of ``period_days`` days)."""
    period_days: int | None
    calibration_end: dt.date | None
    first_purchase: dt.date | None

    @property
    def n_customers(self) -> int:
        return len(self.frame)

    @property
    def n_repeat_buyers(self) -> int:
        return int((self.frame["frequency"] > 0).sum())

    @property
    def n_repeat_transactions(self) -> int:
        return int(self.frame["frequency"].sum())


def load_summary(con: duckdb.DuckDBPyConnection, table: str = SUMMARY_TABLE) -> CustomerSummary:
    """Read ``table`` (built by ``dbt build --select int_customer_clv_summary``) into a CustomerSummary."""
    schema, name = table.split(".")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    if not exists or exists[0] == 0:
        raise SummaryError(
            f"{table} does not exist: build it first (dbt build --select int_customer_clv_summary)"
        )

    window = con.execute(
        f"""
        select
            count(distinct period_days), min(period_days),
            count(distinct calibration_end_date), min(calibration_end_date),
            min(first_purchase_date)
        from {table}
        """
    ).fetchone()
    assert window is not None
    n_periods, period_days, n_ends, calibration_end, first_purchase = window
    if n_periods > 1 or n_ends > 1:
        raise SummaryError(
            f"{table}: expected one period_days and one calibration_end_date for all rows, found "
            f"{n_periods} and {n_ends}; rebuild it with dbt"
        )

    frame = con.execute(
        f"""
        select customer_id, frequency, recency, tenure as "T", monetary_value
        from {table}
        order by customer_id
        """
    ).df()
    frame = frame.astype(
        {"frequency": "int64", "recency": "float64", "T": "float64", "monetary_value": "float64"}
    )
    return CustomerSummary(
        frame=frame,
        period_days=None if period_days is None else int(period_days),
        calibration_end=calibration_end,
        first_purchase=first_purchase,
    )
