"""Customer-lifetime-value panels, drawn when ``marts.customer_clv`` exists (written by ``crm.clv``).

This is the report's extension point for model outputs: a builder here raises ``PanelUnavailable``
when the mart is missing or empty, and ``render`` then leaves the whole CLV section out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crm.report import formatting as fmt
from crm.report.model import Panel, PanelUnavailable
from crm.report.source import ReportSource
from crm.report.theme import ACCENT, SEQUENTIAL, styled

MART = "customer_clv"
BINS = 40


def _scores(source: ReportSource, columns: str) -> pd.DataFrame:
    frame = source.mart(MART, f"select {columns} from marts.{MART}")
    if frame.empty:
        raise PanelUnavailable(f"marts.{MART} is empty (the CLV model was skipped or has not run)")
    return frame


def clv_distribution(source: ReportSource) -> Panel:
    frame = _scores(source, "clv_12m, clv_tier")
    values = frame["clv_12m"].astype(float)
    figure = go.Figure(go.Histogram(x=values, nbinsx=BINS, marker_color=ACCENT, name="customers"))
    figure.update_xaxes(title_text="expected 12-month CLV")
    figure.update_yaxes(title_text="customers")
    total = values.sum()
    top = values.sort_values(ascending=False).head(max(1, int(np.ceil(len(values) * 0.2)))).sum()
    reading = (
        f"Median expected 12-month value {fmt.money(values.median())}, mean {fmt.money(values.mean())}; "
        f"the top 20% of customers hold {fmt.pct(top / total if total else float('nan'))} of expected value."
    )
    tiers = (
        frame.groupby("clv_tier")["clv_12m"]
        .agg(customers="count", total_clv="sum", mean_clv="mean")
        .reset_index()
    )
    shown = fmt.table(tiers, {"customers": fmt.num, "total_clv": fmt.money, "mean_clv": fmt.money})
    return Panel(
        "clv-distribution", "Expected 12-month customer lifetime value", reading, styled(figure), shown
    )


def p_alive(source: ReportSource) -> Panel:
    frame = _scores(source, "probability_alive, frequency, recency, tenure")
    frame["recency_share"] = (frame["recency"] / frame["tenure"].where(frame["tenure"] > 0)).clip(0, 1)
    frame["frequency_band"] = pd.cut(
        frame["frequency"], [-1, 0, 1, 2, 4, 8, np.inf], labels=["0", "1", "2", "3-4", "5-8", "9+"]
    )
    frame["recency_band"] = pd.cut(
        frame["recency_share"],
        np.linspace(0, 1, 6),
        include_lowest=True,
        labels=["0-20%", "20-40%", "40-60%", "60-80%", "80-100%"],
    )
    grid = frame.pivot_table(
        index="frequency_band",
        columns="recency_band",
        values="probability_alive",
        aggfunc="mean",
        observed=False,
    )
    counts = frame.pivot_table(
        index="frequency_band",
        columns="recency_band",
        values="probability_alive",
        aggfunc="count",
        observed=False,
    )
    figure = go.Figure(
        go.Heatmap(
            z=grid.to_numpy() * 100,
            x=[str(c) for c in grid.columns],
            y=[str(i) for i in grid.index],
            customdata=counts.to_numpy(),
            colorscale=SEQUENTIAL,
            zmin=0,
            zmax=100,
            colorbar={"title": {"text": "P(alive)"}, "ticksuffix": "%"},
            hovertemplate="repeat purchases %{y}, last purchase at %{x} of tenure<br>"
            "P(alive) %{z:.0f}% (%{customdata} customers)<extra></extra>",
        )
    )
    figure.update_xaxes(title_text="recency: last purchase as a share of the customer's tenure")
    figure.update_yaxes(title_text="repeat purchases (frequency)")
    recent = frame[frame["recency_share"] >= 0.8]["probability_alive"].mean()
    stale = frame[(frame["recency_share"] < 0.4) & (frame["frequency"] > 0)]["probability_alive"].mean()
    reading = (
        f"Repeat buyers whose last purchase is recent (last 20% of tenure) are alive with probability "
        f"{fmt.pct(recent)}; those who stopped early (first 40%) {fmt.pct(stale)}."
    )
    shown = grid.map(lambda v: fmt.pct(v)).reset_index(names="frequency")
    return Panel("clv-p-alive", "P(alive) by recency and frequency (BG/NBD)", reading, styled(figure), shown)
