"""Chinese scripts: Traditional/Simplified conversion, script classification and Big5 checks."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from enum import StrEnum

import opencc


class Script(StrEnum):
    """How a file's text is written."""

    TRADITIONAL = "traditional"
    SIMPLIFIED = "simplified"
    ENGLISH = "english"  # English headers and labels, people's names as they wrote them


@functools.cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    return _converter("t2s").convert(text)


def to_traditional(text: str) -> str:
    return _converter("s2t").convert(text)


def convert_many(texts: Sequence[str], script: Script) -> list[str]:
    """Convert many short texts in one OpenCC call (much faster than one call per text)."""
    if script is Script.ENGLISH or not texts:
        return list(texts)
    if any("\n" in t for t in texts):
        raise ValueError("convert_many expects single-line texts")
    joined = "\n".join(texts)
    converted = to_simplified(joined) if script is Script.SIMPLIFIED else to_traditional(joined)
    out = converted.split("\n")
    assert len(out) == len(texts)
    return out


def in_script(text: str, script: Script) -> str:
    """``text`` written in ``script`` (English keeps the text as it is)."""
    if script is Script.SIMPLIFIED:
        return to_simplified(text)
    if script is Script.TRADITIONAL:
        return to_traditional(text)
    return text


def is_big5(text: str) -> bool:
    try:
        text.encode("big5")
    except UnicodeEncodeError:
        return False
    return True


def fits_script(token: str, script: Script) -> bool:
    """Whether a header alias or vocabulary token is written in ``script``.

    ASCII tokens are English. A Chinese token is Simplified when OpenCC leaves it unchanged
    t2s, and Traditional when it is not Simplified-only and encodes in Big5.
    """
    if token.isascii():
        return script is Script.ENGLISH
    if script is Script.SIMPLIFIED:
        return to_simplified(token) == token
    if script is Script.TRADITIONAL:
        return is_big5(token) and (to_simplified(token) != token or to_traditional(token) == token)
    return False


def tokens_in_script(tokens: Iterable[str], script: Script) -> list[str]:
    return [t for t in tokens if fits_script(t, script)]
