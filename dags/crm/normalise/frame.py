"""Normalise a parsed batch (canonical columns, raw values) into the typed frame that GX validates.

Every normaliser runs once per *distinct* value of a column, not once per row: phones, e-mails,
names, dates and labels repeat heavily across order lines, so this is where ingestion time goes.
For each typed field the cleaned input text is kept as ``<field>__raw`` so the suite can tell
"missing" (raw is null) from "unparseable" (raw present, typed value null).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

from crm.contract import FIELDS, MEMBER_ID_PATTERN, Field
from crm.normalise.contact import clean_email, is_valid_email, phone_to_e164
from crm.normalise.dates import parse_date
from crm.normalise.text import clean_text, name_key
from crm.normalise.values import (
    parse_bool,
    parse_decimal,
    parse_int,
    parse_label,
    parse_rate,
    vocabulary_lookup,
)

_MEMBER_ID = re.compile(MEMBER_ID_PATTERN)

#: Kinds whose parsed value can fail although text was present (they get a ``__raw`` companion).
TYPED_KINDS = frozenset({"date", "int", "decimal", "bool", "label"})


#: Results of the pure per-value normalisers, kept across the chunks and files of one process: the
#: same phones, e-mails, names and dates recur in every chunk, and phone parsing dominates otherwise.
_MEMO: dict[str, dict[str, object]] = {}
#: A memo is emptied when it holds this many values (bounds memory on very many distinct values).
#: Ingestion of 10M sales lines (about 800,000 distinct customer references) peaked at 2.85 GiB with
#: 1,000,000, 2.55 GiB with 300,000 and 2.42 GiB with 100,000; user CPU stayed within the runs'
#: noise (373-401 s; docs/benchmarks.md).
MEMO_LIMIT = 100_000


def _memo(name: str) -> dict[str, object]:
    memo = _MEMO.setdefault(name, {})
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    return memo


def _apply(values: list[object], func: Callable[[object], object], memo: str | None = None) -> list[object]:
    """``func`` of every value; ``None`` stays ``None`` (missing) without calling ``func``.

    With ``memo``, results for text values are remembered under that name for later batches (only
    ``str`` keys: ``1``, ``1.0`` and ``True`` are equal dict keys but normalise differently).
    """
    if memo is None:
        return [None if value is None else func(value) for value in values]
    known = _memo(memo)
    mapped: list[object] = []
    for value in values:
        if value is None:
            result = None
        elif type(value) is str:
            try:
                result = known[value]
            except KeyError:
                result = known[value] = func(value)
        else:
            result = func(value)
        mapped.append(result)
    return mapped


class _Distinct:
    """One column factorised once: the functions run on its distinct values, results are broadcast."""

    def __init__(self, series: pd.Series) -> None:
        self.index = series.index
        self.codes, uniques = pd.factorize(series, use_na_sentinel=True)
        self.values: list[object] = list(uniques)

    def broadcast(self, mapped: list[object]) -> pd.Series:
        values = pd.Series([*mapped, None], dtype=object)  # last slot serves the NA sentinel (-1)
        return pd.Series(values.to_numpy()[self.codes], index=self.index, dtype=object)


def _map_distinct(series: pd.Series, func: Callable[[object], object], memo: str | None = None) -> pd.Series:
    """Apply ``func`` to each distinct value once and broadcast the results."""
    distinct = _Distinct(series)
    return distinct.broadcast(_apply(distinct.values, func, memo))


def classify_ref(value: object) -> tuple[str, str] | None:
    """A sales customer reference -> (type, normalised key): member id, e-mail, phone or name."""
    text = clean_text(value)
    if text is None:
        return None
    upper = text.upper().replace(" ", "")
    if _MEMBER_ID.match(upper):
        return ("member_id", upper)
    email = clean_email(text)
    if "@" in text and is_valid_email(email):
        return ("email", email)
    phone = phone_to_e164(text)
    if phone is not None:
        return ("phone", phone)
    key = name_key(text)
    return None if key is None else ("name", key)


_LOOKUPS: dict[int, dict[str, str]] = {}


def _lookup(field: Field) -> dict[str, str]:
    """Vocabulary lookup per field, built once (fields are frozen module constants)."""
    key = id(field.vocabulary)
    if key not in _LOOKUPS:
        _LOOKUPS[key] = vocabulary_lookup(field.vocabulary)
    return _LOOKUPS[key]


def _typed(field: Field, values: list[object]) -> tuple[list[object], str | None]:
    """The typed values of ``values`` (distinct cleaned text, or raw cells for dates) and the dtype."""
    if field.kind == "date":
        return _apply(values, parse_date, "date"), None
    if field.kind == "int":
        return _apply(values, parse_int, "int"), "Int64"
    if field.kind == "decimal":
        if field.max_value == 1:
            return _apply(values, parse_rate, "rate"), "Float64"
        return _apply(values, parse_decimal, "decimal"), "Float64"
    if field.kind == "bool":
        lookup = _lookup(field)
        return _apply(values, lambda v: parse_bool(v, lookup), f"bool:{id(field.vocabulary)}"), "boolean"
    if field.kind == "label":
        lookup = _lookup(field)
        return _apply(values, lambda v: parse_label(v, lookup), f"label:{id(field.vocabulary)}"), None
    raise ValueError(f"not a typed kind: {field.kind}")


def normalise_frame(source: str, batch: pd.DataFrame) -> pd.DataFrame:
    """Canonical raw values in, validated-to-be typed frame out (same index: the source row numbers).

    Each input column is factorised once; the cleaning and parsing functions are composed on its
    distinct values (``f(clean_text(v))`` per distinct ``v``) and the results broadcast to the rows.
    """
    out: dict[str, pd.Series] = {}
    for field in FIELDS[source]:
        if field.name in batch.columns:
            original = batch[field.name]
        else:
            original = pd.Series([None] * len(batch), index=batch.index, dtype=object)
        distinct = _Distinct(original)
        cleaned_values = _apply(distinct.values, clean_text)
        cleaned = distinct.broadcast(cleaned_values)
        if field.kind in TYPED_KINDS:
            # Dates from XLSX cells arrive as datetime objects: parse them before text cleaning.
            typed_values, dtype = _typed(field, distinct.values if field.kind == "date" else cleaned_values)
            typed = distinct.broadcast(typed_values)
            if field.kind == "date":
                out[field.name] = pd.to_datetime(typed, errors="coerce")
            else:
                out[field.name] = typed if dtype is None else typed.astype(dtype)
            out[f"{field.name}__raw"] = cleaned
            continue
        if field.kind == "email":
            out[field.name] = distinct.broadcast(_apply(cleaned_values, clean_email, "email"))
        elif field.kind == "name":
            out[field.name] = cleaned
            out[f"{field.name}_norm"] = distinct.broadcast(_apply(cleaned_values, name_key, "name_key"))
        elif field.kind == "phone":
            out[field.name] = cleaned
            out[f"{field.name}_e164"] = distinct.broadcast(_apply(cleaned_values, phone_to_e164, "phone"))
        elif field.kind == "ref":
            refs = _apply(cleaned_values, classify_ref, "ref")
            out[field.name] = cleaned
            out[f"{field.name}_type"] = distinct.broadcast([None if r is None else r[0] for r in refs])
            out[f"{field.name}_norm"] = distinct.broadcast([None if r is None else r[1] for r in refs])
        else:
            out[field.name] = cleaned
    return pd.DataFrame(out, index=batch.index)
