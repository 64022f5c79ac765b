"""Row-level defects injected into survey and card records (sales inject theirs vectorised in sales.py).

Every defect is recorded in the answer key (``answer_key/defects.csv``) with the file, the 1-based
data record number and the defect type, so ingestion tests can check that each one is quarantined.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

from crm.sample_data.config import DefectRates
from crm.sample_data.dates import IMPOSSIBLE_DATES, format_ymd
from crm.sample_data.styles import FileStyle
from crm.sample_data.variants import Phone, malformed_email, malformed_phone, retype_text, to_fullwidth

#: Defects per source (structural ones only where the file format has columns to get wrong).
SOURCE_DEFECTS: dict[str, tuple[str, ...]] = {
    "questionnaires": (
        "exact_duplicate",
        "near_duplicate",
        "missing_required",
        "malformed_phone",
        "malformed_email",
        "impossible_date",
        "rating_out_of_range",
        "truncated_row",
        "extra_column",
    ),
    "reply_cards": (
        "exact_duplicate",
        "near_duplicate",
        "missing_required",
        "malformed_phone",
        "malformed_email",
        "impossible_date",
        "truncated_row",
        "extra_column",
    ),
    "sales": (
        "exact_duplicate",
        "near_duplicate",
        "missing_required",
        "impossible_date",
        "negative_quantity",
        "price_outlier",
        "truncated_row",
        "extra_column",
    ),
}
STRUCTURAL_DEFECTS = ("truncated_row", "extra_column")
#: Which structural defects each file format can carry.
FORMAT_DEFECTS: dict[str, tuple[str, ...]] = {
    "csv": STRUCTURAL_DEFECTS,
    "jsonl": ("truncated_row",),
    "xlsx": (),
}
EXTRA_VALUES = ("", "備註", "N/A", "0")  # what sits in a stray extra column
RATING_COLUMNS = ("rating_product", "rating_service", "rating_staff", "rating_brand", "overall_satisfaction")


@dataclass
class Record:
    """One data record before writing: canonical column -> cell value ('' when empty)."""

    values: dict[str, object]
    person: int
    key: str
    phone: Phone | None = None
    email: str | None = None
    defect: str | None = None
    #: Structural defect applied when writing: columns to drop from the end, or an extra value.
    drop_columns: int = 0
    extra_value: str | None = None
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DefectContext:
    """What the defect functions need to know about the file."""

    source: str
    file_format: str
    style: FileStyle
    columns: tuple[str, ...]
    key_column: str
    required: tuple[str, ...]
    date_column: str


class DefectPicker:
    """Decides, record by record, which defect (if any) to inject."""

    def __init__(self, rates: DefectRates, ctx: DefectContext, rng: random.Random) -> None:
        allowed = [
            d
            for d in SOURCE_DEFECTS[ctx.source]
            if d not in STRUCTURAL_DEFECTS or d in FORMAT_DEFECTS[ctx.file_format]
        ]
        self._types = [d for d in allowed if rates.row_rate(d) > 0 and self._column_ok(d, ctx)]
        self._rates = [rates.row_rate(d) for d in self._types]
        self._ctx = ctx
        self._rng = rng

    @staticmethod
    def _column_ok(defect: str, ctx: DefectContext) -> bool:
        if defect == "malformed_phone":
            return "phone" in ctx.columns
        if defect == "malformed_email":
            return "email" in ctx.columns
        if defect == "rating_out_of_range":
            return any(c in ctx.columns for c in (*RATING_COLUMNS, "recommend_score"))
        return True

    def choose(self, record: Record) -> str | None:
        if not self._types:
            return None
        u = self._rng.random()
        total = 0.0
        for defect, rate in zip(self._types, self._rates, strict=True):
            if self._usable(defect, record):
                total += rate
                if u < total:
                    return defect
        return None

    @staticmethod
    def _usable(defect: str, record: Record) -> bool:
        if defect == "malformed_phone":
            return record.phone is not None and record.values.get("phone", "") != ""
        if defect == "malformed_email":
            return record.email is not None and record.values.get("email", "") != ""
        return True

    def apply(self, record: Record, defect: str) -> list[Record]:
        """The records to write instead of ``record`` (the defective one is marked)."""
        ctx, rng = self._ctx, self._rng
        bad = copy.deepcopy(record)
        bad.defect = defect
        if defect == "exact_duplicate":
            return [record, bad]
        if defect == "near_duplicate":
            bad.values[ctx.key_column] = retype_key(str(record.values[ctx.key_column]), rng)
            for column, value in bad.values.items():
                if column != ctx.key_column and isinstance(value, str) and value and rng.random() < 0.5:
                    bad.values[column] = retype_text(value, rng)
            return [record, bad]
        if defect == "missing_required":
            column = rng.choice(ctx.required)
            bad.values[column] = ""
            bad.notes["column"] = column
        elif defect == "malformed_phone":
            assert record.phone is not None
            bad.values["phone"] = malformed_phone(record.phone, rng)
            bad.notes["column"] = "phone"
        elif defect == "malformed_email":
            assert record.email is not None
            bad.values["email"] = malformed_email(record.email, rng)
            bad.notes["column"] = "email"
        elif defect == "impossible_date":
            y, m, d = rng.choice(IMPOSSIBLE_DATES)
            bad.values[ctx.date_column] = format_ymd(y, m, d, ctx.style.date_style, 600)
            bad.notes["column"] = ctx.date_column
        elif defect == "rating_out_of_range":
            present = [c for c in (*RATING_COLUMNS, "recommend_score") if c in ctx.columns]
            column = rng.choice(present)
            bad.values[column] = rng.choice((11, 12, -1) if column == "recommend_score" else (0, 6, 7, -1))
            bad.notes["column"] = column
        elif defect == "truncated_row":
            bad.drop_columns = rng.randrange(1, max(2, len(ctx.columns) // 2))
        elif defect == "extra_column":
            bad.extra_value = rng.choice(EXTRA_VALUES)
        else:
            raise ValueError(f"defect {defect!r} cannot be applied to {ctx.source} records")
        return [bad]


def retype_key(key: str, rng: random.Random) -> str:
    """The same business key typed again: full-width or with stray spaces (equal after NFKC + trim)."""
    return [to_fullwidth(key), f" {key}", f"{key} ", f"{key}\u3000"][rng.randrange(4)]
