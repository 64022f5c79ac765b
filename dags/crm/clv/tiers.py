"""CLV tiers: customers ranked by predicted 12-month CLV."""

from __future__ import annotations

import pandas as pd

#: (tier, cumulative share of customers from the top): the top 20% by CLV are "high", the next 30%
#: "medium", the rest "low". Customers with equal CLV share the better tier.
CLV_TIERS: tuple[tuple[str, float], ...] = (("high", 0.20), ("medium", 0.50), ("low", 1.00))


def assign_clv_tiers(clv: pd.Series, tiers: tuple[tuple[str, float], ...] = CLV_TIERS) -> pd.Series:
    """The tier of each customer given their predicted CLV (same index as ``clv``)."""
    shares = [share for _, share in tiers]
    if shares != sorted(shares) or shares[-1] != 1.0 or shares[0] <= 0:
        raise ValueError(f"CLV tier shares must increase from above 0 to 1.0, got {tiers}")
    if clv.isna().any():
        raise ValueError(f"{int(clv.isna().sum())} customers have no CLV; cannot assign tiers")
    if clv.empty:
        return pd.Series([], index=clv.index, dtype="object")
    share_at_or_above = clv.rank(ascending=False, method="min", pct=True)
    tier = pd.cut(share_at_or_above, bins=[0.0, *shares], labels=[name for name, _ in tiers])
    return tier.astype("object")
