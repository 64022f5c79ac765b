"""Generation options and defect rates."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

#: One person per this many sales lines when ``persons`` is not given (at least MIN_PERSONS).
LINES_PER_PERSON = 15
MIN_PERSONS = 300
DEFAULT_SALES_LINES = 30_000
DEFAULT_START = dt.date(2024, 1, 1)
DEFAULT_END = dt.date(2025, 12, 31)


@dataclass(frozen=True)
class DefectRates:
    """Share of records that receive each row-level defect, and which file-level defects to inject.

    A record gets at most one defect. Rates apply to the records a defect can apply to (for
    example ``malformed_phone`` only to records that carry a phone). ``scaled`` multiplies the
    row rates; file-level defects stay on unless the scale is 0.
    """

    exact_duplicate: float = 0.004
    near_duplicate: float = 0.003
    missing_required: float = 0.004
    malformed_phone: float = 0.008
    malformed_email: float = 0.008
    impossible_date: float = 0.002
    rating_out_of_range: float = 0.004
    negative_quantity: float = 0.0008
    price_outlier: float = 0.0008
    truncated_row: float = 0.001
    extra_column: float = 0.001
    rejected_file: bool = True  # one survey CSV lacks a required column
    empty_file: bool = True  # one 0-byte reply-card file
    redelivered_file: bool = True  # one sales file delivered twice under another name

    def scaled(self, scale: float) -> DefectRates:
        if scale < 0:
            raise ValueError(f"defect scale must be >= 0, got {scale}")
        row_rates = {name: getattr(self, name) * scale for name in ROW_DEFECTS}
        if sum(row_rates.values()) > 0.5:
            raise ValueError(f"defect scale {scale} puts more than half of all records in defect")
        file_flags = {name: bool(getattr(self, name)) and scale > 0 for name in FILE_DEFECTS}
        return dataclasses.replace(self, **row_rates, **file_flags)

    def row_rate(self, name: str) -> float:
        return float(getattr(self, name))


ROW_DEFECTS: tuple[str, ...] = (
    "exact_duplicate",
    "near_duplicate",
    "missing_required",
    "malformed_phone",
    "malformed_email",
    "impossible_date",
    "rating_out_of_range",
    "negative_quantity",
    "price_outlier",
    "truncated_row",
    "extra_column",
)
FILE_DEFECTS: tuple[str, ...] = ("rejected_file", "empty_file", "redelivered_file")
NO_DEFECTS = DefectRates().scaled(0.0)


@dataclass(frozen=True)
class GenerationConfig:
    """What to generate. Same config (and library versions) => byte-identical files."""

    seed: int = 42
    sales_lines: int = DEFAULT_SALES_LINES
    persons: int | None = None
    start: dt.date = DEFAULT_START
    end: dt.date = DEFAULT_END
    defects: DefectRates = field(default_factory=DefectRates)
    #: Sales orders are generated in chunks of about this many lines (bounds memory). Part of the
    #: random stream: a different chunk size gives different (equally valid) data.
    chunk_lines: int = 200_000

    def __post_init__(self) -> None:
        if self.sales_lines < 100:
            raise ValueError(f"sales_lines must be >= 100, got {self.sales_lines}")
        if self.persons is not None and self.persons < 50:
            raise ValueError(f"persons must be >= 50, got {self.persons}")
        if self.end <= self.start + dt.timedelta(days=27):
            raise ValueError(f"the window {self.start}..{self.end} must cover at least four weeks")
        if self.chunk_lines < 1_000:
            raise ValueError(f"chunk_lines must be >= 1000, got {self.chunk_lines}")

    @property
    def n_persons(self) -> int:
        if self.persons is not None:
            return self.persons
        return max(MIN_PERSONS, self.sales_lines // LINES_PER_PERSON)

    @property
    def n_days(self) -> int:
        return (self.end - self.start).days + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "sales_lines": self.sales_lines,
            "persons": self.n_persons,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "defects": dataclasses.asdict(self.defects),
            "chunk_lines": self.chunk_lines,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenerationConfig:
        """The config written by ``to_json`` (``answer_key/generation.json``)."""
        return cls(
            seed=int(data["seed"]),
            sales_lines=int(data["sales_lines"]),
            persons=int(data["persons"]),
            start=dt.date.fromisoformat(data["start"]),
            end=dt.date.fromisoformat(data["end"]),
            defects=DefectRates(**data["defects"]),
            chunk_lines=int(data["chunk_lines"]),
        )
