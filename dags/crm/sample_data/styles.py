"""File styles: the habits of whoever produced a file (encoding, script, headers, date and number formats)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from crm.contract import YES_NO, Field
from crm.sample_data.dates import STYLES_BY_SCRIPT, DateStyle
from crm.sample_data.scripts import Script, tokens_in_script
from crm.sample_data.seeding import scalar_rng

ENCODINGS_BY_SCRIPT: dict[Script, tuple[tuple[str, float], ...]] = {
    Script.TRADITIONAL: (("utf-8", 0.35), ("utf-8-sig", 0.25), ("big5", 0.40)),
    Script.SIMPLIFIED: (("utf-8", 0.3), ("utf-8-sig", 0.2), ("gb18030", 0.5)),
    Script.ENGLISH: (("utf-8", 0.6), ("utf-8-sig", 0.4)),
}
#: Natural yes/no pairs per script (every token is in contract.YES_NO, compared case-insensitively).
BOOL_PAIRS: dict[Script, tuple[tuple[str, str], ...]] = {
    Script.TRADITIONAL: (("是", "否"), ("有", "無"), ("會", "不會"), ("Y", "N")),
    Script.SIMPLIFIED: (("是", "否"), ("有", "无"), ("会", "不会"), ("Y", "N")),
    Script.ENGLISH: (("yes", "no"), ("Yes", "No"), ("Y", "N"), ("TRUE", "FALSE"), ("1", "0")),
}


@dataclass(frozen=True)
class FileStyle:
    script: Script
    encoding: str  # Python codec name; "utf-8-sig" writes a BOM
    date_style: DateStyle
    headers: dict[str, str]  # canonical column -> header written
    true_false: tuple[str, str]
    thousands: bool  # numbers >= 1000 written "1,280" (quoted in CSV)
    decimals: bool  # prices written with two decimals
    percent_discount: bool  # "10%" rather than "0.1"
    fullwidth_share: float  # share of numeric values typed in full-width digits
    label_seed: int  # picks the spelling of labels per row

    def bool_text(self, value: bool) -> str:
        return self.true_false[0] if value else self.true_false[1]


T = TypeVar("T")


def pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    """One of ``options``, uniformly (numpy generator: for file-level choices)."""
    return options[int(rng.integers(len(options)))]


def choose_script(
    rng: np.random.Generator, weights: tuple[float, float, float] = (0.55, 0.25, 0.20)
) -> Script:
    return (Script.TRADITIONAL, Script.SIMPLIFIED, Script.ENGLISH)[int(rng.choice(3, p=weights))]


def choose_headers(rng: np.random.Generator, fields: tuple[Field, ...], script: Script) -> dict[str, str]:
    """One header per column in the file's script, drawn from the contract aliases."""
    headers = {}
    for f in fields:
        options = tokens_in_script(f.all_headers(), script)
        headers[f.name] = pick(rng, options)
    return headers


def choose_style(
    rng: np.random.Generator,
    fields: tuple[Field, ...],
    script: Script | None = None,
    *,
    encodings: bool = True,
    date_styles: tuple[DateStyle, ...] | None = None,
) -> FileStyle:
    script = script or choose_script(rng)
    codecs, weights = zip(*ENCODINGS_BY_SCRIPT[script], strict=True)
    encoding = str(rng.choice(codecs, p=np.array(weights) / sum(weights))) if encodings else "utf-8"
    allowed = [s for s in STYLES_BY_SCRIPT[script] if date_styles is None or s in date_styles]
    pair = pick(rng, BOOL_PAIRS[script])
    assert all(t.casefold() in YES_NO[k] for t, k in zip(pair, ("true", "false"), strict=True))
    return FileStyle(
        script=script,
        encoding=encoding,
        date_style=pick(rng, allowed),
        headers=choose_headers(rng, fields, script),
        true_false=pair,
        thousands=bool(rng.random() < 0.35),
        decimals=bool(rng.random() < 0.25),
        percent_discount=bool(rng.random() < 0.5),
        fullwidth_share=float(pick(rng, (0.0, 0.0, 0.01, 0.03))),
        label_seed=int(rng.integers(2**31)),
    )


def label_spellings(vocabulary: dict[str, tuple[str, ...]], script: Script) -> dict[str, list[str]]:
    """Spellings of each code in the file's script (English codes also appear title- or upper-cased)."""
    out: dict[str, list[str]] = {}
    for code, tokens in vocabulary.items():
        spellings = tokens_in_script(tokens, script)
        if script is Script.ENGLISH:
            spellings = [*spellings, spellings[0].title(), spellings[0].upper()]
        out[code] = spellings
    return out


class LabelWriter:
    """Writes vocabulary codes the way one file's staff do: mostly one spelling, sometimes another."""

    def __init__(self, vocabulary: dict[str, tuple[str, ...]], style: FileStyle, salt: int) -> None:
        self._rng = scalar_rng(style.label_seed, "labels", salt)
        self._spellings = label_spellings(vocabulary, style.script)
        self._main = {code: self._rng.choice(s) for code, s in self._spellings.items()}

    def __call__(self, code: str) -> str:
        if self._rng.random() < 0.85:
            return self._main[code]
        return self._rng.choice(self._spellings[code])

    def table(self, codes: tuple[str, ...]) -> list[list[str]]:
        """All spellings per code (for vectorised writers), the file's main spelling first."""
        return [[self._main[c], *[s for s in self._spellings[c] if s != self._main[c]]] for c in codes]


def format_number(value: float, style: FileStyle, *, decimals: bool | None = None) -> str:
    use_decimals = style.decimals if decimals is None else decimals
    if use_decimals:
        return f"{value:,.2f}" if style.thousands else f"{value:.2f}"
    if value == int(value):
        return f"{int(value):,d}" if style.thousands else f"{int(value)}"
    return f"{value:,.2f}" if style.thousands else f"{value:.2f}"


def format_discount(rate: float, style: FileStyle) -> str:
    if rate == 0:
        return "0%" if style.percent_discount else "0"
    if style.percent_discount:
        return f"{round(rate * 100):d}%"
    return f"{rate:g}"
