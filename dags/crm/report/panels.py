"""Business panels: customers and value, retention, voice of the customer, products.

Each builder reads one or two marts, draws one plotly figure, computes its one-line reading from the
same numbers and returns them as the panel's table. A builder raises ``PanelUnavailable`` when its
mart is not published, and the report shows that instead of the chart.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crm.report import formatting as fmt
from crm.report.model import Panel, PanelUnavailable
from crm.report.source import ReportSource
from crm.report.theme import ACCENT, MUTED, NEGATIVE, PALETTE, POSITIVE, SEQUENTIAL, WARNING, styled

#: Display order of the RFM segments (best to worst), as named in the dbt segment seed.
RFM_SEGMENT_ORDER = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Cannot Lose Them",
    "Hibernating",
    "Lost",
)
VALUE_TIER_ORDER = ("high_value", "regular", "small", "no_revenue")
#: Cohort ages (months since first purchase) quoted in the cohort reading.
COHORT_MILESTONES = (1, 3, 6, 12)
MAX_COHORT_AGE = 24
MAX_PRODUCTS = 20
#: Net Promoter Score over survey responses: % promoters - % detractors (among those who answered).
NPS_SQL = (
    "100.0 * (count(*) filter (nps_category = 'promoter') - count(*) filter (nps_category = 'detractor'))"
    " / nullif(count(nps_category), 0)"
)


def _label(code: str) -> str:
    return str(code).replace("_", " ")


def _require_rows(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if frame.empty:
        raise PanelUnavailable(f"{what} has no rows yet")
    return frame


def rfm_segments(source: ReportSource) -> Panel:
    frame = source.mart(
        "customer_rfm",
        """
        select rfm_segment as segment, count(*) as customers, sum(monetary) as revenue
        from marts.customer_rfm
        where is_rfm_scored
        group by rfm_segment
        """,
    )
    frame = _require_rows(frame, "marts.customer_rfm (scored customers)")
    rank = {name: i for i, name in enumerate(RFM_SEGMENT_ORDER)}
    frame = frame.assign(order=frame["segment"].map(lambda s: rank.get(s, len(rank))))
    frame = frame.sort_values(["order", "segment"]).drop(columns="order").reset_index(drop=True)
    frame["revenue"] = frame["revenue"].astype(float)
    frame["customer_share"] = frame["customers"] / frame["customers"].sum()
    total_revenue = frame["revenue"].sum()
    frame["revenue_share"] = frame["revenue"] / total_revenue if total_revenue else float("nan")
    top = frame.loc[frame["revenue"].idxmax()]

    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_bar(x=frame["segment"], y=frame["customers"], name="customers", marker_color=PALETTE[0])
    figure.add_scatter(
        x=frame["segment"],
        y=frame["revenue"],
        name="net revenue",
        mode="lines+markers",
        line={"color": PALETTE[1], "width": 3},
        secondary_y=True,
    )
    figure.update_yaxes(title_text="customers", secondary_y=False)
    figure.update_yaxes(title_text="net revenue", secondary_y=True, showgrid=False)
    reading = (
        f"{top['segment']} bring the most revenue: {fmt.pct(top['revenue_share'])} of it from "
        f"{fmt.pct(top['customer_share'])} of scored customers ({fmt.num(top['customers'])})."
    )
    shown = fmt.table(
        frame,
        {"customers": fmt.num, "revenue": fmt.money, "customer_share": fmt.pct, "revenue_share": fmt.pct},
    )
    return Panel("rfm-segments", "RFM segments: size and revenue", reading, styled(figure), shown)


def pareto_curve(source: ReportSource) -> Panel:
    frame = source.mart(
        "customer_pareto_summary",
        """
        select customer_share_pct, customers_in_share, cumulative_revenue, revenue_share,
               total_customers, top_customer_share, top_customer_revenue_share
        from marts.customer_pareto_summary
        order by customer_share_pct
        """,
    )
    frame = _require_rows(frame, "marts.customer_pareto_summary")
    top_share = float(frame["top_customer_share"].iloc[0])
    top_revenue = frame["top_customer_revenue_share"].iloc[0]
    x = frame["customer_share_pct"].astype(float)
    figure = go.Figure()
    figure.add_scatter(
        x=x,
        y=frame["revenue_share"] * 100,
        mode="lines+markers",
        name="cumulative revenue share",
        line={"color": ACCENT, "width": 3},
        fill="tozeroy",
        fillcolor="rgba(37,99,235,0.08)",
    )
    figure.add_scatter(
        x=[0, 100], y=[0, 100], mode="lines", name="equal share", line={"color": MUTED, "dash": "dot"}
    )
    figure.add_scatter(
        x=[top_share * 100],
        y=[float(top_revenue) * 100],
        mode="markers+text",
        name=f"top {fmt.pct(top_share)}",
        marker={"color": NEGATIVE, "size": 12},
        text=[fmt.pct(top_revenue)],
        textposition="middle right",
        showlegend=False,
    )
    figure.update_xaxes(title_text="customers, ranked by net revenue (%)", range=[0, 100], ticksuffix="%")
    figure.update_yaxes(title_text="share of net revenue (%)", range=[0, 105], ticksuffix="%")
    reading = (
        f"Top {fmt.pct(top_share)} of customers bring {fmt.pct(top_revenue)} of net revenue "
        f"({fmt.num(frame['total_customers'].iloc[0])} customers with positive revenue)."
    )
    shown = fmt.table(
        frame[["customer_share_pct", "customers_in_share", "cumulative_revenue", "revenue_share"]],
        {
            "customer_share_pct": lambda v: f"{v:g}%",
            "customers_in_share": fmt.num,
            "cumulative_revenue": fmt.money,
            "revenue_share": lambda v: fmt.pct(v, 1),
        },
    )
    return Panel("pareto", "Revenue concentration (Pareto curve)", reading, styled(figure), shown)


def value_tiers(source: ReportSource) -> Panel:
    frame = source.mart(
        "customer_value_tiers",
        """
        select value_tier, count(*) as customers, sum(net_revenue) as revenue
        from marts.customer_value_tiers
        group by value_tier
        """,
    )
    frame = _require_rows(frame, "marts.customer_value_tiers")
    rank = {name: i for i, name in enumerate(VALUE_TIER_ORDER)}
    frame = frame.assign(order=frame["value_tier"].map(lambda s: rank.get(s, len(rank))))
    frame = frame.sort_values(["order", "value_tier"]).drop(columns="order").reset_index(drop=True)
    frame["revenue"] = frame["revenue"].astype(float)
    frame["customer_share"] = frame["customers"] / frame["customers"].sum()
    frame["revenue_share"] = frame["revenue"] / frame["revenue"].sum() if frame["revenue"].sum() else 0.0

    figure = go.Figure()
    for i, row in frame.iterrows():
        figure.add_bar(
            y=["customers", "net revenue"],
            x=[row["customer_share"] * 100, row["revenue_share"] * 100],
            name=_label(row["value_tier"]),
            orientation="h",
            marker_color=PALETTE[i % len(PALETTE)],
            text=[fmt.pct(row["customer_share"]), fmt.pct(row["revenue_share"])],
            textposition="inside",
        )
    figure.update_layout(barmode="stack")
    figure.update_xaxes(title_text="share (%)", range=[0, 100], ticksuffix="%")
    top = frame.iloc[0]
    reading = (
        f"{_label(top['value_tier']).capitalize()} customers are {fmt.pct(top['customer_share'])} of "
        f"customers ({fmt.num(top['customers'])}) and bring {fmt.pct(top['revenue_share'])} of net revenue."
    )
    shown = fmt.table(
        frame,
        {
            "value_tier": _label,
            "customers": fmt.num,
            "revenue": fmt.money,
            "customer_share": fmt.pct,
            "revenue_share": fmt.pct,
        },
    )
    return Panel("value-tiers", "Value tiers", reading, styled(figure, height=260), shown)


def monthly_customers(source: ReportSource) -> Panel:
    frame = source.mart(
        "loyalty_monthly",
        """
        select month_start, is_partial_month, active_customers, new_customers, churned_customers,
               retained_customers, reactivated_customers, retention_rate, churn_rate
        from marts.loyalty_monthly
        order by month_start
        """,
    )
    frame = _require_rows(frame, "marts.loyalty_monthly")
    complete = frame[~frame["is_partial_month"].astype(bool)]
    latest = (complete if not complete.empty else frame).iloc[-1]

    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.62, 0.38],
        vertical_spacing=0.06,
    )
    figure.add_scatter(
        x=frame["month_start"],
        y=frame["active_customers"],
        name="active",
        mode="lines",
        line={"color": ACCENT, "width": 3},
        row=1,
        col=1,
    )
    figure.add_bar(
        x=frame["month_start"], y=frame["new_customers"], name="new", marker_color=POSITIVE, row=1, col=1
    )
    figure.add_bar(
        x=frame["month_start"],
        y=-frame["churned_customers"],
        name="churned (shown negative)",
        marker_color=NEGATIVE,
        row=1,
        col=1,
    )
    figure.add_scatter(
        x=frame["month_start"],
        y=frame["retention_rate"] * 100,
        name="retention rate",
        mode="lines",
        line={"color": PALETTE[2]},
        row=2,
        col=1,
    )
    figure.add_scatter(
        x=frame["month_start"],
        y=frame["churn_rate"] * 100,
        name="churn rate",
        mode="lines",
        line={"color": WARNING},
        row=2,
        col=1,
    )
    figure.update_layout(barmode="relative")
    figure.update_yaxes(title_text="customers", row=1, col=1)
    figure.update_yaxes(title_text="rate (%)", ticksuffix="%", row=2, col=1)
    reading = (
        f"In {fmt.month(latest['month_start'])}: {fmt.num(latest['active_customers'])} active customers, "
        f"{fmt.num(latest['new_customers'])} new, {fmt.num(latest['churned_customers'])} churned; "
        f"retention {fmt.pct(latest['retention_rate'], 1)}, churn {fmt.pct(latest['churn_rate'], 1)}."
    )
    shown = fmt.table(
        frame.sort_values("month_start", ascending=False),
        {
            "month_start": fmt.month,
            "is_partial_month": lambda v: "partial" if v else "",
            "active_customers": fmt.num,
            "new_customers": fmt.num,
            "churned_customers": fmt.num,
            "retained_customers": fmt.num,
            "reactivated_customers": fmt.num,
            "retention_rate": lambda v: fmt.pct(v, 1),
            "churn_rate": lambda v: fmt.pct(v, 1),
        },
    )
    note = (
        "The last month is partial (up to the reference date)."
        if bool(frame["is_partial_month"].iloc[-1])
        else ""
    )
    return Panel(
        "monthly-customers",
        "Active, new and churned customers by month",
        reading,
        styled(figure, height=460),
        shown,
        note,
    )


def cohort_heatmap(source: ReportSource) -> Panel:
    frame = source.mart(
        "cohort_retention",
        """
        select cohort_month, months_since_first_purchase as age, cohort_customers, retention_share
        from marts.cohort_retention
        where months_since_first_purchase <= ?
        order by cohort_month, age
        """,
        [MAX_COHORT_AGE],
    )
    frame = _require_rows(frame, "marts.cohort_retention")
    grid = frame.pivot(index="cohort_month", columns="age", values="retention_share").sort_index()
    sizes = frame.groupby("cohort_month")["cohort_customers"].max()
    labels = [f"{fmt.month(m)} (n={sizes[m]:,})" for m in grid.index]
    figure = go.Figure(
        go.Heatmap(
            z=grid.to_numpy() * 100,
            x=[str(c) for c in grid.columns],
            y=labels,
            colorscale=SEQUENTIAL,
            zmin=0,
            zmax=max(5.0, float(frame.loc[frame["age"] > 0, "retention_share"].max() or 0) * 100),
            colorbar={"title": {"text": "% buying"}, "ticksuffix": "%"},
            hovertemplate="cohort %{y}<br>month %{x}: %{z:.1f}% bought<extra></extra>",
        )
    )
    figure.update_xaxes(title_text="months since first purchase")
    figure.update_yaxes(autorange="reversed", title_text="first-purchase cohort")

    milestones = []
    for age in COHORT_MILESTONES:
        at = frame[frame["age"] == age]
        if not at.empty:
            weighted = (at["retention_share"] * at["cohort_customers"]).sum() / at["cohort_customers"].sum()
            milestones.append(f"month {age}: {fmt.pct(weighted, 1)}")
    reading = (
        "Share of a cohort buying again (customer-weighted over cohorts) — " + "; ".join(milestones) + "."
        if milestones
        else "No cohort is old enough to show repeat purchases yet."
    )
    shown_grid = grid.copy()
    shown_grid.index = labels
    shown = shown_grid.map(lambda v: fmt.pct(v, 1)).reset_index(names="cohort")
    shown.columns = ["cohort", *[f"m{c}" for c in grid.columns]]
    return Panel(
        "cohorts",
        "Cohort retention (share of each first-purchase cohort buying, by month)",
        reading,
        styled(figure, height=max(360, 18 * len(grid) + 120)),
        shown,
    )


def nps_csat(source: ReportSource) -> Panel:
    monthly = source.mart(
        "loyalty_monthly",
        """
        select month_start, survey_responses, nps, csat, average_satisfaction
        from marts.loyalty_monthly
        where survey_responses > 0
        order by month_start
        """,
    )
    monthly = _require_rows(monthly, "marts.loyalty_monthly (months with survey responses)")
    overall = source.mart(
        "fct_questionnaire_responses",
        f"""
        select count(*) as responses, {NPS_SQL} as nps,
               avg(case when is_satisfied then 1.0 when not is_satisfied then 0.0 end) as csat
        from marts.fct_questionnaire_responses
        """,
    ).iloc[0]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_scatter(
        x=monthly["month_start"],
        y=monthly["nps"],
        name="NPS",
        mode="lines+markers",
        line={"color": ACCENT, "width": 3},
    )
    figure.add_scatter(
        x=monthly["month_start"],
        y=monthly["csat"] * 100,
        name="CSAT (% satisfied)",
        mode="lines+markers",
        line={"color": PALETTE[1], "width": 2},
        secondary_y=True,
    )
    figure.update_yaxes(title_text="NPS (-100..100)", range=[-100, 100], secondary_y=False)
    figure.update_yaxes(
        title_text="CSAT (% satisfied)", range=[0, 100], ticksuffix="%", secondary_y=True, showgrid=False
    )
    latest = monthly.iloc[-1]
    reading = (
        f"NPS {fmt.signed(overall['nps'])} and CSAT {fmt.pct(overall['csat'])} over "
        f"{fmt.num(overall['responses'])} responses; latest month {fmt.month(latest['month_start'])}: "
        f"NPS {fmt.signed(latest['nps'])}, CSAT {fmt.pct(latest['csat'])} "
        f"({fmt.num(latest['survey_responses'])} responses)."
    )
    shown = fmt.table(
        monthly.sort_values("month_start", ascending=False),
        {
            "month_start": fmt.month,
            "survey_responses": fmt.num,
            "nps": fmt.signed,
            "csat": fmt.pct,
            "average_satisfaction": lambda v: fmt.num(v, 2),
        },
    )
    return Panel("nps-csat", "NPS and CSAT by month", reading, styled(figure), shown)


def complaint_repurchase(source: ReportSource) -> Panel:
    frame = source.mart(
        "loyalty_monthly",
        """
        select 'resolved' as complaint,
               sum(resolved_complaints) as complaints,
               sum(resolved_complaints * coalesce(resolved_complaint_repurchase_rate, 0)) as repurchased
        from marts.loyalty_monthly
        union all
        select 'unresolved',
               sum(unresolved_complaints),
               sum(unresolved_complaints * coalesce(unresolved_complaint_repurchase_rate, 0))
        from marts.loyalty_monthly
        """,
    )
    frame["complaints"] = frame["complaints"].fillna(0).astype(int)
    frame["repurchased"] = frame["repurchased"].fillna(0).round().astype(int)
    if frame["complaints"].sum() == 0:
        raise PanelUnavailable("no complaints recorded in marts.loyalty_monthly")
    frame["repurchase_rate"] = frame["repurchased"] / frame["complaints"].where(frame["complaints"] > 0)
    figure = go.Figure(
        go.Bar(
            x=frame["complaint"],
            y=frame["repurchase_rate"] * 100,
            marker_color=[POSITIVE, NEGATIVE],
            text=[
                f"{fmt.pct(r)} of {n:,}"
                for r, n in zip(frame["repurchase_rate"], frame["complaints"], strict=True)
            ],
            textposition="outside",
        )
    )
    figure.update_yaxes(
        title_text="repurchased after the complaint (%)",
        ticksuffix="%",
        range=[0, max(10.0, float(frame["repurchase_rate"].max() or 0) * 115)],
    )
    resolved, unresolved = frame.iloc[0], frame.iloc[1]
    reading = (
        f"Customers whose complaint was resolved bought again {fmt.pct(resolved['repurchase_rate'])} "
        f"of the time ({fmt.num(resolved['complaints'])} complaints) vs "
        f"{fmt.pct(unresolved['repurchase_rate'])} when it was not ({fmt.num(unresolved['complaints'])})."
    )
    shown = fmt.table(frame, {"complaints": fmt.num, "repurchased": fmt.num, "repurchase_rate": fmt.pct})
    return Panel(
        "complaints",
        "Complaint resolution vs repurchase",
        reading,
        styled(figure, height=320),
        shown,
        "Repurchase within the dbt var complaint_repurchase_window_days of the survey date.",
    )


def products(source: ReportSource) -> Panel:
    frame = source.mart(
        "product_performance",
        """
        select sku, product_name, category, units_sold, units_returned, net_revenue, gross_margin_rate,
               return_rate, revenue_share, contribution_ratio
        from marts.product_performance
        order by net_revenue desc, sku
        limit ?
        """,
        [MAX_PRODUCTS],
    )
    frame = _require_rows(frame, "marts.product_performance")
    names = frame["product_name"].fillna(frame["sku"]) + " (" + frame["sku"] + ")"
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=("gross margin rate", "return rate"),
    )
    figure.add_bar(
        y=names,
        x=frame["gross_margin_rate"] * 100,
        orientation="h",
        name="gross margin rate",
        marker_color=PALETTE[0],
        row=1,
        col=1,
    )
    figure.add_bar(
        y=names,
        x=frame["return_rate"] * 100,
        orientation="h",
        name="return rate",
        marker_color=PALETTE[5],
        row=1,
        col=2,
    )
    figure.update_xaxes(ticksuffix="%")
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(showlegend=False)
    best = frame.loc[frame["gross_margin_rate"].fillna(-1).idxmax()]
    worst = frame.loc[frame["return_rate"].fillna(-1).idxmax()]
    scope = (
        f"Among the top {MAX_PRODUCTS} products by net revenue, highest"
        if len(frame) == MAX_PRODUCTS
        else "Highest"
    )
    reading = (
        f"{scope} gross margin: {best['product_name']} ({fmt.pct(best['gross_margin_rate'], 1)}); "
        f"highest return rate: {worst['product_name']} ({fmt.pct(worst['return_rate'], 1)} of units)."
    )
    shown = fmt.table(
        frame,
        {
            "units_sold": fmt.num,
            "units_returned": fmt.num,
            "net_revenue": fmt.money,
            "gross_margin_rate": lambda v: fmt.pct(v, 1),
            "return_rate": lambda v: fmt.pct(v, 1),
            "revenue_share": lambda v: fmt.pct(v, 1),
            "contribution_ratio": lambda v: fmt.pct(v, 1),
        },
    )
    note = f"Top {MAX_PRODUCTS} products by net revenue." if len(frame) == MAX_PRODUCTS else ""
    return Panel(
        "products",
        "Products: gross margin and return rates",
        reading,
        styled(figure, height=max(300, 26 * len(frame) + 120)),
        shown,
        note,
    )
