"""Profile one ingestion with cProfile and summarise where the time goes ("profile before optimising")."""

from __future__ import annotations

import pstats
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

#: Path fragment -> area, first match wins (own time of each function is charged to one area).
AREAS: tuple[tuple[str, str], ...] = (
    ("great_expectations", "Great Expectations validation"),
    ("crm/normalise", "crm normalisers (Python, per distinct value)"),
    ("phonenumbers", "phonenumbers (phone parsing)"),
    ("opencc", "OpenCC (Traditional -> Simplified)"),
    ("charset_normalizer", "charset-normalizer (encoding detection)"),
    ("crm/ingest", "crm.ingest (reading, splitting, loading)"),
    ("duckdb", "DuckDB (load, dedup, quarantine)"),
    ("pandas", "pandas"),
    ("numpy", "numpy"),
    ("sqlalchemy", "SQLAlchemy"),
    ("pydantic", "pydantic (GX configuration objects)"),
    ("ruamel", "ruamel.yaml (GX configuration)"),
    ("/copy.py", "copy.deepcopy (GX configuration objects)"),
    ("<frozen", "imports"),
    ("{built-in", "built-ins (csv, str, re ...)"),
    ("{method", "built-ins (csv, str, re ...)"),
)


#: Ingestion steps: (label, path fragment of the module, function name); their cumulative time.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("GX set-up (BatchValidator.__init__)", "crm/ingest/validation.py", "__init__"),
    ("encoding and dialect detection", "crm/ingest/decoding.py", "detect_text_format"),
    ("reading CSV records (readers._csv_records)", "crm/ingest/readers.py", "_csv_records"),
    ("CSV chunk frames (readers._cells_frame)", "crm/ingest/readers.py", "_cells_frame"),
    ("reading JSONL / XLSX records (readers.*.records)", "crm/ingest/readers.py", "records"),
    ("normalisation (normalise_frame)", "crm/normalise/frame.py", "normalise_frame"),
    ("GX validation (BatchValidator.validate)", "crm/ingest/validation.py", "validate"),
    ("duplicate keys (FileLoader._mark_duplicates)", "crm/ingest/loader.py", "_mark_duplicates"),
    ("price outliers (FileLoader._price_ratio)", "crm/ingest/loader.py", "_price_ratio"),
    ("insert raw (FileLoader._insert_raw)", "crm/ingest/loader.py", "_insert_raw"),
    ("quarantine rows (FileLoader._quarantine_rows)", "crm/ingest/loader.py", "_quarantine_rows"),
    ("DQ results (FileLoader._insert_dq_results)", "crm/ingest/loader.py", "_insert_dq_results"),
    ("archive files (FileLoader._archive)", "crm/ingest/loader.py", "_archive"),
)


@dataclass(frozen=True)
class Hotspot:
    function: str
    own_s: float
    cumulative_s: float


@dataclass(frozen=True)
class Profile:
    total_s: float
    hotspots: list[Hotspot]
    areas: list[tuple[str, float]]  # (area, own seconds), largest first
    steps: list[tuple[str, float]]  # (ingestion step, cumulative seconds), in pipeline order


def _area(file: str) -> str:
    for fragment, area in AREAS:
        if fragment in file:
            return area
    return "other"


def _short(file: str) -> str:
    for marker in ("site-packages/", "/dags/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def summarise(stats_path: Path, top: int = 15) -> Profile:
    stats = pstats.Stats(str(stats_path))
    raw = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, callers)}
    hotspots = [
        Hotspot(f"{_short(file)}:{line}({name})", tottime, cumtime)
        for (file, line, name), (_cc, _nc, tottime, cumtime, _callers) in raw.items()
    ]
    areas: dict[str, float] = defaultdict(float)
    for (file, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        areas[_area(file if file != "~" else name)] += tottime
    steps = [
        (label, sum(v[3] for (file, _l, name), v in raw.items() if fragment in file and name == function))
        for label, fragment, function in STEPS
    ]
    return Profile(
        total_s=float(stats.total_tt),  # type: ignore[attr-defined]
        hotspots=sorted(hotspots, key=lambda h: h.own_s, reverse=True)[:top],
        areas=sorted(areas.items(), key=lambda item: item[1], reverse=True),
        steps=steps,
    )
