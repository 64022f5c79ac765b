"""Where the report reads from: the published marts (what BI users see) and the warehouse's audit
and quarantine tables plus dbt's run results (for the data-quality panels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from crm.publish.dbt_artifacts import DbtArtifacts
from crm.report.model import PanelUnavailable


@dataclass
class ReportSource:
    """``marts`` resolves ``marts.<name>``: the serving database ``marts.duckdb`` (catalog ``marts``)
    or the warehouse (schema ``marts``). ``audit`` resolves ``audit.*`` and ``quarantine.*`` (the
    warehouse, read-only), or is None."""

    marts: duckdb.DuckDBPyConnection
    audit: duckdb.DuckDBPyConnection | None
    dbt: DbtArtifacts = field(default_factory=DbtArtifacts)
    docs_dir: Path | None = None
    _tables: dict[int, set[tuple[str, str]]] = field(default_factory=dict, repr=False)

    def _known(self, con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
        key = id(con)
        if key not in self._tables:
            rows = con.execute(
                "select table_catalog, table_schema, table_name from information_schema.tables"
            ).fetchall()
            # A table of catalog ``marts`` (the serving database) answers to ``marts.<name>`` too.
            self._tables[key] = {(schema, name) for _, schema, name in rows} | {
                ("marts", name) for catalog, schema, name in rows if catalog == "marts" and schema == "main"
            }
        return self._tables[key]

    def has_mart(self, name: str) -> bool:
        return ("marts", name) in self._known(self.marts)

    def has_audit(self, schema: str, name: str) -> bool:
        return self.audit is not None and (schema, name) in self._known(self.audit)

    def mart(self, name: str, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run ``sql`` (which reads ``marts.<name>``) once the mart is known to be published."""
        if not self.has_mart(name):
            raise PanelUnavailable(f"marts.{name} is not published")
        return self.marts.execute(sql, params or []).df()

    def audit_frame(self, schema: str, name: str, sql: str, params: list | None = None) -> pd.DataFrame:
        if not self.has_audit(schema, name):
            raise PanelUnavailable(f"{schema}.{name} is not available in the warehouse")
        assert self.audit is not None
        return self.audit.execute(sql, params or []).df()

    def quarantine_tables(self) -> list[str]:
        if self.audit is None:
            return []
        return sorted(name for schema, name in self._known(self.audit) if schema == "quarantine")
