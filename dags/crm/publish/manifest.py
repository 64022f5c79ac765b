"""``published/manifest.json``: what BI users get — each mart's rows, columns, types, build time and
meaning (the dbt model's description) — computed from the published Parquet files themselves."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import duckdb

from crm.publish.atomic import write_text_atomic
from crm.publish.dbt_artifacts import DbtArtifacts
from crm.publish.layout import MANIFEST, SERVING_DATABASE, published_marts

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1


def describe_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, list[tuple[str, str]]]:
    """Row count (from the Parquet footer) and (column, DuckDB type) pairs of one Parquet file."""
    rows = con.execute("select sum(num_rows) from parquet_file_metadata(?)", [str(path)]).fetchone()[0]
    columns = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
    return int(rows or 0), [(name, type_) for name, type_, *_ in columns]


def build_manifest(
    published_dir: Path, dbt: DbtArtifacts, *, generated_at: dt.datetime | None = None
) -> dict[str, Any]:
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    marts = []
    con = duckdb.connect()
    try:
        for name, link in published_marts(published_dir).items():
            path = link.resolve()  # the immutable version the stable name points to
            rows, columns = describe_parquet(con, path)
            doc = dbt.model(name)
            column_docs = doc.columns if doc else {}
            exported_at = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            marts.append(
                {
                    "name": name,
                    "description": doc.description if doc else None,
                    "dbt_unique_id": doc.unique_id if doc else None,
                    "row_count": rows,
                    "built_at": dbt.built_at(name),
                    "exported_at": exported_at.isoformat(timespec="seconds"),
                    "parquet": link.relative_to(published_dir).as_posix(),
                    "parquet_version": path.relative_to(published_dir.resolve()).as_posix(),
                    "size_bytes": path.stat().st_size,
                    "duckdb_view": f"marts.{name}",
                    "columns": [
                        {"name": col, "type": type_, "description": column_docs.get(col) or None}
                        for col, type_ in columns
                    ],
                }
            )
    finally:
        con.close()
    return {
        "manifest_version": MANIFEST_VERSION,
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "serving_database": SERVING_DATABASE,
        "dbt_invocation": {"command": dbt.invocation, "generated_at": dbt.generated_at},
        "marts": marts,
    }


def write_manifest(published_dir: Path, dbt_target_dir: Path) -> Path:
    """Write ``published/manifest.json`` atomically; returns its path."""
    manifest = build_manifest(published_dir, DbtArtifacts.load(dbt_target_dir))
    undocumented = [m["name"] for m in manifest["marts"] if not m["description"]]
    if undocumented:
        log.warning("marts without a dbt description: %s", ", ".join(undocumented))
    target = published_dir / MANIFEST
    write_text_atomic(target, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    log.info("manifest %s: %d marts", target, len(manifest["marts"]))
    return target
