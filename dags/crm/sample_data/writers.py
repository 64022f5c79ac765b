"""Writing landing files (CSV, JSON Lines, XLSX) byte-for-byte reproducibly, and the answer key."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

import numpy as np
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

#: Fixed timestamp for XLSX metadata and zip entries (reproducible bytes).
XLSX_TIMESTAMP = dt.datetime(2024, 1, 1, 0, 0, 0)


def check_encodable(path: Path, encoding: str, rows: Iterable[Sequence[object]], first_row: int = 1) -> None:
    """Raise a clear error naming file, row and column when a value does not fit the encoding."""
    if encoding.startswith("utf"):
        return
    for offset, row in enumerate(rows):
        for col, value in enumerate(row):
            if isinstance(value, str):
                try:
                    value.encode(encoding)
                except UnicodeEncodeError as exc:
                    raise ValueError(
                        f"{path.name}: data row {first_row + offset}, column {col + 1}: {value!r} "
                        f"cannot be encoded as {encoding} ({exc.reason})"
                    ) from exc


_NEEDS_QUOTES = frozenset(',"\r\n')


def csv_field(text: str) -> str:
    """One field as ``csv.writer`` (QUOTE_MINIMAL) writes it."""
    if _NEEDS_QUOTES.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


csv_fields = np.frompyfunc(csv_field, 1, 1)


def join_fields(columns: Sequence[np.ndarray]) -> list[str]:
    """CSV rows (without line terminator) from columns of already-quoted fields (object arrays of str)."""
    return list(map(",".join, zip(*(c.tolist() for c in columns), strict=True)))


class CsvFile:
    """A CSV landing file written in chunks; the BOM (utf-8-sig) is written once at the start."""

    def __init__(self, path: Path, encoding: str, header: Sequence[str]) -> None:
        self.path = path
        self.encoding = encoding
        self._handle: IO[bytes] = path.open("wb")
        self.rows_written = 0
        self._write([header], header_row=True)

    def write_rows(self, rows: Sequence[Sequence[object]]) -> None:
        self._write(rows)
        self.rows_written += len(rows)

    def write_lines(self, lines: Sequence[str]) -> None:
        """Rows already rendered as CSV text without line terminators (see ``join_fields``)."""
        if not lines:
            return
        text = "\r\n".join(lines) + "\r\n"
        codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        try:
            data = text.encode(codec)
        except UnicodeEncodeError as exc:
            row = self.rows_written + text.count("\n", 0, exc.start) + 1
            bad = text[exc.start : exc.end]
            raise ValueError(
                f"{self.path.name}: data row {row}: {bad!r} cannot be encoded as {codec}"
            ) from exc
        self._handle.write(data)
        self.rows_written += len(lines)

    def _write(self, rows: Sequence[Sequence[object]], *, header_row: bool = False) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        text = buffer.getvalue()
        codec = "utf-8" if self.encoding == "utf-8-sig" and not header_row else self.encoding
        try:
            data = text.encode(codec)
        except UnicodeEncodeError:
            check_encodable(self.path, codec, rows, self.rows_written + 1)
            raise
        self._handle.write(data)

    def close(self) -> None:
        self._handle.close()


def write_csv(path: Path, encoding: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    out = CsvFile(path, encoding, header)
    try:
        out.write_rows(rows)
    finally:
        out.close()


def write_jsonl(path: Path, lines: Sequence[str]) -> None:
    """JSON Lines are UTF-8 without BOM, one record per line."""
    path.write_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))


def json_line(record: dict[str, object], *, ascii_only: bool) -> str:
    return json.dumps(record, ensure_ascii=ascii_only, separators=(",", ":") if ascii_only else (", ", ": "))


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]], sheet_title: str) -> None:
    """One sheet, header in row 1; date values become real date cells."""
    workbook = Workbook(write_only=True)
    workbook.properties.created = XLSX_TIMESTAMP
    workbook.properties.modified = XLSX_TIMESTAMP
    workbook.properties.creator = "crm sample data"
    sheet = workbook.create_sheet(title=sheet_title)
    sheet.append(list(header))
    for row in rows:
        cells: list[object] = []
        for value in row:
            if isinstance(value, dt.date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(_reproducible_zip(buffer.getvalue()))


_MODIFIED = re.compile(rb"(?<=<dcterms:modified xsi:type=\"dcterms:W3CDTF\")>[^<]*<")


def _reproducible_zip(data: bytes) -> bytes:
    """Re-pack a zip with fixed timestamps (entries and document metadata): equal content, equal bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=XLSX_TIMESTAMP.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time as "modified"
                content = _MODIFIED.sub(f">{XLSX_TIMESTAMP:%Y-%m-%dT%H:%M:%S}Z<".encode(), content)
            target.writestr(entry, content)
    return out.getvalue()


FILE_COLUMNS = (
    "source",
    "file_name",
    "file_format",
    "encoding",
    "script",
    "date_style",
    "rows",
    "file_defect",
)
PERSON_ID_COLUMNS = ("source", "file_name", "source_row", "record_key", "person_id", "customer_ref")
DEFECT_COLUMNS = ("source", "file_name", "source_row", "defect_type", "record_key", "column", "detail")


class AnswerKey:
    """Ground truth written next to (never inside) the landing folder."""

    def __init__(self, folder: Path, *, append: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        mode = "a" if append else "w"
        self._ids = (folder / "person_ids.csv").open(mode, encoding="utf-8", newline="")
        self._defects = (folder / "defects.csv").open(mode, encoding="utf-8", newline="")
        self.ids = csv.writer(self._ids, lineterminator="\n")
        self.defects = csv.writer(self._defects, lineterminator="\n")
        if not append:
            self.ids.writerow(PERSON_ID_COLUMNS)
            self.defects.writerow(DEFECT_COLUMNS)
        self.defect_counts: dict[str, int] = {}

    def record(self, source: str, file_name: str, row: int, key: str, person_id: str, ref: str = "") -> None:
        self.ids.writerow((source, file_name, row, key, person_id, ref))

    def records(self, rows: Iterable[Sequence[object]]) -> None:
        self.ids.writerows(rows)

    def record_lines(self, lines: Sequence[str]) -> None:
        """person_ids rows already rendered as CSV text without line terminators."""
        if lines:
            self._ids.write("\n".join(lines) + "\n")

    def defect(
        self,
        source: str,
        file_name: str,
        row: int | str,
        defect: str,
        key: str = "",
        column: str = "",
        detail: str = "",
    ) -> None:
        self.defects.writerow((source, file_name, row, defect, key, column, detail))
        self.defect_counts[defect] = self.defect_counts.get(defect, 0) + 1

    def close(self) -> None:
        self._ids.close()
        self._defects.close()
