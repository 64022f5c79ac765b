"""Writing one survey or card file from records: defects, answer key, then the file itself."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crm.contract import BUSINESS_KEYS, FIELDS
from crm.sample_data.config import DefectRates
from crm.sample_data.defects import DefectContext, DefectPicker, Record
from crm.sample_data.people import PersonPool
from crm.sample_data.styles import FileStyle
from crm.sample_data.writers import AnswerKey, json_line, write_csv, write_jsonl, write_xlsx


@dataclass(frozen=True)
class FileResult:
    """One written landing file and how it was written (listed in ``answer_key/files.csv``)."""

    source: str
    file_name: str
    rows: int
    defects: int
    file_format: str
    encoding: str  # Python codec; "utf-8-sig" means UTF-8 with BOM; XLSX files have none
    script: str
    date_style: str


@dataclass(frozen=True)
class FileSpec:
    """Where and how to write one file."""

    source: str
    path: Path
    file_format: str  # csv / jsonl / xlsx
    style: FileStyle
    columns: tuple[str, ...]  # canonical columns, in file order
    date_column: str
    ascii_json: bool = False  # JSON Lines with \\u escapes
    omit_empty_json: bool = False  # JSON Lines leave out empty keys instead of writing ""


@dataclass(frozen=True)
class PlannedFile:
    """A file whose style is chosen and whose records are rendered only when it is written.

    Rendering lazily keeps one file's records in memory at a time, whatever the number of files.
    """

    spec: FileSpec
    n_records: int
    render: Callable[[], list[Record]]


def required_columns(source: str, columns: Sequence[str]) -> tuple[str, ...]:
    return tuple(f.name for f in FIELDS[source] if f.required and f.name in columns)


def emit_file(
    spec: FileSpec,
    records: Sequence[Record],
    pool: PersonPool,
    rates: DefectRates,
    rng: random.Random,
    key: AnswerKey,
) -> FileResult:
    ctx = DefectContext(
        source=spec.source,
        file_format=spec.file_format,
        style=spec.style,
        columns=spec.columns,
        key_column=BUSINESS_KEYS[spec.source][0],
        required=required_columns(spec.source, spec.columns),
        date_column=spec.date_column,
    )
    picker = DefectPicker(rates, ctx, rng)
    written: list[Record] = []
    for record in records:
        defect = picker.choose(record)
        written.extend(picker.apply(record, defect) if defect else [record])

    name = spec.path.name
    n_defects = 0
    for row, record in enumerate(written, start=1):
        key.record(spec.source, name, row, record.key, pool.person_id[record.person])
        if record.defect:
            n_defects += 1
            key.defect(spec.source, name, row, record.defect, record.key, record.notes.get("column", ""))

    header = [spec.style.headers[c] for c in spec.columns]
    if spec.file_format == "jsonl":
        write_jsonl(spec.path, [_json_line(r, spec, header) for r in written])
    else:
        rows = [_row(r, spec) for r in written]
        if spec.file_format == "xlsx":
            write_xlsx(spec.path, header, rows, sheet_title=spec.path.stem[:31])
        else:
            write_csv(spec.path, spec.style.encoding, header, rows)
    encoding = (
        "" if spec.file_format == "xlsx" else "utf-8" if spec.file_format == "jsonl" else spec.style.encoding
    )
    return FileResult(
        spec.source,
        name,
        len(written),
        n_defects,
        spec.file_format,
        encoding,
        spec.style.script.value,
        spec.style.date_style.value,
    )


def _cell(value: object, spec: FileSpec) -> object:
    if spec.file_format == "xlsx":
        return None if value == "" else value
    if isinstance(value, dt.date):
        raise TypeError(f"{spec.path.name}: date objects are only written to XLSX files")
    return "" if value is None else str(value)


def _row(record: Record, spec: FileSpec) -> list[object]:
    row = [_cell(record.values.get(c, ""), spec) for c in spec.columns]
    if record.drop_columns:
        row = row[: len(row) - record.drop_columns]
    if record.extra_value is not None:
        row.append(record.extra_value)
    return row


def _json_line(record: Record, spec: FileSpec, header: list[str]) -> str:
    obj: dict[str, object] = {}
    for column, head in zip(spec.columns, header, strict=True):
        value = record.values.get(column, "")
        if value == "" and spec.omit_empty_json:
            continue
        obj[head] = value if isinstance(value, int) else str(value)
    line = json_line(obj, ascii_only=spec.ascii_json)
    if record.drop_columns:  # the typist's tool crashed mid-record: the line is cut off
        line = line[: max(1, len(line) // 2)]
    return line
