"""Arrow's multi-threaded CSV parser as a fast path for clean CSV exports.

Python's ``csv`` module, one record at a time, plus building object columns from the cells was a
fifth of ingestion's CPU (py-spy, 1M sales lines). For a clean file Arrow parses the same records
in C++ on every core and hands pandas string columns without a Python object per cell; the
normalisers then see only each column's distinct values.

The fast path must give exactly what the exact reader (``readers._csv_records``) gives: the same
records, numbers, values and chunk boundaries. Where Arrow and Python's ``csv`` could differ, it
does not guess; it raises ``ExactReaderNeeded`` *before* yielding anything it cannot vouch for, and
the caller reads the rest of the file with the exact reader from the first record not yet yielded.
Because the fast path yields only whole chunks of ``chunk_rows`` records (the last may be shorter),
the chunk boundaries stay those of the exact reader either way. Cases left to the exact reader:

- any double quote in the file: Python's strict mode rejects ``"abc"def``, Arrow accepts it as
  ``abcdef``; clean exports are unquoted, and the quoted ones are small (questionnaires);
- any NUL byte (Python's ``csv`` rejects the line, Arrow would keep it);
- a first record that is not the detected header (blank-looking lines before it);
- a record of whitespace only (the exact reader skips it without counting it);
- a cell longer than ``max_field_chars`` bytes (quarantined as ``field_too_long`` by the exact
  reader, or the file rejected when it passes ``csv``'s own limit);
- anything Arrow itself refuses: a record with another number of fields than the header (quarantined
  as ``wrong_column_count``), bytes that do not decode (``undecodable_bytes``), a record longer than
  Arrow's block.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

#: Bytes read per scan for quotes and NUL bytes, and Arrow's parse block (a record must fit in one).
BLOCK_BYTES = 8 * 1024 * 1024

#: Every character ``str.strip()`` removes, as an RE2 class: a record whose cells hold only these is
#: blank to the exact reader.
_WHITESPACE = "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
_BLANK_CELL = f"^[{_WHITESPACE}]*$"


class ExactReaderNeeded(Exception):
    """The file (from the first record not yet yielded) must be read by Python's ``csv`` module."""


def _scan(path: Path) -> str | None:
    """Why the fast path cannot read this file at all, judged from its bytes (None: it can try)."""
    with path.open("rb") as fh:
        while block := fh.read(BLOCK_BYTES):
            if b'"' in block:
                return "the file quotes fields"
            if b"\x00" in block:
                return "the file contains NUL bytes"
    return None


def _check(batch: pa.RecordBatch, max_field_chars: int) -> str | None:
    """Why the exact reader must read this batch's records (None: Arrow's records are the same)."""
    import pyarrow.compute as pc

    if batch.num_rows == 0:
        return None
    for column in batch.columns:
        if (pc.max(pc.binary_length(column)).as_py() or 0) > max_field_chars:
            return f"a field is longer than {max_field_chars} bytes"
    blank = None
    for column in batch.columns:  # usually the first column already has no blank cell
        cell_blank = pc.match_substring_regex(column, _BLANK_CELL)
        blank = cell_blank if blank is None else pc.and_(blank, cell_blank)
        if not pc.any(blank).as_py():
            return None
    return "a record holds only whitespace"


def frames(
    path: Path,
    *,
    encoding: str,
    delimiter: str,
    header: list[str],
    positions: dict[str, int],
    chunk_rows: int,
    max_field_chars: int,
) -> Iterator[pd.DataFrame]:
    """Frames of ``chunk_rows`` records (the last may be shorter; none for a header-only file) as the
    exact reader builds them: canonical columns of text, index ``_source_row`` = record number.

    Raises ``ExactReaderNeeded`` when the records after those already yielded must be read exactly.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if (reason := _scan(path)) is not None:
        raise ExactReaderNeeded(reason)
    read_options = pacsv.ReadOptions(
        # Arrow decodes UTF-8 itself and any other encoding through Python's codec (strict).
        encoding="utf8" if encoding.replace("-", "").lower() == "utf8" else encoding,
        block_size=BLOCK_BYTES,
        autogenerate_column_names=True,
        use_threads=True,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=delimiter, quote_char=False, escape_char=False, ignore_empty_lines=True
    )
    convert_options = pacsv.ConvertOptions(
        column_types={f"f{i}": pa.string() for i in range(len(header))},
        strings_can_be_null=False,
        check_utf8=True,
    )
    try:
        reader = pacsv.open_csv(
            path, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
    except (pa.ArrowException, UnicodeError, LookupError) as exc:
        raise ExactReaderNeeded(f"Arrow cannot open the file: {exc}") from exc
    if reader.schema.names != [f"f{i}" for i in range(len(header))]:
        raise ExactReaderNeeded("the first record does not have the header's number of fields")
    names = list(positions)
    selected = [f"f{positions[name]}" for name in names]
    buffered: list = []  # record batches parsed and checked, not yet yielded
    buffered_rows = 0
    yielded = 0
    header_seen = False

    def frame_of(rows: int) -> pd.DataFrame:
        nonlocal buffered, buffered_rows, yielded
        table = pa.Table.from_batches(buffered, schema=reader.schema)
        head, rest = table.slice(0, rows), table.slice(rows)
        buffered, buffered_rows = rest.to_batches(), rest.num_rows
        frame = head.select(selected).rename_columns(names).to_pandas()
        frame.index = pd.Index(np.arange(yielded + 1, yielded + rows + 1, dtype="int64"), name="_source_row")
        yielded += rows
        return frame

    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except (pa.ArrowException, UnicodeError) as exc:
            raise ExactReaderNeeded(f"Arrow stopped after record {yielded + buffered_rows}: {exc}") from exc
        if not header_seen:
            header_seen = True
            if batch.num_rows == 0 or [c[0].as_py() for c in batch.columns] != header:
                raise ExactReaderNeeded("the first record Arrow reads is not the detected header")
            batch = batch.slice(1)
        if (reason := _check(batch, max_field_chars)) is not None:
            raise ExactReaderNeeded(reason)
        buffered.append(batch)
        buffered_rows += batch.num_rows
        while buffered_rows >= chunk_rows:
            yield frame_of(chunk_rows)
    if buffered_rows:
        yield frame_of(buffered_rows)
