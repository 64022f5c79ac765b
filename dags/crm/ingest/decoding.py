"""Find the text encoding and CSV dialect of an export.

Exports from Taiwanese and mainland systems arrive in UTF-8 (with or without BOM), Big5/CP950,
GB18030/GBK and, from Excel's "Unicode text", UTF-16. Statistical detection alone confuses Big5
and GB18030 on short samples, so the candidates charset-normalizer proposes are re-ranked by how
many header cells each decoding maps to canonical columns: the header is the one line we know.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from crm.ingest.errors import FileRejected
from crm.ingest.headers import map_headers

SAMPLE_BYTES = 256 * 1024
CANDIDATE_ENCODINGS: tuple[str, ...] = ("utf-8", "big5", "cp950", "gb18030")
DELIMITERS: tuple[str, ...] = (",", "\t", ";", "|")


@dataclass(frozen=True)
class TextFormat:
    encoding: str
    delimiter: str
    header: list[str]


def _sample(path: Path) -> bytes:
    with path.open("rb") as fh:
        data = fh.read(SAMPLE_BYTES)
    if len(data) == SAMPLE_BYTES:  # cut at the last line break so no character is split
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if cut > 0:
            data = data[: cut + 1]
    return data


def _bom_encoding(data: bytes) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _candidates(data: bytes) -> list[str]:
    if bom := _bom_encoding(data):
        return [bom]
    found: list[str] = []
    try:
        data.decode("utf-8")
        found.append("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data, cp_isolation=list(CANDIDATE_ENCODINGS)).best()
    if best is not None and best.encoding not in found:
        found.append(best.encoding)
    found.extend(e for e in CANDIDATE_ENCODINGS if e not in found)
    return found


def _first_record(text: str, delimiter: str) -> list[str]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for row in reader:
        if any(cell.strip() for cell in row):
            return row
    return []


def detect_text_format(path: Path, source: str) -> TextFormat:
    """Choose the encoding and delimiter under which the header maps best; reject undecodable files."""
    data = _sample(path)
    if not data.strip():
        raise FileRejected("empty_file", f"{path.name}: the file is empty (no header, no rows)")
    if b"\x00" in data and _bom_encoding(data) != "utf-16":
        raise FileRejected(
            "binary_content",
            f"{path.name}: contains NUL bytes; not a text export "
            "(is it a binary file, or UTF-16 without a byte-order mark?)",
        )
    best: tuple[tuple[int, int, int], TextFormat] | None = None
    for rank, encoding in enumerate(_candidates(data)):
        # Decode leniently: a file with a few lines in another encoding is still this encoding (those
        # rows are quarantined by the reader); the count of undecodable characters breaks ties.
        text = data.decode(encoding, errors="replace")
        errors = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
        for delimiter in DELIMITERS:
            header = _first_record(text, delimiter)
            matched = map_headers(source, header).matched
            # Most recognised headers wins, then fewest decoding errors, then the detector's order.
            score = (matched, -errors, -rank)
            if matched and (best is None or score > best[0]):
                best = (score, TextFormat(encoding, delimiter, header))
    if best is None:
        raise FileRejected(
            "undecodable_or_unrecognised_header",
            f"{path.name}: no encoding among {', '.join(CANDIDATE_ENCODINGS)} and no delimiter "
            f"among {DELIMITERS!r} yields a recognised header row",
        )
    return best[1]
