"""RFM from an order table, in pandas, by the warehouse's rules (``dbt_project/macros/rfm.sql``).

- reference date exclusive: orders dated on or after it are ignored;
- an order is a purchase when its lines net to more than 0; frequency counts purchases;
- monetary is the net of every line (returns, also return-only orders, net out);
- recency is days from the last purchase to the reference date;
- only keys with frequency > 0 and monetary > 0 are scored; the others get 1-1-1;
- score = min(5, 1 + floor(5 * percent_rank)), ties share a rank; recency ranks descending.

Money is exact: ``net_e4`` is an integer number of 1/10,000 currency units (DECIMAL(18, 4) in DuckDB).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of an RFM result, indexed by the entity key (sales reference or customer id).
RFM_RESULT_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary_e4",
    "is_rfm_scored",
    "r_score",
    "f_score",
    "m_score",
)


def orders_of(lines: pd.DataFrame, key: str) -> pd.DataFrame:
    """Lines (key, order_id, order_date, net_e4) -> orders: earliest line date, summed net."""
    return lines.groupby([key, "order_id"], sort=False, observed=True).agg(
        order_date=("order_date", "min"), net_e4=("net_e4", "sum")
    )


def _quintile(values: pd.Series, *, higher_is_better: bool) -> pd.Series:
    n = len(values)
    if n <= 1:
        return pd.Series(1, index=values.index, dtype="int64")
    rank = values.rank(method="min", ascending=higher_is_better).to_numpy(dtype="float64")
    percent_rank = (rank - 1.0) / (n - 1)
    score = np.minimum(5, 1 + np.floor(5 * percent_rank).astype("int64"))
    return pd.Series(score, index=values.index, dtype="int64")


def score_rfm(orders: pd.DataFrame, reference_date: pd.Timestamp) -> pd.DataFrame:
    """Orders indexed by (key, order_id) with order_date and net_e4 -> one RFM row per key."""
    orders = orders[orders["order_date"] < reference_date]
    key = orders.index.names[0]
    purchase = orders["net_e4"] > 0
    frame = pd.DataFrame(
        {
            "is_purchase": purchase.astype("int64"),
            "net_e4": orders["net_e4"],
            "purchase_date": orders["order_date"].where(purchase),
        }
    )
    per_key = frame.groupby(level=key, sort=True).agg(
        frequency=("is_purchase", "sum"),
        monetary_e4=("net_e4", "sum"),
        last_purchase=("purchase_date", "max"),
    )
    out = pd.DataFrame(index=per_key.index)
    out["recency_days"] = (reference_date - per_key["last_purchase"]).dt.days.astype("Int64")
    out["frequency"] = per_key["frequency"].astype("int64")
    out["monetary_e4"] = per_key["monetary_e4"].astype("int64")
    out["is_rfm_scored"] = (out["frequency"] > 0) & (out["monetary_e4"] > 0)
    scored = out[out["is_rfm_scored"]]
    for column, value, higher in (
        ("r_score", "recency_days", False),
        ("f_score", "frequency", True),
        ("m_score", "monetary_e4", True),
    ):
        out[column] = _quintile(scored[value].astype("float64"), higher_is_better=higher).reindex(
            out.index, fill_value=1
        )
    return out[list(RFM_RESULT_COLUMNS)]
