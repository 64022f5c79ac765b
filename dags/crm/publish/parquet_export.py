"""Export every mart from the live warehouse to Parquet, atomically, reading the warehouse read-only."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from crm.publish.atomic import replace_file, temporary_sibling
from crm.publish.layout import MART_SCHEMA, check_mart_name, parquet_path, published_marts
from crm.warehouse import connect

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportedMart:
    name: str
    path: Path
    row_count: int
    size_bytes: int

    def as_dict(self) -> dict:
        return {"name": self.name, "path": str(self.path), "rows": self.row_count, "bytes": self.size_bytes}


def list_marts(con: duckdb.DuckDBPyConnection, schema: str = MART_SCHEMA) -> list[str]:
    """Tables and views of ``schema`` in the connected database, by name."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by table_name",
        [schema],
    ).fetchall()
    return [check_mart_name(name) for (name,) in rows]


def export_marts(
    warehouse_path: Path, published_dir: Path, *, schema: str = MART_SCHEMA
) -> list[ExportedMart]:
    """Write ``published/<mart>/<mart>.parquet`` for every mart in ``schema``.

    All marts are read in one read-only transaction (a consistent snapshot) into hidden temporary
    files; only when every export succeeded are they moved into place, one ``os.replace`` each. A
    failure leaves the previous publication untouched. Directories of marts that no longer exist in
    the warehouse are removed afterwards, so BI tools do not keep reading a dropped mart.
    """
    published_dir.mkdir(parents=True, exist_ok=True)
    staged: dict[str, tuple[Path, int]] = {}
    try:
        with connect(warehouse_path, read_only=True) as con:
            con.execute("begin transaction")
            marts = list_marts(con, schema)
            if not marts:
                raise RuntimeError(f"{warehouse_path} has no tables in schema {schema!r}: nothing to publish")
            for mart in marts:
                target = parquet_path(published_dir, mart)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = temporary_sibling(target)
                con.execute(
                    f'copy (select * from "{schema}"."{mart}") to \'{tmp}\' '
                    "(format parquet, compression zstd, row_group_size 122880)"
                )
                rows = con.execute(f'select count(*) from "{schema}"."{mart}"').fetchone()[0]
                staged[mart] = (tmp, int(rows))
            con.execute("commit")
        exported = []
        for mart, (tmp, rows) in staged.items():
            target = parquet_path(published_dir, mart)
            replace_file(tmp, target)
            exported.append(ExportedMart(mart, target, rows, target.stat().st_size))
            log.info("published %s: %s rows, %s bytes", target, f"{rows:,}", f"{target.stat().st_size:,}")
    finally:
        for tmp, _ in staged.values():
            tmp.unlink(missing_ok=True)
    for stale, path in published_marts(published_dir).items():
        if stale not in staged:
            log.warning("mart %s is no longer in the warehouse: removing %s", stale, path.parent)
            shutil.rmtree(path.parent)
    return exported
