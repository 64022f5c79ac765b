"""The audit manifest: one row per landing file seen, with its hash, outcome and row counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class ManifestEntry:
    batch_id: str
    status: str
    file_name: str
    landing_path: str
    stored_path: str | None


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def find_by_sha(con: duckdb.DuckDBPyConnection, source: str, sha256: str) -> list[ManifestEntry]:
    rows = con.execute(
        """
        select batch_id, status, file_name, landing_path, stored_path
        from audit.file_manifest
        where source = ? and file_sha256 = ?
        order by started_at
        """,
        [source, sha256],
    ).fetchall()
    return [ManifestEntry(*row) for row in rows]


def previous_versions(con: duckdb.DuckDBPyConnection, source: str, file_name: str, sha256: str) -> list[str]:
    """Batches that loaded a different content under the same file name (a modified re-delivery)."""
    rows = con.execute(
        """
        select batch_id from audit.file_manifest
        where source = ? and file_name = ? and file_sha256 <> ? and status = 'loaded'
        order by started_at
        """,
        [source, file_name, sha256],
    ).fetchall()
    return [r[0] for r in rows]


def start(
    con: duckdb.DuckDBPyConnection,
    *,
    batch_id: str,
    source: str,
    file_name: str,
    landing_path: str,
    sha256: str,
    size: int,
    arrived_at: dt.datetime,
) -> None:
    """Record that loading began (committed on its own, so a killed load stays visible as 'loading')."""
    con.execute(
        """
        insert into audit.file_manifest
            (batch_id, source, file_name, landing_path, file_sha256, size_bytes, arrived_at,
             started_at, status)
        values (?, ?, ?, ?, ?, ?, ?, ?, 'loading')
        on conflict (batch_id) do update set started_at = excluded.started_at, status = 'loading',
            finished_at = null, reason = null
        """,
        [batch_id, source, file_name, landing_path, sha256, size, arrived_at, now()],
    )


def finish(
    con: duckdb.DuckDBPyConnection,
    batch_id: str,
    *,
    status: str,
    rows_read: int | None = None,
    rows_loaded: int | None = None,
    rows_quarantined: int | None = None,
    file_type: str | None = None,
    encoding: str | None = None,
    reason: str | None = None,
    stored_path: str | None = None,
    duplicate_of: str | None = None,
) -> None:
    con.execute(
        """
        update audit.file_manifest set
            status = ?, finished_at = ?, rows_read = ?, rows_loaded = ?, rows_quarantined = ?,
            file_type = coalesce(?, file_type), encoding = coalesce(?, encoding), reason = ?,
            stored_path = coalesce(?, stored_path), duplicate_of = coalesce(?, duplicate_of)
        where batch_id = ?
        """,
        [
            status,
            now(),
            rows_read,
            rows_loaded,
            rows_quarantined,
            file_type,
            encoding,
            reason,
            stored_path,
            duplicate_of,
            batch_id,
        ],
    )


def set_stored_path(con: duckdb.DuckDBPyConnection, batch_id: str, stored_path: str) -> None:
    con.execute("update audit.file_manifest set stored_path = ? where batch_id = ?", [stored_path, batch_id])
