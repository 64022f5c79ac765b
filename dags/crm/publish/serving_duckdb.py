"""The serving DuckDB database: views over the published Parquet files, for BI tools to open read-only.

The database holds no data, only one view per mart reading ``<mart>/<mart>.parquet`` by absolute
path, so a republish of the Parquet files is visible at once without touching it. It is rebuilt as a
new file and swapped in whenever the set of marts or their columns may have changed.

The views live in the default schema ``main``: the file is named ``marts.duckdb``, so its catalog
is ``marts`` and both ``select * from dim_customers`` and ``select * from marts.dim_customers``
work (a schema also named ``marts`` would make the latter ambiguous).
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import duckdb

from crm.publish.atomic import replace_file, temporary_sibling
from crm.publish.layout import SERVING_DATABASE, published_marts

log = logging.getLogger(__name__)

READ_ONLY_MODE = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def build_serving_database(published_dir: Path) -> Path:
    """(Re)build ``published/marts.duckdb`` with one view per published mart; returns its path."""
    marts = published_marts(published_dir)
    if not marts:
        raise RuntimeError(f"no published marts under {published_dir}: run the Parquet export first")
    target = published_dir / SERVING_DATABASE
    staged = temporary_sibling(target)
    try:
        con = duckdb.connect(str(staged))
        try:
            for mart, path in marts.items():
                con.execute(
                    f'create view main."{mart}" as '
                    f"select * from read_parquet({_sql_string(str(path.resolve()))})"
                )
            con.execute("checkpoint")
        finally:
            con.close()
        # Read-only on disk too: BI users open it with read_only=True; the publisher replaces it.
        staged.chmod(READ_ONLY_MODE)
        replace_file(staged, target)
    finally:
        staged.unlink(missing_ok=True)
        Path(f"{staged}.wal").unlink(missing_ok=True)
    log.info("serving database %s: %d views (%s)", target, len(marts), ", ".join(marts))
    return target
