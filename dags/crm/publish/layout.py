"""Where published artefacts live under ``$CRM_DATA_DIR/published`` (one place for every path)."""

from __future__ import annotations

import re
from pathlib import Path

MART_SCHEMA = "marts"
SERVING_DATABASE = "marts.duckdb"
MANIFEST = "manifest.json"
REPORT = "report.html"
DOCS_DIR = "docs"
DBT_DOCS_DIR = "dbt"
GX_DOCS_DIR = "gx"
#: Immutable Parquet versions: ``_versions/<mart>/<mart>-<version>.parquet``.
VERSIONS_DIR = "_versions"

_MART_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_mart_name(name: str) -> str:
    """Mart names become file names and SQL identifiers: only lower-case snake_case is accepted."""
    if not _MART_NAME.fullmatch(name):
        raise ValueError(f"mart name {name!r} is not lower-case snake_case; refusing to publish it")
    return name


def parquet_path(published_dir: Path, mart: str) -> Path:
    """``published/<mart>/<mart>.parquet``: the stable name of a mart's current version (a symbolic
    link to an immutable file under ``_versions/``, replaced atomically on each publish)."""
    check_mart_name(mart)
    return published_dir / mart / f"{mart}.parquet"


def versions_dir(published_dir: Path, mart: str) -> Path:
    check_mart_name(mart)
    return published_dir / VERSIONS_DIR / mart


def version_path(published_dir: Path, mart: str, version: str) -> Path:
    return versions_dir(published_dir, mart) / f"{mart}-{version}.parquet"


def published_marts(published_dir: Path) -> dict[str, Path]:
    """The marts currently published: every ``<mart>/<mart>.parquet`` under ``published_dir``
    (stable names; ``Path.resolve()`` gives the immutable version they point to)."""
    if not published_dir.is_dir():
        return {}
    found = {}
    for child in sorted(published_dir.iterdir()):
        if child.is_dir() and _MART_NAME.fullmatch(child.name):
            path = child / f"{child.name}.parquet"
            if path.is_file():
                found[child.name] = path
    return found
