"""Data-quality panels: files loaded or rejected, rows quarantined by reason, dbt test results and
Great Expectations validation results."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from crm.report import formatting as fmt
from crm.report.model import Panel, PanelUnavailable
from crm.report.source import ReportSource
from crm.report.theme import MUTED, NEGATIVE, PALETTE, POSITIVE, WARNING, styled

FILE_STATUS_COLOURS = {
    "loaded": POSITIVE,
    "duplicate": MUTED,
    "rejected": NEGATIVE,
    "failed": WARNING,
    "loading": PALETTE[4],
}
TEST_STATUS_COLOURS = {
    "pass": POSITIVE,
    "warn": WARNING,
    "fail": NEGATIVE,
    "error": NEGATIVE,
    "skipped": MUTED,
}
MAX_REASONS = 15


def files(source: ReportSource) -> Panel:
    frame = source.audit_frame(
        "audit",
        "file_manifest",
        """
        select source, status, count(*) as files, coalesce(sum(rows_read), 0) as rows_read,
               coalesce(sum(rows_loaded), 0) as rows_loaded,
               coalesce(sum(rows_quarantined), 0) as rows_quarantined
        from audit.file_manifest
        group by source, status
        order by source, status
        """,
    )
    if frame.empty:
        raise PanelUnavailable("audit.file_manifest is empty: no file has been ingested")
    figure = go.Figure()
    for status, rows in frame.groupby("status", sort=False):
        figure.add_bar(
            x=rows["source"],
            y=rows["files"],
            name=status,
            marker_color=FILE_STATUS_COLOURS.get(status, MUTED),
        )
    figure.update_layout(barmode="stack")
    figure.update_yaxes(title_text="files")
    by_status = frame.groupby("status")["files"].sum()
    parts = [
        f"{fmt.num(by_status.get(s, 0))} {s}" for s in ("loaded", "duplicate", "rejected") if s in by_status
    ]
    parts += [
        f"{fmt.num(n)} {s}" for s, n in by_status.items() if s not in ("loaded", "duplicate", "rejected")
    ]
    reading = (
        f"{fmt.num(by_status.sum())} files received: "
        + ", ".join(parts)
        + f"; {fmt.num(frame['rows_loaded'].sum())} "
        f"rows loaded and {fmt.num(frame['rows_quarantined'].sum())} quarantined."
    )
    shown = fmt.table(frame, {c: fmt.num for c in ("files", "rows_read", "rows_loaded", "rows_quarantined")})
    return Panel("dq-files", "Files loaded and rejected", reading, styled(figure, height=300), shown)


def quarantine_reasons(source: ReportSource) -> Panel:
    tables = source.quarantine_tables()
    if not tables:
        raise PanelUnavailable("no quarantine tables in the warehouse")
    union = " union all ".join(
        f"select '{name}' as source, unnest(reason_codes) as reason from quarantine.\"{name}\""
        for name in tables
    )
    frame = source.audit_frame(
        "quarantine",
        tables[0],
        f"select source, reason, count(*) as rows from ({union}) "
        "group by source, reason order by rows desc, source, reason",
    )
    totals = source.audit_frame(
        "quarantine",
        tables[0],
        " union all ".join(f'select count(*) as n from quarantine."{t}"' for t in tables),
    )
    quarantined = int(totals["n"].sum())
    if frame.empty:
        return Panel(
            "dq-quarantine", "Rows quarantined by reason", "No row has been quarantined.", None, frame
        )
    by_reason = frame.groupby("reason")["rows"].sum().sort_values(ascending=False)
    shown_reasons = list(by_reason.index[:MAX_REASONS])
    figure = go.Figure()
    for i, (name, rows) in enumerate(frame[frame["reason"].isin(shown_reasons)].groupby("source", sort=True)):
        figure.add_bar(
            y=rows["reason"],
            x=rows["rows"],
            name=name,
            orientation="h",
            marker_color=PALETTE[i % len(PALETTE)],
        )
    figure.update_layout(barmode="stack")
    figure.update_yaxes(categoryorder="array", categoryarray=shown_reasons[::-1])
    figure.update_xaxes(title_text="rows (a row counts once per failed rule)")
    reading = (
        f"{fmt.num(quarantined)} rows quarantined; the most frequent reason is {by_reason.index[0]} "
        f"({fmt.num(by_reason.iloc[0])} rows)."
    )
    shown = fmt.table(frame, {"rows": fmt.num})
    return Panel(
        "dq-quarantine",
        "Rows quarantined by reason",
        reading,
        styled(figure, height=max(280, 24 * len(shown_reasons) + 120)),
        shown,
    )


def dbt_tests(source: ReportSource) -> Panel:
    results = source.dbt.test_results()
    if not results:
        raise PanelUnavailable("no dbt test results (run_results.json of a dbt build) found")
    frame = (
        pd.DataFrame([{"resource_type": r.resource_type, "status": r.status} for r in results])
        .value_counts()
        .rename("tests")
        .reset_index()
        .sort_values(["resource_type", "status"])
    )
    figure = go.Figure()
    for status, rows in frame.groupby("status", sort=False):
        figure.add_bar(
            x=rows["resource_type"].map({"test": "data tests", "unit_test": "unit tests"}),
            y=rows["tests"],
            name=status,
            marker_color=TEST_STATUS_COLOURS.get(status, MUTED),
        )
    figure.update_layout(barmode="stack")
    figure.update_yaxes(title_text="tests")
    passed = int(frame.loc[frame["status"] == "pass", "tests"].sum())
    not_passed = [r for r in results if r.status != "pass"]
    reading = f"dbt: {passed:,} of {len(results):,} data and unit tests passed"
    reading += (
        "."
        if not not_passed
        else " — not passing: "
        + ", ".join(f"{r.unique_id.split('.')[-1]} ({r.status})" for r in not_passed[:3])
        + (f" and {len(not_passed) - 3} more." if len(not_passed) > 3 else ".")
    )
    failing = pd.DataFrame(
        [
            {"test": r.unique_id, "status": r.status, "failures": r.failures, "message": r.message}
            for r in not_passed
        ]
    )
    shown = pd.concat([frame, failing], ignore_index=True) if not failing.empty else frame
    return Panel("dq-dbt", "dbt tests", reading, styled(figure, height=280), shown.fillna(""))


def gx_validations(source: ReportSource) -> Panel:
    frame = source.audit_frame(
        "audit",
        "dq_results",
        """
        select source, expectation_type, coalesce(column_name, '') as column_name,
               count(*) as validations, count(*) filter (success) as passed,
               coalesce(sum(unexpected_count), 0) as unexpected_values
        from audit.dq_results
        group by all
        order by unexpected_values desc, source, expectation_type, column_name
        """,
    )
    if frame.empty:
        raise PanelUnavailable("audit.dq_results is empty: no batch has been validated")
    files = source.audit_frame(
        "audit", "dq_results", "select count(distinct batch_id) as n from audit.dq_results"
    )
    frame["failed"] = frame["validations"] - frame["passed"]
    by_source = frame.groupby("source")[["passed", "failed"]].sum().reset_index()
    figure = go.Figure()
    figure.add_bar(x=by_source["source"], y=by_source["passed"], name="passed", marker_color=POSITIVE)
    figure.add_bar(x=by_source["source"], y=by_source["failed"], name="failed", marker_color=NEGATIVE)
    figure.update_layout(barmode="stack")
    figure.update_yaxes(title_text="expectation checks (expectation × batch)")
    total, passed = int(frame["validations"].sum()), int(frame["passed"].sum())
    worst = frame.iloc[0]
    batches = int(files["n"].iloc[0])
    reading = (
        f"Great Expectations: {passed:,} of {total:,} expectation checks passed over {batches:,} batches"
    )
    reading += (
        f"; most unexpected values: {worst['expectation_type']} on "
        f"{worst['source']}.{worst['column_name'] or '*'} ({fmt.num(worst['unexpected_values'])})."
        if worst["unexpected_values"] > 0
        else "."
    )
    shown = fmt.table(frame, {c: fmt.num for c in ("validations", "passed", "failed", "unexpected_values")})
    return Panel(
        "dq-gx",
        "Great Expectations validations",
        reading,
        styled(figure, height=300),
        shown,
        "A failed check quarantines the offending rows; the table ranks expectations by unexpected values.",
    )
