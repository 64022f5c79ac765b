"""The HTML report: readings computed from the data, self-contained page, and a real render in
headless Chromium (every chart drawn, no script error), measured for size and render time.

The warehouse fixture is synthetic but has the marts' real column names; the pipeline's own marts
are exercised end to end by ``make run``. Chromium comes from the Debian package ``chromium``
(``apt-get install -y --no-install-recommends chromium``); without it the browser test is skipped
locally and fails under CI (``CI`` set), so a missing browser never passes silently there.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from crm.publish.dbt_artifacts import DbtArtifacts
from crm.report.model import Panel
from crm.report.render import build_sections, render_html
from crm.report.source import ReportSource
from crm.warehouse import ensure_schema

SEGMENTS = ("Champions", "Loyal", "New", "At Risk", "Lost")
TIERS = ("high_value", "regular", "small", "no_revenue")
EXPECTED_PANELS = {
    "rfm-segments",
    "pareto",
    "value-tiers",
    "monthly-customers",
    "cohorts",
    "nps-csat",
    "complaints",
    "products",
    "dq-files",
    "dq-quarantine",
    "dq-dbt",
    "dq-gx",
}
CLV_PANELS = {"clv-distribution", "clv-p-alive"}


def _create(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    con.register("frame", frame)
    con.execute(f"create table marts.{name} as select * from frame")
    con.unregister("frame")


def build_marts(con: duckdb.DuckDBPyConnection, *, seed: int = 7, clv: bool = False) -> None:
    """Small but realistic marts (same names and columns as the dbt project's)."""
    rng = np.random.default_rng(seed)
    con.execute("create schema if not exists marts")
    n = 240
    customers = pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(n)]})
    revenue = np.round(rng.pareto(1.2, n) * 500, 2)
    revenue[rng.random(n) < 0.15] = 0
    customers["net_revenue"] = revenue
    customers["purchase_orders"] = np.where(revenue > 0, rng.integers(1, 9, n), 0)
    _create(con, "dim_customers", customers)

    rfm = customers[customers["net_revenue"] > 0].copy()
    rfm["reference_date"] = dt.date(2025, 11, 1)
    rfm["monetary"] = rfm.pop("net_revenue")
    rfm["rfm_segment"] = rng.choice(SEGMENTS, len(rfm))
    rfm["is_rfm_scored"] = True
    _create(
        con,
        "customer_rfm",
        rfm[["customer_id", "reference_date", "monetary", "rfm_segment", "is_rfm_scored"]],
    )

    ranked = customers.sort_values("net_revenue", ascending=False).reset_index(drop=True)
    share = ranked["net_revenue"].cumsum() / ranked["net_revenue"].sum()
    ranked["value_tier"] = np.select(
        [ranked["net_revenue"] <= 0, share.shift(fill_value=0) < 0.8, share.shift(fill_value=0) < 0.95],
        ["no_revenue", "high_value", "regular"],
        "small",
    )
    _create(con, "customer_value_tiers", ranked[["customer_id", "net_revenue", "value_tier"]])

    buyers = ranked[ranked["net_revenue"] > 0]
    points = []
    for pct in range(0, 101, 5):
        k = int(np.ceil(len(buyers) * pct / 100))
        cumulative = buyers["net_revenue"].iloc[:k].sum()
        points.append((pct, k, cumulative, cumulative / buyers["net_revenue"].sum()))
    pareto = pd.DataFrame(
        points, columns=["customer_share_pct", "customers_in_share", "cumulative_revenue", "revenue_share"]
    )
    pareto["total_customers"] = len(buyers)
    pareto["top_customer_share"] = 0.2
    pareto["top_customer_revenue_share"] = pareto.loc[
        pareto["customer_share_pct"] == 20, "revenue_share"
    ].iloc[0]
    _create(con, "customer_pareto_summary", pareto)

    months = pd.date_range("2024-01-01", "2025-10-01", freq="MS")
    active = np.cumsum(rng.integers(5, 20, len(months)))
    loyalty = pd.DataFrame(
        {
            "month_start": months.date,
            "is_partial_month": [False] * (len(months) - 1) + [True],
            "active_customers": active,
            "new_customers": rng.integers(5, 20, len(months)),
            "churned_customers": rng.integers(0, 6, len(months)),
            "retained_customers": (active * 0.9).astype(int),
            "reactivated_customers": rng.integers(0, 3, len(months)),
            "retention_rate": rng.uniform(0.85, 0.97, len(months)),
            "churn_rate": rng.uniform(0.03, 0.15, len(months)),
            "survey_responses": rng.integers(0, 12, len(months)),
            "nps": rng.uniform(-30, 50, len(months)),
            "csat": rng.uniform(0.5, 0.9, len(months)),
            "average_satisfaction": rng.uniform(3, 4.5, len(months)),
            "resolved_complaints": rng.integers(0, 5, len(months)),
            "resolved_complaint_repurchase_rate": rng.uniform(0.3, 0.8, len(months)),
            "unresolved_complaints": rng.integers(0, 4, len(months)),
            "unresolved_complaint_repurchase_rate": rng.uniform(0.0, 0.3, len(months)),
        }
    )
    _create(con, "loyalty_monthly", loyalty)

    cohorts = [
        (month.date(), age, size, 1.0 if age == 0 else float(rng.uniform(0, 0.35)))
        for i, month in enumerate(months)
        for size in [int(rng.integers(5, 30))]
        for age in range(len(months) - i)
    ]
    _create(
        con,
        "cohort_retention",
        pd.DataFrame(
            cohorts,
            columns=["cohort_month", "months_since_first_purchase", "cohort_customers", "retention_share"],
        ),
    )

    responses = pd.DataFrame(
        {
            "response_id": [f"R{i}" for i in range(150)],
            "nps_category": rng.choice(["promoter", "passive", "detractor", None], 150),
            "is_satisfied": rng.choice([True, False], 150),
        }
    )
    _create(con, "fct_questionnaire_responses", responses)

    skus = [f"SKU{i}" for i in range(8)]
    products = pd.DataFrame(
        {
            "sku": skus,
            "product_name": [f"產品 {i}" for i in range(8)],
            "category": rng.choice(["A", "B"], 8),
            "units_sold": rng.integers(50, 500, 8),
            "units_returned": rng.integers(0, 20, 8),
            "net_revenue": rng.uniform(1e3, 5e4, 8).round(2),
            "gross_margin_rate": rng.uniform(0.1, 0.5, 8),
            "return_rate": rng.uniform(0, 0.1, 8),
            "revenue_share": rng.uniform(0, 0.3, 8),
            "contribution_ratio": rng.uniform(0, 0.3, 8),
        }
    )
    _create(con, "product_performance", products)

    dates = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 660, 400), unit="D")
    sales = pd.DataFrame(
        {
            "order_id": [f"O{i // 2}" for i in range(400)],
            "order_date": dates.date,
            "net_amount": rng.uniform(-50, 900, 400),
        }
    )
    _create(con, "fct_sales", sales)

    if clv:
        scores = pd.DataFrame(
            {
                "customer_id": customers["customer_id"],
                "probability_alive": rng.uniform(0, 1, n),
                "clv_12m": rng.gamma(2, 300, n),
                "clv_tier": rng.choice(["top", "middle", "low"], n),
                "frequency": rng.integers(0, 12, n),
                "recency": rng.uniform(0, 300, n),
                "tenure": rng.uniform(300, 700, n),
            }
        )
        _create(con, "customer_clv", scores)


def build_audit(con: duckdb.DuckDBPyConnection) -> None:
    ensure_schema(con)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    files = [
        ("b1", "sales", "s1.csv", "loaded", 100, 95, 5),
        ("b2", "sales", "s1_copy.csv", "duplicate", 0, 0, 0),
        ("b3", "questionnaires", "q.xlsx", "loaded", 50, 48, 2),
        ("b4", "reply_cards", "bad.bin", "rejected", 0, 0, 0),
    ]
    for batch, source, name, status, read, loaded, quarantined in files:
        con.execute(
            "insert into audit.file_manifest (batch_id, source, file_name, landing_path, file_sha256, "
            "size_bytes, started_at, status, rows_read, rows_loaded, rows_quarantined) "
            "values (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
            [
                batch,
                source,
                name,
                f"landing/{source}/{name}",
                batch * 32,
                now,
                status,
                read,
                loaded,
                quarantined,
            ],
        )
    for i in range(5):
        con.execute(
            "insert into quarantine.sales "
            "(_source_file, _source_row, _file_sha256, _batch_id, _loaded_at, reason_codes) "
            "values ('s1.csv', ?, 'x', 'b1', ?, ?)",
            [i, now, ["phone_malformed"] if i < 3 else ["quantity_zero", "order_date_invalid_date"]],
        )
    for expectation, column, success, unexpected in (
        ("expect_column_values_to_not_be_null", "order_id", True, 0),
        ("expect_column_values_to_match_regex", "phone_e164", False, 3),
        ("expect_column_values_to_be_between", "quantity", False, 2),
    ):
        con.execute(
            "insert into audit.dq_results "
            "values ('b1', 'sales', 's1.csv', 'sales', ?, ?, ?, ?, 100, ?, ?, ?)",
            [expectation, column, expectation, success, unexpected, unexpected, now],
        )


def write_dbt_results(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    results = [{"unique_id": f"test.crm_warehouse.t{i}", "status": "pass"} for i in range(40)]
    results += [{"unique_id": f"unit_test.crm_warehouse.m.u{i}", "status": "pass"} for i in range(12)]
    results.append(
        {"unique_id": "test.crm_warehouse.assert_revenue_reconciles", "status": "warn", "failures": 1}
    )
    (target / "run_results.json").write_text(
        json.dumps({"metadata": {}, "args": {"which": "build"}, "results": results}), encoding="utf-8"
    )
    return target


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    build_audit(con)
    build_marts(con)
    con.close()
    return path


def source_for(path: Path, tmp_path: Path) -> ReportSource:
    con = duckdb.connect(str(path), read_only=True)
    return ReportSource(marts=con, audit=con, dbt=DbtArtifacts.load(write_dbt_results(tmp_path / "target")))


def panels_by_key(source: ReportSource) -> dict[str, Panel]:
    return {panel.key: panel for section in build_sections(source) for panel in section.panels}


# --- content --------------------------------------------------------------------------------------


def test_every_panel_has_a_chart_a_reading_and_its_numbers(warehouse: Path, tmp_path: Path) -> None:
    panels = panels_by_key(source_for(warehouse, tmp_path))

    assert set(panels) == EXPECTED_PANELS  # no CLV section without marts.customer_clv
    for key, panel in panels.items():
        assert panel.figure is not None, f"{key}: {panel.reading}"
        assert panel.figure.data, f"{key} has no traces"
        assert panel.reading and not panel.reading.startswith("Not available"), key
        assert not panel.table.empty, f"{key} has no table"


def test_readings_are_computed_from_the_marts(warehouse: Path, tmp_path: Path) -> None:
    source = source_for(warehouse, tmp_path)
    panels = panels_by_key(source)
    con = source.marts

    top_share = con.execute(
        "select max(top_customer_revenue_share) from marts.customer_pareto_summary"
    ).fetchone()[0]
    assert panels["pareto"].reading.startswith(
        f"Top 20% of customers bring {top_share * 100:.0f}% of net revenue"
    )

    segments = con.execute("select rfm_segment, sum(monetary) as r from marts.customer_rfm group by 1").df()
    best = segments.loc[segments["r"].idxmax()]
    assert panels["rfm-segments"].reading.startswith(f"{best['rfm_segment']} bring the most revenue: ")
    assert f"{best['r'] / segments['r'].sum() * 100:.0f}%" in panels["rfm-segments"].reading

    resolved = con.execute(
        "select sum(resolved_complaints * resolved_complaint_repurchase_rate), sum(resolved_complaints) "
        "from marts.loyalty_monthly"
    ).fetchone()
    assert (
        f"bought again {round(resolved[0]) / resolved[1] * 100:.0f}% of the time ({resolved[1]:,} complaints)"
        in (panels["complaints"].reading)
    )

    last_full = con.execute(
        "select month_start, active_customers from marts.loyalty_monthly where not is_partial_month "
        "order by month_start desc limit 1"
    ).fetchone()
    assert panels["monthly-customers"].reading.startswith(
        f"In {last_full[0]:%Y-%m}: {last_full[1]:,} active customers"
    )
    assert panels["dq-files"].reading.startswith("4 files received: 2 loaded, 1 duplicate, 1 rejected")
    assert panels["dq-quarantine"].reading.startswith(
        "5 rows quarantined; the most frequent reason is phone_malformed (3"
    )
    assert panels["dq-dbt"].reading.startswith("dbt: 52 of 53 data and unit tests passed")
    assert "assert_revenue_reconciles (warn)" in panels["dq-dbt"].reading
    assert panels["dq-gx"].reading.startswith(
        "Great Expectations: 1 of 3 expectation checks passed over 1 batches"
    )


def test_clv_panels_appear_when_the_clv_mart_exists(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    build_audit(con)
    build_marts(con, clv=True)
    con.close()

    panels = panels_by_key(source_for(path, tmp_path))

    assert set(panels) == EXPECTED_PANELS | CLV_PANELS
    assert panels["clv-distribution"].reading.startswith("Median expected 12-month value ")
    assert panels["clv-p-alive"].figure is not None


def test_a_missing_mart_is_reported_in_its_panel_not_fatal(warehouse: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(warehouse))
    con.execute("drop table marts.product_performance")
    con.close()

    panels = panels_by_key(source_for(warehouse, tmp_path))

    unavailable = panels["products-products"]
    assert unavailable.figure is None
    assert unavailable.reading == "Not available: marts.product_performance is not published."


def test_report_is_self_contained(warehouse: Path, tmp_path: Path) -> None:
    from plotly.offline import get_plotlyjs

    html = render_html(source_for(warehouse, tmp_path))
    library = get_plotlyjs()
    assert html.count(library) == 1  # inlined once, not per chart
    # The library's own source mentions URLs in strings (e.g. a "produced with" link it never loads);
    # the page itself must not reference anything outside the file.
    html = html.replace(library, "")

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "external resource referenced"
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html)
    assert html.count("Plotly.newPlot(") == len(EXPECTED_PANELS)
    assert 'href="docs/dbt/index.html"' in html and 'href="docs/gx/index.html"' in html


# --- headless browser -----------------------------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Any network access fails: the page must render from what it embeds.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--window-size=1400,5200",
    "--virtual-time-budget=20000",
)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "Chromium is not installed: apt-get install -y --no-install-recommends chromium"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def chart_fragments(dom: str) -> dict[str, str]:
    """Each chart's div id -> the DOM from its opening tag to the next chart's."""
    starts = [(m.start(), m.group(1)) for m in re.finditer(r'<div id="(chart-[\w-]+)"', dom)]
    bounds = [*(s for s, _ in starts[1:]), len(dom)]
    return {name: dom[start:end] for (start, name), end in zip(starts, bounds, strict=True)}


def test_report_renders_in_headless_chromium(
    chromium: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_property
) -> None:
    """The real publish path (export -> serving database -> report), then a browser render."""
    from crm.publish import tasks

    data = tmp_path / "data"
    data.mkdir()
    path = data / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    build_audit(con)
    build_marts(con, clv=True)
    con.close()
    monkeypatch.setenv("CRM_DATA_DIR", str(data))
    monkeypatch.setenv("CRM_WAREHOUSE_PATH", str(path))
    write_dbt_results(data / "dbt" / "target")
    tasks.export_parquet()
    tasks.refresh_serving_database()
    report = Path(tasks.render_report())
    url = report.as_uri()

    started = time.perf_counter()
    dumped = run_chromium(chromium, tmp_path / "profile-dom", "--dump-dom", url)
    render_seconds = time.perf_counter() - started
    screenshot = tmp_path / "report.png"
    shot = run_chromium(chromium, tmp_path / "profile-shot", f"--screenshot={screenshot}", url)

    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    errors = re.search(r'<pre id="report-errors">(.*?)</pre>', dom, re.S)
    assert errors is not None, "error hook missing from the page"
    assert errors.group(1).strip() == "", f"script errors: {errors.group(1)}"
    charts = chart_fragments(dom)
    assert set(charts) == {f"chart-{key}" for key in EXPECTED_PANELS | CLV_PANELS}
    for name, fragment in charts.items():
        assert 'data-rendered="true"' in fragment.split(">", 1)[0], f"{name} was never drawn"
        assert 'class="main-svg"' in fragment, f"{name} has no plot svg"
        drawn = re.findall(r'class="(?:trace [\w ]*|hm|heatmaplayer[\w ]*)"', fragment)
        assert drawn, f"{name} has no drawn traces"
        assert re.search(r'<(path|rect|image)\b[^>]*\b(d|width|href)="[^"]+', fragment), f"{name} is empty"
    assert shot.returncode == 0, shot.stderr[-2000:]
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000, "screenshot missing or blank"

    size = report.stat().st_size
    record_property("report_bytes", size)
    record_property("render_seconds", round(render_seconds, 2))
    print(
        f"\nreport {report}: {size:,} bytes; headless Chromium load+render {render_seconds:.1f}s; "
        f"screenshot {screenshot} ({len(png):,} bytes)"
    )
