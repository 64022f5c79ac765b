"""The summary printed after a pipeline run: what was loaded, quarantined, rejected, and where to look."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from crm.config import Settings
from crm.contract import SOURCES


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def print_run_summary(settings: Settings, console: Console | None = None) -> None:
    console = console or Console(width=None if sys.stdout.isatty() else 140)
    if not settings.warehouse_path.exists():
        console.print(f"[red]no warehouse at {settings.warehouse_path}[/]")
        return
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        table = Table(title="Ingestion (all runs, from audit.file_manifest)")
        for column in (
            "source",
            "files",
            "loaded",
            "duplicate",
            "rejected",
            "unfinished",
            "rows read",
            "rows loaded",
            "rows quarantined",
        ):
            table.add_column(column, justify="left" if column == "source" else "right")
        for source in SOURCES:
            row = con.execute(
                """
                select count(*),
                       count(*) filter (status = 'loaded'),
                       count(*) filter (status = 'duplicate'),
                       count(*) filter (status = 'rejected'),
                       count(*) filter (status in ('loading', 'failed')),
                       coalesce(sum(rows_read), 0),
                       coalesce(sum(rows_loaded), 0),
                       coalesce(sum(rows_quarantined), 0)
                from audit.file_manifest where source = ?
                """,
                [source],
            ).fetchone()
            table.add_row(source, *(f"{v:,}" for v in row))
        console.print(table)
        for source in SOURCES:
            reasons = con.execute(
                f"""
                select reason, count(*) as n
                from (select unnest(reason_codes) as reason from quarantine.{source})
                group by reason
                order by n desc, reason
                """
            ).fetchall()
            if reasons:
                console.print(
                    f"[bold]{source}[/] quarantined rows by reason: "
                    + ", ".join(f"{r}={n:,}" for r, n in reasons)
                )
        for source, name, reason in con.execute(
            "select source, file_name, reason from audit.file_manifest where status = 'rejected' "
            "order by source, file_name"
        ).fetchall():
            console.print(f"[red]rejected[/] {source}/{name}: {reason}")
        if _exists(con, "marts", "dim_customers"):
            marts = con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
            counts = Table(title="Marts")
            counts.add_column("mart")
            counts.add_column("rows", justify="right")
            for (name,) in marts:
                counts.add_row(
                    f"marts.{name}", f"{con.execute(f'select count(*) from marts.{name}').fetchone()[0]:,}"
                )
            console.print(counts)
    finally:
        con.close()
    console.print(f"Warehouse:     {settings.warehouse_path}")
    docs = settings.gx_root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    console.print(f"GX Data Docs:  {docs if docs.exists() else '(not built)'}")
    for label, path in (
        ("dbt docs:", settings.published_dir / "docs" / "dbt" / "index.html"),
        ("Published:", settings.published_dir),
        ("Report:", settings.published_dir / "report.html"),
    ):
        if Path(path).exists():
            console.print(f"{label:<14} {path}")
