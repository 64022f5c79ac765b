"""Benchmark inputs: a generated landing zone per size and the 1% sales file appended after it.

Sample data is generated without injected defects (``NO_DEFECTS``): the references do not validate,
so on defective rows they would (rightly) compute something else than the pipeline, which
quarantines them. Ingestion still runs every GX expectation over every row either way.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from crm.contract import SOURCES
from crm.sample_data import NO_DEFECTS, GenerationConfig, append_sales, generate


@dataclass(frozen=True)
class Dataset:
    size: int
    landing: Path
    append_files: tuple[Path, ...]
    rows: dict[str, int]  # source -> data records in landing/
    sales_bytes: int

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def prepare_dataset(root: Path, size: int, seed: int) -> Dataset:
    """Generate (or reuse) ``root/base`` with ``size`` sales lines and ``root/append`` with 1% more."""
    base, append, meta = root / "base", root / "append", root / "dataset.json"
    if not meta.exists():
        shutil.rmtree(root, ignore_errors=True)
        summary = generate(base, GenerationConfig(sales_lines=size, seed=seed, defects=NO_DEFECTS))
        shutil.copytree(base, append)
        added = append_sales(append, n_lines=max(100, size // 100))
        rows = {source: summary.rows(source) for source in SOURCES}
        meta.write_text(
            json.dumps({"rows": rows, "append_files": [f.file_name for f in added.files]}, indent=2),
            encoding="utf-8",
        )
    info = json.loads(meta.read_text(encoding="utf-8"))
    landing = base / "landing"
    return Dataset(
        size=size,
        landing=landing,
        append_files=tuple(append / "landing" / "sales" / name for name in info["append_files"]),
        rows=info["rows"],
        sales_bytes=sum(p.stat().st_size for p in (landing / "sales").iterdir()),
    )
