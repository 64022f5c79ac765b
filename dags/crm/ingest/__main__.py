"""``python -m crm.ingest [--source S ...]``: load the landing folder and print a per-source summary."""

from __future__ import annotations

import argparse
import logging
import sys

from crm.config import Settings
from crm.contract import SOURCES
from crm.ingest.report import print_summaries
from crm.ingest.run import IngestionFailed, ingest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm.ingest", description=__doc__)
    parser.add_argument(
        "--source", action="append", choices=SOURCES, help="limit to this source (repeatable)"
    )
    parser.add_argument("--no-docs", action="store_true", help="skip building GX Data Docs")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env()
    try:
        summaries = ingest(
            settings, tuple(args.source or SOURCES), build_docs=not args.no_docs, raise_on_error=False
        )
    except IngestionFailed as exc:  # pragma: no cover - raise_on_error=False
        print(exc, file=sys.stderr)
        return 1
    print_summaries(summaries)
    return 1 if any(s.files_failed for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
