"""Text normalisation: width folding, trimming, Traditional/Simplified folding for matching keys."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\ufeff]")
_SPACES = re.compile(r"\s+")
# Separators people type inside names and addresses that carry no identity ("陳 大文", "Chen·Da-wen").
_NAME_NOISE = re.compile(r"[\s·・.,，、\-_'\"()（）]+")


def _is_clean_ascii(text: str) -> bool:
    """True when ``clean_text`` would return ``text`` unchanged, decided by C-level string tests.

    Printable ASCII (U+0020..U+007E) is stable under NFKC and holds no control character; the only
    white space in it is the plain space, so the text is already clean when it is not empty, does not
    start or end with a space and has no two spaces in a row. Order ids, SKUs, e-mails, phones, dates
    and amounts are such text, and the full path (NFKC plus two regular expressions) costs several
    times more per value.
    """
    return (
        text.isascii()
        and text.isprintable()
        and text != ""
        and text[0] != " "
        and text[-1] != " "
        and "  " not in text
    )


def clean_text(value: object) -> str | None:
    """NFKC-fold (full-width to half-width), drop control characters, trim, collapse spaces; '' -> None."""
    if value is None:
        return None
    if type(value) is str and _is_clean_ascii(value):
        return value
    if isinstance(value, float) and value != value:  # NaN from pandas / openpyxl
        return None
    text = unicodedata.normalize("NFKC", str(value))
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    return text or None


@cache
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters to Simplified (other scripts pass through)."""
    return _t2s().convert(text)


def name_key(value: object) -> str | None:
    """The matching form of a name, company or address: cleaned, Simplified, case-folded, no separators.

    '陳 大文' and '陈大文' and 'CHEN Da-Wen' / 'chen dawen' each fold to one key per script, so that
    identity resolution compares like with like.
    """
    text = clean_text(value)
    if text is None:
        return None
    folded = _NAME_NOISE.sub("", to_simplified(text).casefold())
    # Removing separators can bring a base letter and a combining mark together: compose again.
    folded = unicodedata.normalize("NFKC", folded)
    return folded or None
