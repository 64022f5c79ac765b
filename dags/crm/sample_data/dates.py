"""Date formats as different staff type them, including the ROC (Minguo) calendar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum

from crm.sample_data.scripts import Script

ROC_OFFSET = 1911


class DateStyle(StrEnum):
    ISO = "iso"  # 2024-03-05
    SLASH = "slash"  # 2024/3/5
    DOT = "dot"  # 2024.03.05
    COMPACT = "compact"  # 20240305
    CJK = "cjk"  # 2024年3月5日
    ROC = "roc"  # 113/03/05
    ROC_CJK = "roc_cjk"  # 民國113年3月5日
    DATETIME = "datetime"  # 2024-03-05 14:30:00


_FORMATTERS: dict[DateStyle, Callable[[int, int, int], str]] = {
    DateStyle.ISO: lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
    DateStyle.SLASH: lambda y, m, d: f"{y}/{m}/{d}",
    DateStyle.DOT: lambda y, m, d: f"{y:04d}.{m:02d}.{d:02d}",
    DateStyle.COMPACT: lambda y, m, d: f"{y:04d}{m:02d}{d:02d}",
    DateStyle.CJK: lambda y, m, d: f"{y}年{m}月{d}日",
    DateStyle.ROC: lambda y, m, d: f"{y - ROC_OFFSET:03d}/{m:02d}/{d:02d}",
    DateStyle.ROC_CJK: lambda y, m, d: f"民國{y - ROC_OFFSET}年{m}月{d}日",
    DateStyle.DATETIME: lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
}

#: Styles a file written in a script may use (ROC years are a Taiwanese habit).
STYLES_BY_SCRIPT: dict[Script, tuple[DateStyle, ...]] = {
    Script.TRADITIONAL: tuple(DateStyle),
    Script.SIMPLIFIED: (
        DateStyle.ISO,
        DateStyle.SLASH,
        DateStyle.DOT,
        DateStyle.COMPACT,
        DateStyle.CJK,
        DateStyle.DATETIME,
    ),
    Script.ENGLISH: (DateStyle.ISO, DateStyle.SLASH, DateStyle.DOT, DateStyle.COMPACT, DateStyle.DATETIME),
}


def format_ymd(year: int, month: int, day: int, style: DateStyle, minute_of_day: int = 0) -> str:
    """Format a (possibly impossible) calendar date; DATETIME adds the time of day."""
    text = _FORMATTERS[style](year, month, day)
    if style is DateStyle.DATETIME:
        hour, minute = divmod(minute_of_day, 60)
        text = f"{text} {hour:02d}:{minute:02d}:00"
    return text


def format_date(day: dt.date, style: DateStyle, minute_of_day: int = 0) -> str:
    return format_ymd(day.year, day.month, day.day, style, minute_of_day)


#: Dates that do not exist, as (year, month, day).
IMPOSSIBLE_DATES: tuple[tuple[int, int, int], ...] = (
    (2023, 2, 30),
    (2024, 2, 31),
    (2025, 2, 29),
    (2024, 4, 31),
    (2024, 13, 1),
    (2025, 6, 31),
    (2025, 9, 31),
    (2024, 0, 12),
)
