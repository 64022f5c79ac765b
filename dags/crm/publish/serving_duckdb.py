"""The serving DuckDB database: views over the published Parquet files, for BI tools to open read-only.

The database holds no data, only one view per mart reading the mart's current immutable Parquet
version by absolute path (not the stable ``<mart>/<mart>.parquet`` link: DuckDB opens a file more
than once per query, and a link switched in between would mix two versions). It is therefore
rebuilt after every export, as a new file swapped in atomically; connections opened before keep
the previous file and versions, which the export keeps for a while.

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
                    f"select * from read_parquet({_sql_string(str(path.resolve(strict=True)))})"
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
