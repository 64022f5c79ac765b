"""Per-SKU price counts of ``raw.sales``, kept in memory for the price-outlier check.

The check compares a line's unit price with the median price of its SKU over the lines already
loaded (``unit_price > 0``, at least ``MIN_PRICE_SAMPLE`` lines). Asking the warehouse for those
medians for every chunk scanned the whole growing table each time: at 10M lines about 50 full scans
and sorts per run, more the larger the warehouse. Here the warehouse is read once per run (counts of
each SKU and stored price, a few thousand rows), every written chunk adds its own counts, and the
median comes from the counts, computed as DuckDB's ``median`` computes it on ``DECIMAL(18, 4)``.

Counts of the file being loaded are kept apart until its transaction commits, and dropped if it
rolls back, so the counts always equal what ``raw.sales`` holds inside the open transaction.
"""

from __future__ import annotations

from collections import Counter

import duckdb

from crm.contract import DECIMAL_SCALE

#: Stored prices are DECIMAL(18, 4): counts are kept per integer number of 1/10,000 units. The SQL
#: below spells the types and the scale out (no value is formatted into it); a test holds them to
#: ``crm.contract.raw_columns("sales")``.
SCALE = 10**DECIMAL_SCALE
#: The relation ``add_written`` counts: the frame the loader has just inserted, registered under this
#: name, with the insert's own casts.
WRITTEN_RELATION = "_valid_rows"


def median_units(counts: Counter[int]) -> int:
    """The median of the values counted, as DuckDB's ``median`` (``quantile_cont(0.5)``) gives it on a
    DECIMAL: the middle value, or the lower of the two middle values plus half their difference,
    truncated to the decimal's scale (``1.0001`` and ``1.0002`` -> ``1.0001``). Values are positive."""
    total = sum(counts.values())
    if total == 0:
        raise ValueError("median of no values")
    low_position, high_position = (total - 1) // 2, total // 2
    low = high = None
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if low is None and seen > low_position:
            low = value
        if seen > high_position:
            high = value
            break
    assert low is not None and high is not None
    return low + (high - low) // 2


class SkuPriceCounts:
    """Committed counts (as in ``raw.sales`` outside the open file) plus the open file's counts."""

    def __init__(self) -> None:
        self._committed: dict[str, Counter[int]] | None = None  # None: read on next use
        self._open_file: dict[str, Counter[int]] = {}

    def _load(self, con: duckdb.DuckDBPyConnection) -> dict[str, Counter[int]]:
        if self._committed is None:
            rows = con.execute(
                """
                select sku, cast(unit_price * 10000 as bigint), count(*)
                from raw.sales
                where unit_price > 0 and sku is not null
                group by all
                """
            ).fetchall()
            committed: dict[str, Counter[int]] = {}
            for sku, units, n in rows:
                committed.setdefault(sku, Counter())[units] += n
            self._committed = committed
            # Read inside the open transaction, the table already holds the open file's rows: they
            # are counted here now (a rollback discards everything anyway).
            self._open_file = {}
        return self._committed

    def medians(self, con: duckdb.DuckDBPyConnection, skus: list[str], min_sample: int) -> dict[str, float]:
        """Median unit price (as a float) of each SKU of ``skus`` that has at least ``min_sample``
        positive prices loaded (committed, or written earlier in the open file's transaction)."""
        committed = self._load(con)
        result: dict[str, float] = {}
        for sku in skus:
            counts = Counter(committed.get(sku, ()))
            counts.update(self._open_file.get(sku, ()))
            if sum(counts.values()) >= min_sample:
                result[sku] = median_units(counts) / SCALE
        return result

    def add_written(self, con: duckdb.DuckDBPyConnection) -> None:
        """Count, for the open file, the positive prices of the rows just inserted from the frame
        registered as ``WRITTEN_RELATION``, cast as the insert casts them (so the counts are of the
        stored values)."""
        rows = con.execute(
            """
            select sku, cast(unit_price * 10000 as bigint), count(*)
            from (
                select cast("sku" as VARCHAR) as sku, cast("unit_price" as DECIMAL(18, 4)) as unit_price
                from _valid_rows
            )
            where unit_price > 0 and sku is not null
            group by all
            """
        ).fetchall()
        for sku_value, units, n in rows:
            self._open_file.setdefault(sku_value, Counter())[units] += n

    def commit(self) -> None:
        """The open file committed: its counts are the warehouse's now."""
        if self._committed is not None:
            for sku, counts in self._open_file.items():
                self._committed.setdefault(sku, Counter()).update(counts)
        self._open_file = {}

    def discard(self) -> None:
        """The open file rolled back, or rows were deleted: read the warehouse again on next use."""
        self._committed = None
        self._open_file = {}
