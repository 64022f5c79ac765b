"""Check that the pipeline, the pandas peer and the DuckDB lower bound compute the same RFM table.

Two comparisons, both exact (money in integer 1/10,000 units, scores as integers):

1. **peer = lower bound**, per sales reference (``customer_ref_type:customer_ref_norm``): both work
   from the CSVs alone, so that is the grain they share.
2. **pipeline = peer**, per customer: ``marts.customer_rfm`` is per resolved customer, and identity
   resolution (splink, across sources) is not something a CSV script can do. So the peer's *orders*
   are re-keyed through the pipeline's own ``int_customer_identity_links`` (sales reference ->
   customer_id), re-aggregated per (customer, order) and scored with the same pandas RFM code, then
   compared row by row with the mart. This checks every value and score of every customer in the
   mart; only the reference -> customer mapping is taken from the pipeline.

With a loaded warehouse, the lower-bound statement run over ``raw.sales`` is also compared with the
one run over the CSVs (same grain): ingestion loaded exactly the lines and values the CSVs hold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from crm.benchmark.rfm import RFM_RESULT_COLUMNS, score_rfm


@dataclass(frozen=True)
class Agreement:
    label: str
    grain: str
    compared: int
    only_left: int
    only_right: int
    differing_rows: int
    differing_by_column: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @property
    def mismatches(self) -> int:
        return self.only_left + self.only_right + self.differing_rows

    @property
    def agrees(self) -> bool:
        return self.mismatches == 0 and self.compared > 0


def compare_frames(label: str, grain: str, left: pd.DataFrame, right: pd.DataFrame) -> Agreement:
    """Exact comparison of two RFM results indexed by the same key (NA equals NA)."""
    columns = list(RFM_RESULT_COLUMNS)
    left = left[columns].astype("Int64")
    right = right[columns].astype("Int64")
    common = left.index.intersection(right.index)
    a, b = left.loc[common], right.loc[common]
    differs = (a != b).fillna(True) & ~(a.isna() & b.isna())
    rows = differs.any(axis=1)
    examples = [
        f"{key}: left {a.loc[key].tolist()} right {b.loc[key].tolist()}" for key in rows[rows].index[:5]
    ]
    examples += [f"{key}: only left" for key in left.index.difference(right.index)[:3]]
    examples += [f"{key}: only right" for key in right.index.difference(left.index)[:3]]
    return Agreement(
        label=label,
        grain=grain,
        compared=len(common),
        only_left=len(left.index.difference(right.index)),
        only_right=len(right.index.difference(left.index)),
        differing_rows=int(rows.sum()),
        differing_by_column={c: int(n) for c, n in differs.sum().items() if n},
        examples=examples,
    )


def pipeline_rfm(warehouse: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """``marts.customer_rfm`` (money in 1/10,000 units), the sales identity links, the reference date."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        mart = con.execute(
            """
            select customer_id, recency_days, frequency, cast(monetary * 10000 as bigint) as monetary_e4,
                   is_rfm_scored, r_score, f_score, m_score
            from marts.customer_rfm
            """
        ).df()
        links = con.execute(
            """
            select source_record_id as ref_key, customer_id
            from intermediate.int_customer_identity_links where source = 'sales'
            """
        ).df()
        (reference_date,) = con.execute(
            "select reference_date from intermediate.int_reference_dates_resolved"
        ).fetchone()
    return mart.set_index("customer_id"), links, pd.Timestamp(reference_date)


def peer_by_customer(
    peer_orders: pd.DataFrame, links: pd.DataFrame, reference_date: pd.Timestamp
) -> tuple[pd.DataFrame, int]:
    """The peer's orders re-keyed to the pipeline's customers and scored; also the unlinked ref count."""
    orders = peer_orders.reset_index().merge(links, on="ref_key", how="left")
    unlinked = int(orders.loc[orders["customer_id"].isna(), "ref_key"].nunique())
    orders = orders.dropna(subset=["customer_id"])
    per_customer = orders.groupby(["customer_id", "order_id"], sort=False).agg(
        order_date=("order_date", "min"), net_e4=("net_e4", "sum")
    )
    return score_rfm(per_customer, reference_date), unlinked


def check_agreement(
    peer_dir: Path, lower_bound_dir: Path, warehouse: Path, *, raw_lower_dir: Path | None = None
) -> list[Agreement]:
    """All comparisons; ``raw_lower_dir`` adds the lower bound run on ``raw.sales`` vs on the CSVs."""
    peer = pd.read_parquet(peer_dir / "rfm.parquet")
    lower = pd.read_parquet(lower_bound_dir / "rfm.parquet")
    results = [compare_frames("pandas peer vs DuckDB lower bound", "sales reference", peer, lower)]
    if raw_lower_dir is not None:
        raw_lower = pd.read_parquet(raw_lower_dir / "rfm.parquet")
        results.append(
            compare_frames("lower bound on raw.sales vs on the CSVs", "sales reference", raw_lower, lower)
        )
    mart, links, reference_date = pipeline_rfm(warehouse)
    by_customer, unlinked = peer_by_customer(
        pd.read_parquet(peer_dir / "orders.parquet"), links, reference_date
    )
    pipeline = compare_frames("pipeline customer_rfm vs pandas peer", "customer", mart, by_customer)
    if unlinked:
        pipeline = dataclasses.replace(pipeline, only_right=pipeline.only_right + unlinked)
    results.append(pipeline)
    return results
