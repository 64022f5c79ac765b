"""Ingest every ready landing file of one or more sources and summarise the outcome."""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from crm.config import Settings
from crm.contract import SOURCES
from crm.ingest.discovery import discover
from crm.ingest.loader import FileLoader, FileOutcome
from crm.ingest.validation import BatchValidator
from crm.warehouse import connect, ensure_schema

log = logging.getLogger(__name__)

#: DuckDB checkpoints (rewrites table storage from the write-ahead log) every 16 MiB of WAL by default,
#: i.e. after every couple of files. Ingestion lets the WAL grow to this size and checkpoints once at the
#: end: every file still commits (durably, to the WAL) in its own transaction.
CHECKPOINT_THRESHOLD = "1GB"
#: Allocations between young-generation garbage collections while loading (Python's default is 700).
GC_THRESHOLD = (10_000, 10, 10)


@contextmanager
def _bulk_allocation() -> Iterator[None]:
    """Fewer garbage-collector passes while loading, restored afterwards.

    A chunk allocates millions of short-lived containers (CSV cells, parsed values) that hold no
    reference cycles; at the default threshold the cyclic collector runs thousands of times per chunk
    and its older generations rescan everything alive, including the GX context. That context and the
    imported modules are frozen out of the collector's view for the run.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


@dataclass
class SourceSummary:
    source: str
    files_seen: int = 0
    files_loaded: int = 0
    files_duplicate: int = 0
    files_rejected: int = 0
    files_failed: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    rejections: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, outcome: FileOutcome) -> None:
        self.files_seen += 1
        if outcome.status in ("loaded", "archived"):
            self.files_loaded += outcome.status == "loaded"
        elif outcome.status == "duplicate":
            self.files_duplicate += 1
        elif outcome.status == "rejected":
            self.files_rejected += 1
            self.rejections[outcome.file_name] = outcome.message or ""
        elif outcome.status == "failed":
            self.files_failed += 1
            self.errors[outcome.file_name] = outcome.message or "failed"
        self.rows_read += outcome.rows_read
        self.rows_loaded += outcome.rows_loaded
        self.rows_quarantined += outcome.rows_quarantined
        if outcome.status != "rejected":
            merged = Counter(self.quarantine_reasons)
            merged.update(outcome.reasons)
            self.quarantine_reasons = dict(sorted(merged.items()))

    def as_dict(self) -> dict:
        return asdict(self)


class IngestionFailed(RuntimeError):
    """Some files failed for reasons other than their content; they stay in landing for a retry."""


def ingest(
    settings: Settings | None = None,
    sources: tuple[str, ...] = SOURCES,
    *,
    build_docs: bool = True,
    raise_on_error: bool = True,
) -> list[SourceSummary]:
    """Load every ready file of ``sources``. Files whose *content* is bad are rejected and the run goes on;
    files that fail for environmental reasons (I/O, permissions) are reported and raise at the end."""
    settings = settings or Settings.from_env()
    for source in sources:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
        (settings.landing_dir / source).mkdir(parents=True, exist_ok=True)
    summaries = []
    with connect(settings.warehouse_path) as con:
        # Created under the warehouse lock: the GX file context (suites, Data Docs) is then only
        # ever written by the one ingestion that holds it, even when two are started together.
        validator = BatchValidator(settings.expectations_dir, settings.gx_root)
        ensure_schema(con)
        con.execute(f"set checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        loader = FileLoader(con, validator, settings)
        with _bulk_allocation():
            for source in sources:
                summary = SourceSummary(source)
                for outcome in loader.load_all(
                    discover(settings.landing_dir, source, settings.settle_seconds)
                ):
                    summary.add(outcome)
                summaries.append(summary)
        con.execute("checkpoint")
        if build_docs:
            validator.build_data_docs()
    failed = {f"{s.source}/{name}": err for s in summaries for name, err in s.errors.items()}
    if failed and raise_on_error:
        raise IngestionFailed(
            "files failed and stay in landing for the next run: "
            + "; ".join(f"{k}: {v}" for k, v in failed.items())
        )
    return summaries
