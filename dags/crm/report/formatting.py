"""Number formatting for readings and tables (one style across the report)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from numbers import Real

import pandas as pd

DASH = "–"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, Real) and math.isnan(float(value))) or value is pd.NA


def pct(value: object, digits: int = 0) -> str:
    """A share in [0, 1] as a percentage: 0.712 -> '71%'."""
    return DASH if _missing(value) else f"{float(value) * 100:.{digits}f}%"


def num(value: object, digits: int = 0) -> str:
    return DASH if _missing(value) else f"{float(value):,.{digits}f}"


def signed(value: object, digits: int = 0) -> str:
    """NPS style: +12, -3."""
    return DASH if _missing(value) else f"{float(value):+.{digits}f}"


def money(value: object) -> str:
    if _missing(value):
        return DASH
    value = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:,.1f}{suffix}"
    return f"{value:,.0f}"


def month(value: object) -> str:
    return DASH if _missing(value) else pd.Timestamp(value).strftime("%Y-%m")


def table(frame: pd.DataFrame, formats: Mapping[str, Callable[[object], str]]) -> pd.DataFrame:
    """Apply a formatter per column (others are shown as they are) and keep the column order."""
    shown = frame.copy()
    for column, formatter in formats.items():
        shown[column] = shown[column].map(formatter)
    return shown
