"""Text normalisation: width folding, trimming, Traditional/Simplified folding for matching keys."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\ufeff]")
_SPACES = re.compile(r"\s+")
# Separators people type inside names and addresses that carry no identity ("陳 大文", "Chen·Da-wen").
_NAME_NOISE = re.compile(r"[\s·・.,，、\-_'\"()（）]+")


def clean_text(value: object) -> str | None:
    """NFKC-fold (full-width to half-width), drop control characters, trim, collapse spaces; '' -> None."""
    if value is None:
        return None
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
