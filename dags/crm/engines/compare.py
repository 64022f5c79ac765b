"""Compare the key marts of two engines row for row.

``python -m crm.engines.compare --reference duckdb --other postgres`` (each engine configured from
the environment as for :mod:`crm.engines.build`) prints every difference and exits 1 if any.

Rules: the same key set; text, integers, booleans and dates exactly equal (scores, segments,
labels, counts); money (decimals) equal to the cent; ratios (floats) within 1e-9, absolute or
relative. A difference names the mart, the key and the column.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crm.engines import load_engine
from crm.engines.base import Engine

#: mart -> its key columns.
KEY_MARTS: dict[str, tuple[str, ...]] = {
    "dim_customers": ("customer_id",),
    "customer_rfm": ("customer_id",),
    "loyalty_monthly": ("month_start",),
}
RATIO_TOLERANCE = 1e-9
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Mismatch:
    mart: str
    key: tuple[Any, ...]
    column: str
    reference: Any
    other: Any

    def __str__(self) -> str:
        key = ", ".join(str(part) for part in self.key)
        return f"{self.mart}[{key}].{self.column}: {self.reference!r} != {self.other!r}"


def _normalise(value: Any) -> Any:
    """Engine-neutral Python values: Decimal stays Decimal, numpy/Arrow scalars become Python."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes, Decimal)):
        return value.item()
    return value


def values_match(reference: Any, other: Any) -> bool:
    reference, other = _normalise(reference), _normalise(other)
    if reference is None or other is None:
        return reference is None and other is None
    if isinstance(reference, bool) or isinstance(other, bool):
        return type(reference) is type(other) and reference == other
    if isinstance(reference, Decimal) or isinstance(other, Decimal):
        if isinstance(reference, float) or isinstance(other, float):
            return math.isclose(
                float(reference), float(other), rel_tol=RATIO_TOLERANCE, abs_tol=RATIO_TOLERANCE
            )
        return Decimal(reference).quantize(CENT) == Decimal(other).quantize(CENT)
    if isinstance(reference, float) or isinstance(other, float):
        return math.isclose(float(reference), float(other), rel_tol=RATIO_TOLERANCE, abs_tol=RATIO_TOLERANCE)
    return bool(reference == other)


def _keyed(
    mart: str, columns: Sequence[str], rows: Sequence[tuple], keys: Sequence[str]
) -> dict[tuple, dict[str, Any]]:
    missing = [key for key in keys if key not in columns]
    if missing:
        raise ValueError(f"{mart} has no key column(s) {missing}")
    keyed: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        key = tuple(_normalise(record[name]) for name in keys)
        if key in keyed:
            raise ValueError(f"{mart}: key {key} is not unique")
        keyed[key] = record
    return keyed


def compare_tables(
    mart: str,
    keys: Sequence[str],
    reference: tuple[list[str], list[tuple]],
    other: tuple[list[str], list[tuple]],
) -> list[Mismatch]:
    """Differences between one mart's rows on two engines (column sets must agree)."""
    mismatches: list[Mismatch] = []
    ref_columns, other_columns = [c.lower() for c in reference[0]], [c.lower() for c in other[0]]
    if set(ref_columns) != set(other_columns):
        only_ref = sorted(set(ref_columns) - set(other_columns))
        only_other = sorted(set(other_columns) - set(ref_columns))
        return [Mismatch(mart, ("*",), "<columns>", only_ref, only_other)]
    ref_rows = _keyed(mart, ref_columns, reference[1], keys)
    other_rows = _keyed(mart, other_columns, other[1], keys)
    for key in sorted(set(ref_rows) - set(other_rows), key=str):
        mismatches.append(Mismatch(mart, key, "<row>", "present", "missing"))
    for key in sorted(set(other_rows) - set(ref_rows), key=str):
        mismatches.append(Mismatch(mart, key, "<row>", "missing", "present"))
    for key in sorted(set(ref_rows) & set(other_rows), key=str):
        left, right = ref_rows[key], other_rows[key]
        for column in ref_columns:
            if not values_match(left[column], right[column]):
                mismatches.append(Mismatch(mart, key, column, left[column], right[column]))
    return mismatches


def compare_engines(
    reference: Engine, other: Engine, marts: Mapping[str, tuple[str, ...]] = KEY_MARTS
) -> dict[str, list[Mismatch]]:
    """Per mart, the differences between the reference engine's rows and the other engine's."""
    result: dict[str, list[Mismatch]] = {}
    for mart, keys in marts.items():
        sql = f"select * from marts.{mart}"
        result[mart] = compare_tables(mart, keys, reference.fetch(sql), other.fetch(sql))
    return result


def format_report(reference: str, other: str, result: Mapping[str, list[Mismatch]], limit: int = 50) -> str:
    lines = []
    for mart, mismatches in result.items():
        status = "identical" if not mismatches else f"{len(mismatches)} differences"
        lines.append(f"{mart}: {reference} vs {other}: {status}")
        lines += [f"  {mismatch}" for mismatch in mismatches[:limit]]
        if len(mismatches) > limit:
            lines.append(f"  ... and {len(mismatches) - limit} more")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare the key marts of two engines row for row.")
    parser.add_argument("--reference", default="duckdb")
    parser.add_argument("--other", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    reference, other = load_engine(args.reference), load_engine(args.other)
    try:
        result = compare_engines(reference, other)
    finally:
        reference.close()
        other.close()
    print(format_report(args.reference, args.other, result))
    return 1 if any(result.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
