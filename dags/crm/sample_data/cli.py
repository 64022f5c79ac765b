"""Command line: ``python scripts/generate_sample_data.py --data-dir DIR [options]``."""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from crm.contract import SOURCES
from crm.sample_data.config import (
    DEFAULT_END,
    DEFAULT_SALES_LINES,
    DEFAULT_START,
    LINES_PER_PERSON,
    MIN_PERSONS,
    NO_DEFECTS,
    DefectRates,
    GenerationConfig,
)
from crm.sample_data.generator import GenerationSummary, LandingNotEmptyError, append_sales, generate


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="generate_sample_data.py",
        description="Write realistic synthetic CRM exports to <data-dir>/landing/<source>/ and the ground "
        "truth to <data-dir>/answer_key/. Same seed and options give byte-identical files.",
    )
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="folder that gets landing/ and answer_key/"
    )
    parser.add_argument(
        "--sales-lines",
        type=int,
        default=DEFAULT_SALES_LINES,
        help=f"about this many sales lines, returns included (default {DEFAULT_SALES_LINES:,})",
    )
    parser.add_argument(
        "--persons",
        type=int,
        default=None,
        help=f"people in the pool (default: one per {LINES_PER_PERSON} sales lines, at least {MIN_PERSONS})",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--start",
        type=dt.date.fromisoformat,
        default=DEFAULT_START,
        help=f"first day of the window (default {DEFAULT_START})",
    )
    parser.add_argument(
        "--end",
        type=dt.date.fromisoformat,
        default=DEFAULT_END,
        help=f"last day of the window (default {DEFAULT_END})",
    )
    parser.add_argument(
        "--defect-scale",
        type=float,
        default=1.0,
        help="multiply every row-level defect rate (default 1.0; see docs/sample_data.md)",
    )
    parser.add_argument("--no-defects", action="store_true", help="clean data: no defects of any kind")
    parser.add_argument("--force", action="store_true", help="replace files already in the landing folder")
    parser.add_argument(
        "--append-sales",
        type=int,
        metavar="N",
        default=None,
        help="only add one sales file of about N lines dated after the existing window",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    return parser.parse_args(argv)


@contextmanager
def progress_bar(total: int, enabled: bool, console: Console) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield progress


def print_summary(summary: GenerationSummary, console: Console) -> None:
    table = Table(title=f"Sample data in {summary.data_dir}", show_lines=False)
    table.add_column("source")
    table.add_column("files", justify="right")
    table.add_column("records", justify="right")
    for source in SOURCES:
        table.add_row(source, f"{summary.n_files(source):,}", f"{summary.rows(source):,}")
    console.print(table)
    defects = ", ".join(f"{k} {v:,}" for k, v in summary.defect_counts.items()) or "none"
    console.print(f"defects injected: {defects}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(
        f"{summary.persons:,} persons; elapsed {summary.elapsed_s:.1f} s; peak RSS {peak_mib:,.0f} MiB"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    show = not args.quiet and console.is_terminal
    try:
        if args.append_sales is not None:
            with progress_bar(args.append_sales, show, console) as bar:
                task = bar.add_task("sales", total=args.append_sales) if bar else None
                summary = append_sales(
                    args.data_dir,
                    args.append_sales,
                    progress=(lambda n: bar.advance(task, n)) if bar and task is not None else None,
                )
        else:
            defects = NO_DEFECTS if args.no_defects else DefectRates().scaled(args.defect_scale)
            config = GenerationConfig(
                seed=args.seed,
                sales_lines=args.sales_lines,
                persons=args.persons,
                start=args.start,
                end=args.end,
                defects=defects,
            )
            # Surveys and cards are about 0.45 + 0.4 records per person; sales lines are counted exactly.
            total = args.sales_lines + round(config.n_persons * 0.85)
            with progress_bar(total, show, console) as bar:
                task = bar.add_task("all", total=total) if bar else None
                summary = generate(
                    args.data_dir,
                    config,
                    force=args.force,
                    progress=(lambda n: bar.advance(task, n)) if bar and task is not None else None,
                )
    except (LandingNotEmptyError, FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    if not args.quiet:
        print_summary(summary, Console())
    return 0


if __name__ == "__main__":
    sys.exit(main())
