"""What both references need from the sales exports: each file's dialect and header, and the
project's value rules applied once per distinct value.

The exports come in UTF-8, Big5 and GB18030 with Traditional Chinese, Simplified Chinese or English
headers and several date and number styles. A user comparing tools would not re-invent those rules:
both references take the encoding, delimiter and header aliases from ``crm.ingest.decoding`` and
``crm.contract``, and parse dates, quantities, prices, discounts and customer references with the
pipeline's own normalisers, mapped over *distinct* values (they repeat heavily across lines).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from crm.contract import fold_header, header_lookup
from crm.ingest.decoding import detect_text_format
from crm.normalise.dates import parse_date
from crm.normalise.frame import classify_ref
from crm.normalise.values import parse_decimal, parse_int, parse_rate

#: The sales columns RFM needs.
RFM_COLUMNS: tuple[str, ...] = (
    "order_id",
    "order_date",
    "customer_ref",
    "quantity",
    "unit_price",
    "discount",
)


@dataclass(frozen=True)
class SalesFile:
    path: Path
    encoding: str
    delimiter: str
    #: canonical column -> header as written in the file, for RFM_COLUMNS present in the file
    headers: dict[str, str]


def describe(path: Path) -> SalesFile:
    """Encoding, delimiter and the headers of the RFM columns of one sales export."""
    fmt = detect_text_format(path, "sales")
    lookup = header_lookup("sales")
    headers: dict[str, str] = {}
    for header in fmt.header:
        column = lookup.get(fold_header(header))
        if column in RFM_COLUMNS and column not in headers:
            headers[column] = header
    missing = [c for c in RFM_COLUMNS if c not in headers and c != "discount"]
    if missing:
        raise ValueError(f"{path}: no header for required sales column(s) {', '.join(missing)}")
    return SalesFile(path, fmt.encoding, fmt.delimiter, headers)


def sales_exports(sales_dir: Path) -> list[SalesFile]:
    files = sorted(sales_dir.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no sales CSV files in {sales_dir}")
    return [describe(path) for path in files]


def ref_key(value: object) -> str | None:
    """``<type>:<normalised ref>``, the key ``raw.sales`` identity links use (``customer_ref_type:norm``)."""
    ref = classify_ref(value)
    return None if ref is None else f"{ref[0]}:{ref[1]}"


def iso_date(value: object) -> str | None:
    date = parse_date(value)
    return None if date is None else date.isoformat()


def _text(parser: Callable[[object], Decimal | int | None]) -> Callable[[object], str | None]:
    def parse(value: object) -> str | None:
        parsed = parser(value)
        return None if parsed is None else str(parsed)

    return parse


#: Column -> parser of one raw cell to a canonical string (None when unparseable).
PARSERS: dict[str, Callable[[object], str | None]] = {
    "customer_ref": ref_key,
    "order_date": iso_date,
    "quantity": _text(parse_int),
    "unit_price": _text(parse_decimal),
    "discount": _text(parse_rate),
}


def parse_distinct(column: str, values: Iterable[object]) -> dict[object, str | None]:
    """Each distinct raw value of ``column`` -> its canonical text."""
    parser = PARSERS[column]
    return {value: parser(value) for value in values}
