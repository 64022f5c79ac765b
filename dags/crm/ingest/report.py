"""Human-readable ingestion summary (terminal and Airflow logs)."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from crm.ingest.run import SourceSummary


def print_summaries(summaries: Iterable[SourceSummary], console: Console | None = None) -> None:
    console = console or Console(width=None if sys.stdout.isatty() else 140)
    summaries = list(summaries)
    table = Table(title="Ingestion summary")
    for column in (
        "source",
        "files",
        "loaded",
        "duplicate",
        "rejected",
        "failed",
        "rows read",
        "rows loaded",
        "rows quarantined",
    ):
        table.add_column(column, justify="left" if column == "source" else "right")
    for s in summaries:
        table.add_row(
            s.source,
            str(s.files_seen),
            str(s.files_loaded),
            str(s.files_duplicate),
            str(s.files_rejected),
            str(s.files_failed),
            f"{s.rows_read:,}",
            f"{s.rows_loaded:,}",
            f"{s.rows_quarantined:,}",
        )
    console.print(table)
    for s in summaries:
        if s.quarantine_reasons:
            reasons = ", ".join(
                f"{k}={v}" for k, v in sorted(s.quarantine_reasons.items(), key=lambda kv: -kv[1])
            )
            console.print(f"[bold]{s.source}[/] quarantined by reason: {reasons}")
        for name, message in s.rejections.items():
            console.print(f"[bold red]{s.source}/{name} rejected:[/] {message}")
        for name, message in s.errors.items():
            console.print(f"[bold red]{s.source}/{name} failed:[/] {message}")
