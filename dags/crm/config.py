"""Settings from the environment, with the embedded defaults used by ``make run``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Engines the dbt project builds on (crm.engines.ENGINES; kept here so DAG files can check the name
#: without importing the engines' client libraries at parse time).
WAREHOUSE_ENGINES = ("duckdb", "postgres", "spark")


def warehouse_engine() -> str:
    """Where crm_transform builds the marts: ``CRM_WAREHOUSE_ENGINE`` (default ``duckdb``)."""
    name = os.environ.get("CRM_WAREHOUSE_ENGINE", "duckdb").strip().lower() or "duckdb"
    if name not in WAREHOUSE_ENGINES:
        raise ValueError(f"CRM_WAREHOUSE_ENGINE={name!r}: expected one of {', '.join(WAREHOUSE_ENGINES)}")
    return name


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default.resolve()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    warehouse_path: Path
    expectations_dir: Path
    dbt_project_dir: Path
    settle_seconds: float
    chunk_rows: int

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = _path("CRM_DATA_DIR", REPO_ROOT / "data")
        return cls(
            data_dir=data_dir,
            warehouse_path=_path("CRM_WAREHOUSE_PATH", data_dir / "warehouse.duckdb"),
            expectations_dir=_path("CRM_EXPECTATIONS_DIR", REPO_ROOT / "expectations"),
            dbt_project_dir=_path("CRM_DBT_PROJECT_DIR", REPO_ROOT / "dbt_project"),
            # A file younger than this may still be being written: it waits for the next run.
            settle_seconds=float(os.environ.get("CRM_SETTLE_SECONDS", "2")),
            chunk_rows=int(os.environ.get("CRM_CHUNK_ROWS", "200000")),
        )

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def rejected_dir(self) -> Path:
        return self.data_dir / "rejected"

    @property
    def gx_root(self) -> Path:
        return self.data_dir / "gx"

    @property
    def published_dir(self) -> Path:
        return self.data_dir / "published"
