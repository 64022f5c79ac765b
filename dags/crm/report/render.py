"""Lay the panels out as one self-contained HTML page (plotly.js inlined once, no network access)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import jinja2
import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

from crm.publish.atomic import write_text_atomic
from crm.publish.layout import DBT_DOCS_DIR, DOCS_DIR, GX_DOCS_DIR, MANIFEST
from crm.report import clv, panels, quality
from crm.report import formatting as fmt
from crm.report.model import Panel, PanelUnavailable, Section
from crm.report.source import ReportSource

log = logging.getLogger(__name__)

TITLE = "CRM customer report"
Builder = Callable[[ReportSource], Panel]

#: (section key, title, builders, drop the section when every panel is unavailable)
SECTIONS: tuple[tuple[str, str, tuple[Builder, ...], bool], ...] = (
    ("value", "Customers and value", (panels.rfm_segments, panels.pareto_curve, panels.value_tiers), False),
    ("retention", "Retention", (panels.monthly_customers, panels.cohort_heatmap), False),
    ("voice", "Voice of the customer", (panels.nps_csat, panels.complaint_repurchase), False),
    ("products", "Products", (panels.products,), False),
    # Extension point: model outputs that may not exist yet; the section appears once they do.
    ("clv", "Customer lifetime value", (clv.clv_distribution, clv.p_alive), True),
    (
        "quality",
        "Data quality",
        (quality.files, quality.quarantine_reasons, quality.dbt_tests, quality.gx_validations),
        False,
    ),
)
#: Panels that span the full width of the grid.
WIDE_PANELS = frozenset({"value-tiers", "monthly-customers", "cohorts", "products"})
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
#: Marks each chart once plotly has drawn it (the headless-browser test checks for it).
POST_SCRIPT = "document.getElementById('{plot_id}').setAttribute('data-rendered', 'true');"


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str


@dataclass(frozen=True)
class Link:
    label: str
    href: str
    exists: bool


def build_sections(source: ReportSource) -> list[Section]:
    sections = []
    for key, title, builders, optional in SECTIONS:
        built, unavailable = [], 0
        for builder in builders:
            try:
                built.append(builder(source))
            except PanelUnavailable as exc:
                unavailable += 1
                name = builder.__name__.replace("_", " ")
                log.warning("report panel %s.%s unavailable: %s", key, builder.__name__, exc)
                built.append(
                    Panel(
                        f"{key}-{builder.__name__}",
                        name.capitalize(),
                        f"Not available: {exc}.",
                        None,
                        pd.DataFrame(),
                    )
                )
        if optional and unavailable == len(builders):
            continue
        sections.append(Section(key, title, tuple(built)))
    return sections


def header_facts(source: ReportSource) -> tuple[list[str], list[Kpi]]:
    """The data window line and the headline numbers shown at the top of the page."""
    window, kpis = [], []
    if source.has_mart("fct_sales"):
        first, last, revenue, orders = source.marts.execute(
            "select min(order_date), max(order_date), sum(net_amount), count(distinct order_id) "
            "from marts.fct_sales"
        ).fetchone()
        if first is not None:
            window.append(f"sales {first:%Y-%m-%d} → {last:%Y-%m-%d}")
        kpis += [Kpi("net revenue", fmt.money(revenue)), Kpi("orders", fmt.num(orders))]
    if source.has_mart("customer_rfm"):
        (reference,) = source.marts.execute("select max(reference_date) from marts.customer_rfm").fetchone()
        if reference is not None:
            window.append(f"as of {reference:%Y-%m-%d}")
    if source.has_mart("dim_customers"):
        customers, buyers = source.marts.execute(
            "select count(*), count(*) filter (purchase_orders > 0) from marts.dim_customers"
        ).fetchone()
        kpis = [Kpi("customers", fmt.num(customers)), Kpi("buying customers", fmt.num(buyers)), *kpis]
    if source.has_mart("customer_pareto_summary"):
        row = source.marts.execute(
            "select max(top_customer_share), max(top_customer_revenue_share) "
            "from marts.customer_pareto_summary"
        ).fetchone()
        if row[0] is not None:
            kpis.append(Kpi(f"revenue from top {fmt.pct(row[0])}", fmt.pct(row[1])))
    if source.has_mart("fct_questionnaire_responses"):
        (nps,) = source.marts.execute(
            f"select {panels.NPS_SQL} from marts.fct_questionnaire_responses"
        ).fetchone()
        kpis.append(Kpi("NPS (all responses)", fmt.signed(nps)))
    return window, kpis


def documentation_links(docs_dir: Path | None) -> list[Link]:
    """Links relative to the report (``published/report.html`` -> ``published/docs/...``)."""
    targets = (
        ("dbt docs (models, lineage, tests)", f"{DOCS_DIR}/{DBT_DOCS_DIR}/index.html"),
        ("Great Expectations Data Docs", f"{DOCS_DIR}/{GX_DOCS_DIR}/index.html"),
        ("manifest.json (marts, columns, row counts)", MANIFEST),
    )
    base = docs_dir.parent if docs_dir is not None else None
    return [Link(label, href, base is not None and (base / href).exists()) for label, href in targets]


def render_html(source: ReportSource, *, generated_at: dt.datetime | None = None) -> str:
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    sections = build_sections(source)
    charts, tables = {}, {}
    for section in sections:
        for panel in section.panels:
            if panel.figure is not None:
                charts[panel.key] = pio.to_html(
                    panel.figure,
                    full_html=False,
                    include_plotlyjs=False,
                    div_id=f"chart-{panel.key}",
                    config=PLOTLY_CONFIG,
                    post_script=POST_SCRIPT,
                    default_height=f"{panel.figure.layout.height}px",
                )
            if not panel.table.empty:
                tables[panel.key] = panel.table.to_html(
                    index=False, border=0, classes="numbers", na_rep=fmt.DASH
                )
    window, kpis = header_facts(source)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(files("crm.report") / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2").render(
        title=TITLE,
        generated_at=generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        window=window,
        kpis=kpis,
        sections=sections,
        charts=charts,
        tables=tables,
        wide=WIDE_PANELS,
        links=documentation_links(source.docs_dir),
        css=(files("crm.report") / "templates" / "report.css").read_text(encoding="utf-8"),
        plotly_js=get_plotlyjs(),
        footer=f"{TITLE} · generated by the crm_publish DAG · charts: plotly.js (inlined)",
    )


def write_report(source: ReportSource, target: Path) -> Path:
    """Render the report and replace ``target`` atomically; returns its path."""
    write_text_atomic(target, render_html(source))
    log.info("report %s (%s bytes)", target, f"{target.stat().st_size:,}")
    return target
