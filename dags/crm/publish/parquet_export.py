"""Export every mart from the live warehouse to Parquet, atomically, reading the warehouse read-only.

Each publish writes a new, immutable file per mart, ``_versions/<mart>/<mart>-<version>.parquet``,
then atomically repoints the stable name ``<mart>/<mart>.parquet`` (a relative symbolic link) at it.
A file is never modified once visible, which matters because some readers open a path more than
once per query (DuckDB reads the footer when binding and the pages when executing): with a file
replaced in place they could combine the footer of one version with the pages of another. The
serving DuckDB points its views at the immutable versions, and the previous ``KEEP_VERSIONS - 1``
versions are kept so queries that started before a publish can finish.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from crm.publish.atomic import temporary_sibling
from crm.publish.layout import (
    MART_SCHEMA,
    check_mart_name,
    parquet_path,
    published_marts,
    version_path,
    versions_dir,
)
from crm.warehouse import connect

log = logging.getLogger(__name__)

#: Versions kept per mart: the current one and the ones in-flight queries may still read.
KEEP_VERSIONS = 3


@dataclass(frozen=True)
class ExportedMart:
    name: str
    path: Path
    version_path: Path
    row_count: int
    size_bytes: int

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path),
            "version": self.version_path.name,
            "rows": self.row_count,
            "bytes": self.size_bytes,
        }


def new_version() -> str:
    """Sortable and unique: UTC time to the microsecond, then a random suffix."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"


def list_marts(con: duckdb.DuckDBPyConnection, schema: str = MART_SCHEMA) -> list[str]:
    """Tables and views of ``schema`` in the connected database, by name."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by table_name",
        [schema],
    ).fetchall()
    return [check_mart_name(name) for (name,) in rows]


def point_link(link: Path, target: Path) -> None:
    """Make ``link`` a relative symbolic link to ``target``, replacing it atomically."""
    link.parent.mkdir(parents=True, exist_ok=True)
    staged = temporary_sibling(link)
    staged.symlink_to(os.path.relpath(target, link.parent))
    staged.replace(link)


def prune_versions(published_dir: Path, mart: str, keep: int = KEEP_VERSIONS) -> list[Path]:
    """Delete all but the ``keep`` newest versions of ``mart`` (never the one the link points to)."""
    current = parquet_path(published_dir, mart).resolve()
    versions = sorted(versions_dir(published_dir, mart).glob(f"{mart}-*.parquet"), key=lambda p: p.name)
    removed = [p for p in versions[:-keep] if p.resolve() != current]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def export_marts(
    warehouse_path: Path, published_dir: Path, *, schema: str = MART_SCHEMA
) -> list[ExportedMart]:
    """Publish every mart of ``schema`` as a new Parquet version and repoint its stable name.

    All marts are read in one read-only transaction (a consistent snapshot) into hidden temporary
    files; only when every export succeeded are they renamed into versions and the links switched,
    so a failure leaves the previous publication untouched. Marts no longer in the warehouse are
    unpublished (their link and versions removed) so BI tools do not keep reading a dropped mart.
    """
    published_dir.mkdir(parents=True, exist_ok=True)
    version = new_version()
    staged: dict[str, tuple[Path, int]] = {}
    temporaries: list[Path] = []
    try:
        with connect(warehouse_path, read_only=True) as con:
            con.execute("begin transaction")
            marts = list_marts(con, schema)
            if not marts:
                raise RuntimeError(f"{warehouse_path} has no tables in schema {schema!r}: nothing to publish")
            for mart in marts:
                final = version_path(published_dir, mart, version)
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = temporary_sibling(final)
                temporaries.append(tmp)
                con.execute(
                    f'copy (select * from "{schema}"."{mart}") to \'{tmp}\' '
                    "(format parquet, compression zstd, row_group_size 122880)"
                )
                rows = con.execute(f'select count(*) from "{schema}"."{mart}"').fetchone()[0]
                staged[mart] = (tmp, int(rows))
            con.execute("commit")
        exported = []
        for mart, (tmp, rows) in staged.items():
            final = version_path(published_dir, mart, version)
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            tmp.rename(final)
            final.chmod(0o444)  # immutable from now on
            point_link(parquet_path(published_dir, mart), final)
            prune_versions(published_dir, mart)
            exported.append(
                ExportedMart(mart, parquet_path(published_dir, mart), final, rows, final.stat().st_size)
            )
            log.info(
                "published %s -> %s: %s rows", parquet_path(published_dir, mart), final.name, f"{rows:,}"
            )
    finally:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
            if tmp.parent.is_dir() and not any(tmp.parent.iterdir()):  # a new mart that failed
                tmp.parent.rmdir()
    for stale in set(published_marts(published_dir)) - set(staged):
        log.warning("mart %s is no longer in the warehouse: unpublishing it", stale)
        shutil.rmtree(parquet_path(published_dir, stale).parent)
        shutil.rmtree(versions_dir(published_dir, stale), ignore_errors=True)
    return exported
