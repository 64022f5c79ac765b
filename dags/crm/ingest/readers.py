"""Readers for the accepted file types: CSV, XLSX and JSON Lines, streamed in chunks.

Every reader yields ``Chunk`` objects: a DataFrame of canonical columns holding the values as
written (index = source row number) plus the ``BadRow`` records that could not be split into
columns. Row numbers are 1-based data record numbers (the header is not counted) for CSV and XLSX,
and line numbers for JSON Lines; error messages also name the physical line where it differs.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from crm.contract import fold_header, header_lookup
from crm.ingest import arrow_csv
from crm.ingest.decoding import TextFormat, detect_text_format
from crm.ingest.errors import BadRow, FileRejected
from crm.ingest.headers import HeaderMap, check_header_map, map_headers

log = logging.getLogger(__name__)

#: Longest accepted field; longer values are quarantined, not loaded (and never crash the reader).
MAX_FIELD_CHARS = 10_000
#: csv's own limit must be larger so that over-long fields reach our check instead of aborting.
csv.field_size_limit(16 * 1024 * 1024)
#: Bytes that did not decode survive as lone surrogates (errors="surrogateescape").
_SURROGATE = re.compile("[\udc80-\udcff]")
#: Any lone surrogate: JSON can spell one as an escape ("\\ud800"), but it is not valid Unicode.
_ANY_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class Chunk:
    frame: pd.DataFrame
    bad_rows: list[BadRow] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.bad_rows)


@dataclass
class OpenedFile:
    """A file whose format was recognised; ``chunks()`` streams its records."""

    path: Path
    source: str
    file_type: str
    encoding: str | None
    header_map: HeaderMap | None
    _iterator: Iterator[Chunk]

    def chunks(self) -> Iterator[Chunk]:
        return self._iterator


def _escaped(text: str, encoding: str = "utf-8") -> str:
    """Undecodable bytes (kept as lone surrogates) written as \\xNN escapes, so the text can be stored."""
    return text.encode(encoding, errors="surrogateescape").decode(encoding, errors="backslashreplace")


def _frame(records: list[dict[str, object]], rows: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, index=pd.Index(rows, name="_source_row"))
    return frame.astype(object)


def _cells_frame(batch: list[list[str]], rows: list[int], positions: dict[str, int]) -> pd.DataFrame:
    """What ``_frame`` makes of ``{column: cells[position]}`` records, built column by column."""
    if not batch:
        return _frame([], rows)
    columns = list(zip(*batch, strict=True))
    index = pd.Index(rows, name="_source_row")
    return pd.DataFrame(
        {col: list(columns[pos]) for col, pos in positions.items()}, index=index, dtype=object
    )


def _oversized(values: dict[str, object]) -> str | None:
    for column, value in values.items():
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            return column
    return None


def _too_long(row: int, column: str, values: dict[str, object]) -> BadRow:
    return BadRow(
        row,
        "field_too_long",
        f"{column} is longer than {MAX_FIELD_CHARS} characters",
        {k: (v[:200] + "…" if isinstance(v, str) and len(v) > 200 else v) for k, v in values.items()},
    )


def _chunks(
    records: Iterator[tuple[int, Any, BadRow | None]],
    chunk_rows: int,
    too_long: Callable[[int, Any], BadRow | None],
    build: Callable[[list[Any], list[int]], pd.DataFrame],
    *,
    continued: bool = False,
) -> Iterator[Chunk]:
    """Chunks of at most ``chunk_rows`` rows (good and bad together) from ``(row, item, bad row)``
    records: an item goes to the frame ``build`` makes, unless ``too_long`` turns it into a bad row.
    ``continued``: earlier chunks of the file were already yielded (no empty chunk at the end)."""
    batch: list[Any] = []
    rows: list[int] = []
    bad: list[BadRow] = []
    yielded = continued
    for row, item, bad_row in records:
        if bad_row is not None:
            bad.append(bad_row)
        elif item is not None:
            if (problem := too_long(row, item)) is not None:
                bad.append(problem)
            else:
                batch.append(item)
                rows.append(row)
        if len(batch) + len(bad) >= chunk_rows:
            yield Chunk(build(batch, rows), bad)
            batch, rows, bad, yielded = [], [], [], True
    if batch or bad or not yielded:  # a header-only file still yields one (empty) chunk
        yield Chunk(build(batch, rows), bad)


def _record_too_long(row: int, values: dict[str, object]) -> BadRow | None:
    column = _oversized(values)
    return None if column is None else _too_long(row, column, values)


def _split_records(
    records: Iterator[tuple[int, dict[str, object] | None, BadRow | None]], chunk_rows: int
) -> Iterator[Chunk]:
    """Chunks of records given as ``{column: value}`` (XLSX, JSON Lines)."""
    return _chunks(records, chunk_rows, _record_too_long, _frame)


def _split_cells(
    records: Iterator[tuple[int, list[str] | None, BadRow | None]],
    chunk_rows: int,
    positions: dict[str, int],
    *,
    continued: bool = False,
) -> Iterator[Chunk]:
    """``_split_records`` for CSV rows given as their list of cells (no dict per row).

    Chunks, row numbers and bad rows are exactly those of ``_split_records`` over the records
    ``{column: cells[position]}``; only the way the frame is built differs.
    """

    def too_long(row: int, cells: list[str]) -> BadRow | None:
        if cells and max(map(len, cells)) > MAX_FIELD_CHARS:
            return _record_too_long(row, {col: cells[pos] for col, pos in positions.items()})
        return None

    return _chunks(
        records,
        chunk_rows,
        too_long,
        lambda batch, rows: _cells_frame(batch, rows, positions),
        continued=continued,
    )


# --- CSV ---------------------------------------------------------------------------------------


def _csv_records(
    path: Path, source: str, encoding: str, delimiter: str, header_map: HeaderMap, *, after: int = 0
):
    """Yield ``(record number, cells, None)`` or ``(record number, None, BadRow)`` per data record
    numbered above ``after`` (the records up to it were read by the Arrow fast path)."""
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        header_seen = False
        header_len = 0
        record = 0
        while True:
            start_line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise FileRejected(
                    "malformed_csv",
                    f"{path.name}: line {start_line}: {exc} (rule: CSV fields must be properly quoted; "
                    f"{record} records were read before it)",
                ) from exc
            if not "".join(cells).strip():
                continue  # blank line (only whitespace in every cell): not a record
            if not header_seen:
                header_seen, header_len = True, len(cells)
                continue
            record += 1
            if record <= after:
                continue
            raw_line = delimiter.join(cells)
            if _SURROGATE.search(raw_line):
                yield (
                    record,
                    None,
                    BadRow(
                        record,
                        "undecodable_bytes",
                        f"bytes that are not valid {encoding} "
                        f"(line {start_line}; mixed encodings in one file?)",
                        {"raw_line": _escaped(raw_line, encoding)},
                    ),
                )
                continue
            if len(cells) != header_len:
                yield (
                    record,
                    None,
                    BadRow(
                        record,
                        "wrong_column_count",
                        f"expected {header_len} fields, found {len(cells)} (line {start_line})",
                        {"raw_line": raw_line},
                    ),
                )
                continue
            yield record, cells, None


def _csv_chunks(path: Path, source: str, fmt: TextFormat, header_map: HeaderMap, chunk_rows: int):
    """Chunks from Arrow's parser while the file is clean, then from Python's ``csv`` module."""
    done = 0
    try:
        for frame in arrow_csv.frames(
            path,
            encoding=fmt.encoding,
            delimiter=fmt.delimiter,
            header=fmt.header,
            positions=header_map.positions,
            chunk_rows=chunk_rows,
            max_field_chars=MAX_FIELD_CHARS,
        ):
            yield Chunk(frame)
            done += len(frame)
    except arrow_csv.ExactReaderNeeded as exc:
        log.info("%s: Python's csv module reads it from record %d (%s)", path.name, done + 1, exc)
    else:
        if done:
            return
    records = _csv_records(path, source, fmt.encoding, fmt.delimiter, header_map, after=done)
    yield from _split_cells(records, chunk_rows, header_map.positions, continued=done > 0)


def open_csv(path: Path, source: str, chunk_rows: int) -> OpenedFile:
    fmt = detect_text_format(path, source)
    header_map = check_header_map(source, map_headers(source, fmt.header), path.name)
    chunks = _csv_chunks(path, source, fmt, header_map, chunk_rows)
    return OpenedFile(path, source, "csv", fmt.encoding, header_map, chunks)


# --- XLSX --------------------------------------------------------------------------------------


def _cell(value: object) -> object:
    """openpyxl values -> what a CSV export would have said (keep dates as dates)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers and ids typed as numbers lose nothing
    if isinstance(value, dt.datetime | dt.date):
        return value
    return value


#: Exports often put a (merged) title row or two above the header: it is searched for this far down.
XLSX_HEADER_SEARCH_ROWS = 10


def _xlsx_header(sheet, source: str) -> tuple[int, HeaderMap]:
    """The row (1-based) among the first non-blank ones whose cells map to the most canonical columns."""
    best: tuple[int, HeaderMap] = (0, map_headers(source, []))
    candidates = 0
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        if not any(v is not None and str(v).strip() for v in values):
            continue
        header_map = map_headers(source, list(values))
        if header_map.matched > best[1].matched or candidates == 0:
            best = (number, header_map)
        candidates += 1
        if candidates >= XLSX_HEADER_SEARCH_ROWS:
            break
    return best


def open_xlsx(path: Path, source: str, chunk_rows: int) -> OpenedFile:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise FileRejected("invalid_xlsx", f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    # Exports sometimes carry a cover sheet or pivot: use the first sheet whose header fits the source.
    chosen = None
    best_matched = 0
    problems: list[str] = []
    for sheet in workbook.worksheets:
        header_row, header_map = _xlsx_header(sheet, source)
        try:
            check_header_map(source, header_map, f"{path.name} [{sheet.title}]")
        except FileRejected as exc:
            problems.append(exc.message)
            continue
        if header_map.matched > best_matched:
            chosen, best_matched = (sheet, header_row, header_map), header_map.matched
    if chosen is None:
        workbook.close()
        raise FileRejected(
            "missing_required_columns",
            f"{path.name}: no sheet has the required columns: "
            + " | ".join(problems or ["workbook has no sheets"]),
        )
    sheet, header_row, header_map = chosen

    def records():
        try:
            for number, values in enumerate(
                sheet.iter_rows(min_row=header_row + 1, values_only=True), start=1
            ):
                if not any(v is not None and str(v).strip() for v in values):
                    continue
                cells = [_cell(v) for v in values]
                yield (
                    number,
                    {c: (cells[p] if p < len(cells) else None) for c, p in header_map.positions.items()},
                    None,
                )
        except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
            raise FileRejected(
                "invalid_xlsx", f"{path.name}: the workbook is truncated or corrupt ({exc})"
            ) from exc
        finally:
            workbook.close()

    return OpenedFile(path, source, "xlsx", None, header_map, _split_records(records(), chunk_rows))


# --- JSON Lines --------------------------------------------------------------------------------


def open_jsonl(path: Path, source: str, chunk_rows: int) -> OpenedFile:
    lookup = header_lookup(source)
    with path.open("rb") as fh:
        head = fh.read(4)
    if not head:
        raise FileRejected("empty_file", f"{path.name}: the file is empty")

    def records():
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline=None) as fh:
            for number, line in enumerate(fh, start=1):
                text = line.strip()
                if not text:
                    continue
                if _SURROGATE.search(text):  # not UTF-8: never let undecodable bytes reach a value
                    yield (
                        number,
                        None,
                        BadRow(
                            number,
                            "undecodable_bytes",
                            f"line {number}: bytes that are not valid UTF-8 (JSON Lines must be UTF-8)",
                            {"raw_line": _escaped(text)[:2000]},
                        ),
                    )
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield (
                        number,
                        None,
                        BadRow(
                            number, "invalid_json", f"line {number}: {exc.msg}", {"raw_line": text[:2000]}
                        ),
                    )
                    continue
                if not isinstance(obj, dict):
                    yield (
                        number,
                        None,
                        BadRow(
                            number,
                            "invalid_json",
                            f"line {number}: not a JSON object",
                            {"raw_line": text[:2000]},
                        ),
                    )
                    continue
                values: dict[str, object] = {}
                for key, value in obj.items():
                    column = lookup.get(fold_header(str(key)))
                    if column is not None and column not in values:
                        values[column] = (
                            value
                            if not isinstance(value, list | dict)
                            else json.dumps(value, ensure_ascii=False)
                        )
                if any(isinstance(v, str) and _ANY_SURROGATE.search(v) for v in values.values()):
                    yield (
                        number,
                        None,
                        BadRow(
                            number,
                            "invalid_json",
                            f"line {number}: a string escapes a lone surrogate (\\ud800-\\udfff), "
                            "which is not valid Unicode",
                            {"raw_line": text[:2000]},
                        ),
                    )
                    continue
                yield number, values, None

    return OpenedFile(path, source, "jsonl", "utf-8", None, _split_records(records(), chunk_rows))


OPENERS = {
    "csv": open_csv,
    "txt": open_csv,
    "tsv": open_csv,
    "xlsx": open_xlsx,
    "jsonl": open_jsonl,
    "ndjson": open_jsonl,
}


def open_file(path: Path, source: str, chunk_rows: int = 100_000) -> OpenedFile:
    """Open a landing file by its extension; raise FileRejected when it is not what it claims."""
    extension = path.suffix.lower().lstrip(".")
    opener = OPENERS.get(extension)
    if opener is None:
        raise FileRejected(
            "unsupported_file_type",
            f"{path.name}: .{extension} files are not accepted (accepted: csv, tsv, txt, xlsx, jsonl)",
        )
    if path.stat().st_size == 0:
        raise FileRejected("empty_file", f"{path.name}: the file is empty (0 bytes)")
    if extension == "xlsx" and not zipfile.is_zipfile(path):
        raise FileRejected(
            "invalid_xlsx", f"{path.name}: has the .xlsx extension but is not an XLSX (zip) file"
        )
    return opener(path, source, chunk_rows)
