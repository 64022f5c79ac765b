"""Errors and per-row problems raised while reading landing files."""

from __future__ import annotations

from dataclasses import dataclass


class FileRejected(Exception):
    """The file cannot be read at all; it is moved to rejected/ with this reason."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True)
class BadRow:
    """A record that could not even be turned into columns (it goes straight to quarantine)."""

    source_row: int
    reason_code: str
    message: str
    raw_record: dict[str, object]
