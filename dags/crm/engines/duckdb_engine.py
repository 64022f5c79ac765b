"""DuckDB, the embedded default: dbt-duckdb runs the identity Python models itself."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from crm.engines.base import IdentityIO


@dataclass
class DuckDBEngine:
    warehouse: Path
    name: str = "duckdb"
    dbt_target: str = "dev"
    runs_python_models: bool = True

    @classmethod
    def from_env(cls, warehouse: Path | str | None = None, **_: object) -> DuckDBEngine:
        path = warehouse or os.environ.get("CRM_WAREHOUSE_PATH")
        if not path:
            raise ValueError("the duckdb engine needs a warehouse path (CRM_WAREHOUSE_PATH)")
        return cls(warehouse=Path(path))

    def dbt_env(self) -> dict[str, str]:
        return {"CRM_WAREHOUSE_PATH": str(self.warehouse)}

    def ship_raw(self, warehouse: Path) -> dict[str, int]:
        """The raw tables are already in a DuckDB warehouse: copy the file when it is another one."""
        if Path(warehouse).resolve() != self.warehouse.resolve():
            shutil.copyfile(warehouse, self.warehouse)
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            tables = con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
            return {
                f"raw.{name}": int(con.execute(f'select count(*) from raw."{name}"').fetchone()[0])  # type: ignore[index]
                for (name,) in tables
            }

    def identity_io(self) -> IdentityIO:
        raise NotImplementedError("dbt-duckdb runs the identity Python models; no external step is needed")

    def fetch(self, sql: str) -> tuple[list[str], list[tuple]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            cursor = con.execute(sql)
            names = [column[0] for column in cursor.description]
            return names, cursor.fetchall()

    def close(self) -> None:
        return None
