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

- quoting that is not plain: Python's strict mode rejects ``"abc"def``, Arrow accepts it as
  ``abcdef``. A file with quotes takes the fast path only when every line is one whole record whose
  fields are either unquoted without any quote or quoted strictly (``"7,190.00"``, ``"a ""b"" c"``),
  which both parsers read alike; a line break inside a quoted value, or a quote anywhere else, is
  left to the exact reader. The check is one RE2 match per line (``quotes_are_plain``);
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
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

#: Bytes read per scan for quotes and NUL bytes, and Arrow's parse block (a record must fit in one).
BLOCK_BYTES = 8 * 1024 * 1024


@cache
def _blank_cell() -> str:
    """RE2 for a cell of only characters ``str.strip()`` removes (a record of such cells is blank to
    the exact reader); built on first use, not at import (it walks every code point)."""
    whitespace = "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    return f"^[{whitespace}]*$"


class ExactReaderNeeded(Exception):
    """The file (from the first record not yet yielded) must be read by Python's ``csv`` module."""


def _scan(path: Path) -> tuple[str | None, bool]:
    """Why the fast path cannot read this file at all (None: it can try), and whether it has quotes."""
    quoted = False
    with path.open("rb") as fh:
        while block := fh.read(BLOCK_BYTES):
            if b"\x00" in block:
                return "the file contains NUL bytes", quoted
            quoted = quoted or b'"' in block
    return None, quoted


def _plain_record(delimiter: str) -> str:
    """RE2 for one line that is one whole record: unquoted fields hold no quote, quoted fields are
    strict (doubled inner quotes, the closing quote followed by the delimiter or the line's end) and
    hold no CR (Python's ``csv`` keeps it in the value, Arrow would end the record there)."""
    other = f"\\x{{{ord(delimiter):x}}}"
    field = f'(?:"(?:[^"\\r]|"")*"|[^"\\r\\n{other}]*)'
    return f"^{field}(?:{other}{field})*\\r?$"


def quotes_are_plain(path: Path, encoding: str, delimiter: str) -> bool:
    """Whether every line of the file matches ``_plain_record`` (decoded strictly with ``encoding``).

    Lines are cut at LF bytes, which no supported encoding uses inside a character.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    pattern = _plain_record(delimiter)
    rest = b""
    with path.open("rb") as fh:
        while True:
            block = fh.read(BLOCK_BYTES)
            data = rest + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            data, rest = data[:cut], data[cut:]
            if data:
                try:
                    lines = data.decode(encoding).split("\n")
                except UnicodeDecodeError:
                    return False
                if not pc.all(pc.match_substring_regex(pa.array(lines, pa.string()), pattern)).as_py():
                    return False
            if not block:
                return True


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
        cell_blank = pc.match_substring_regex(column, _blank_cell())
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

    reason, quoted = _scan(path)
    if reason is not None:
        raise ExactReaderNeeded(reason)
    if quoted and not quotes_are_plain(path, encoding, delimiter):
        raise ExactReaderNeeded("a field is quoted in a way Arrow and Python's csv module may read apart")
    read_options = pacsv.ReadOptions(
        # Arrow decodes UTF-8 itself and any other encoding through Python's codec (strict).
        encoding="utf8" if encoding.replace("-", "").lower() == "utf8" else encoding,
        block_size=BLOCK_BYTES,
        autogenerate_column_names=True,
        use_threads=True,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char='"' if quoted else False,
        double_quote=True,
        escape_char=False,
        newlines_in_values=False,  # quotes_are_plain: no quoted value spans lines
        ignore_empty_lines=True,
    )
    convert_options = pacsv.ConvertOptions(
        column_types={f"f{i}": pa.string() for i in range(len(header))},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
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
