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
MEMO_LIMIT = 1_000_000


def _memo(name: str) -> dict[str, object]:
    memo = _MEMO.setdefault(name, {})
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    return memo


def _map_distinct(series: pd.Series, func: Callable[[object], object], memo: str | None = None) -> pd.Series:
    """Apply ``func`` to each distinct value once and broadcast the results.

    With ``memo``, results for text values are remembered under that name for later batches (only
    ``str`` keys: ``1``, ``1.0`` and ``True`` are equal dict keys but normalise differently).
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if memo is None:
        mapped = [func(value) for value in uniques]
    else:
        known = _memo(memo)
        mapped = []
        for value in uniques:
            if type(value) is str:
                try:
                    result = known[value]
                except KeyError:
                    result = known[value] = func(value)
            else:
                result = func(value)
            mapped.append(result)
    values = pd.Series([*mapped, None], dtype=object)  # last slot serves the NA sentinel (-1)
    return pd.Series(values.to_numpy()[codes], index=series.index, dtype=object)


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


def _typed(field: Field, cleaned: pd.Series) -> pd.Series:
    if field.kind == "date":
        dates = _map_distinct(cleaned, parse_date, "date")
        return pd.to_datetime(dates, errors="coerce")
    if field.kind == "int":
        return _map_distinct(cleaned, parse_int, "int").astype("Int64")
    if field.kind == "decimal":
        if field.max_value == 1:
            return _map_distinct(cleaned, parse_rate, "rate").astype("Float64")
        return _map_distinct(cleaned, parse_decimal, "decimal").astype("Float64")
    if field.kind == "bool":
        lookup = _lookup(field)
        parsed = _map_distinct(cleaned, lambda v: parse_bool(v, lookup), f"bool:{id(field.vocabulary)}")
        return parsed.astype("boolean")
    if field.kind == "label":
        lookup = _lookup(field)
        return _map_distinct(cleaned, lambda v: parse_label(v, lookup), f"label:{id(field.vocabulary)}")
    raise ValueError(f"not a typed kind: {field.kind}")


def normalise_frame(source: str, batch: pd.DataFrame) -> pd.DataFrame:
    """Canonical raw values in, validated-to-be typed frame out (same index: the source row numbers)."""
    out: dict[str, pd.Series] = {}
    for field in FIELDS[source]:
        if field.name in batch.columns:
            original = batch[field.name]
        else:
            original = pd.Series([None] * len(batch), index=batch.index, dtype=object)
        cleaned = _map_distinct(original, clean_text)
        if field.kind in TYPED_KINDS:
            # Dates from XLSX cells arrive as datetime objects: parse them before text cleaning.
            out[field.name] = _typed(field, original if field.kind == "date" else cleaned)
            out[f"{field.name}__raw"] = cleaned
            continue
        if field.kind == "email":
            out[field.name] = _map_distinct(cleaned, clean_email, "email")
        elif field.kind == "name":
            out[field.name] = cleaned
            out[f"{field.name}_norm"] = _map_distinct(cleaned, name_key, "name_key")
        elif field.kind == "phone":
            out[field.name] = cleaned
            out[f"{field.name}_e164"] = _map_distinct(cleaned, phone_to_e164, "phone")
        elif field.kind == "ref":
            refs = _map_distinct(cleaned, classify_ref, "ref")
            out[field.name] = cleaned
            out[f"{field.name}_type"] = refs.map(lambda r: None if r is None else r[0])
            out[f"{field.name}_norm"] = refs.map(lambda r: None if r is None else r[1])
        else:
            out[field.name] = cleaned
    return pd.DataFrame(out, index=batch.index)
