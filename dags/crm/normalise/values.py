"""Numbers, booleans and vocabulary labels."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from crm.contract import DECIMAL_PRECISION, DECIMAL_SCALE
from crm.normalise.text import clean_text

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_CURRENCY = re.compile(r"(?i)^(nt\$|ntd|twd|rmb|cny|us\$|usd|\$|¥|元)|(元|圓|块)$")


#: The warehouse stores amounts as DECIMAL(18, 4) (crm.contract): 14 digits before the point.
DECIMAL_LIMIT = Decimal(10) ** (DECIMAL_PRECISION - DECIMAL_SCALE)


def parse_decimal(value: object) -> Decimal | None:
    """'1,280', '１２８０', 'NT$1,280', ' 12.5 ' -> Decimal; anything else -> None.

    A number the warehouse's DECIMAL(18, 4) cannot hold (10**14 or more in magnitude, infinity) is
    unparseable too: its row is quarantined by the suite instead of failing the file's insert.
    """
    number = _number(value)
    if number is None or not number.is_finite() or abs(number) >= DECIMAL_LIMIT:
        return None
    return number


def _number(value: object) -> Decimal | None:
    """The number written in ``value`` (any size), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value:  # NaN
            return None
        return Decimal(str(value))
    text = clean_text(value)
    if text is None:
        return None
    text = _CURRENCY.sub("", text.replace(",", "").replace(" ", ""))
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1


def parse_int(value: object) -> int | None:
    """An integer, also from '3.0' or '1,000'; '3.5', 'abc' or beyond a 64-bit BIGINT -> None."""
    number = _number(value)
    if number is None or not number.is_finite() or number != number.to_integral_value():
        return None
    integer = int(number)
    # The warehouse stores BIGINT: a larger number is unparseable here (quarantined), not a crash.
    return integer if _BIGINT_MIN <= integer <= _BIGINT_MAX else None


def parse_rate(value: object) -> Decimal | None:
    """A rate in [0, 1] written as '0.1', '10%', '10 %' or '９折' (90% price = 0.1 discount)."""
    text = clean_text(value)
    if text is None:
        return None
    if text.endswith("%"):
        number = parse_decimal(text[:-1])
        return None if number is None else number / 100
    if text.endswith("折"):  # Chinese discount notation: 9折 = pay 90% = 10% off; 85折 = 15% off
        number = parse_decimal(text[:-1])
        if number is None or number <= 0:
            return None
        paid = number / 10 if number < 10 else number / 100
        return 1 - paid
    return parse_decimal(text)


def vocabulary_lookup(vocabulary: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Map every spelling (case-folded) to its canonical code."""
    lookup = {}
    for code, spellings in vocabulary.items():
        lookup[code.casefold()] = code
        for spelling in spellings:
            lookup[spelling.casefold()] = code
    return lookup


def parse_label(value: object, lookup: dict[str, str]) -> str | None:
    text = clean_text(value)
    if text is None:
        return None
    return lookup.get(text.casefold())


def parse_bool(value: object, lookup: dict[str, str]) -> bool | None:
    if isinstance(value, bool):
        return value
    code = parse_label(value, lookup)
    return None if code is None else code == "true"
