"""Dates as staff type them: ISO, slashes, dots, compact, Chinese, ROC (Minguo) calendar, English months."""

from __future__ import annotations

import datetime as dt
import re

from crm.normalise.text import clean_text

ROC_OFFSET = 1911  # ROC year 1 = 1912 AD; 民國113年 = 2024

_MONTHS = {
    m: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for m in names
}

# Optional trailing time ("14:30", "14:30:00", "T14:30:00Z", "下午 2:30") is ignored: we keep dates.
_TIME_TAIL = r"(?:[ tT]+.*)?$"
_YMD = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME_TAIL)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_CJK = re.compile(r"^(?:民國|民国)?\s*(\d{1,4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号號]?" + _TIME_TAIL)
_ROC = re.compile(r"^(\d{2,3})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME_TAIL)
_D_MON_Y = re.compile(r"^(\d{1,2})[- ]([a-z]{3,9})[- ,]+(\d{4})" + _TIME_TAIL)
_MON_D_Y = re.compile(r"^([a-z]{3,9})\.? (\d{1,2}),? (\d{4})" + _TIME_TAIL)


def parse_date(value: object) -> dt.date | None:
    """Parse a date written in any accepted format; None if empty, unknown or impossible (2023-02-30).

    ``datetime``/``date`` objects (XLSX date cells) pass through. Years of two or three digits in the
    slash or 年月日 forms are ROC (Minguo) years: ``112/05/01`` and ``民國112年5月1日`` are 2023-05-01.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = clean_text(value)
    if text is None:
        return None
    text = text.lower()
    year = month = day = None
    if (m := _YMD.match(text)) or (m := _COMPACT.match(text)):
        year, month, day = (int(g) for g in m.groups())
    elif m := _CJK.match(text):
        year, month, day = (int(g) for g in m.groups())
        if year < 1000 or text.startswith(("民國", "民国")):
            year += ROC_OFFSET if year < 1000 else 0
    elif m := _ROC.match(text):
        year, month, day = (int(g) for g in m.groups())
        year += ROC_OFFSET
    elif m := _D_MON_Y.match(text):
        day, month, year = int(m[1]), _MONTHS.get(m[2]), int(m[3])
    elif m := _MON_D_Y.match(text):
        month, day, year = _MONTHS.get(m[1]), int(m[2]), int(m[3])
    if year is None or month is None or day is None:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
