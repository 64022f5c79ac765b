"""Hand the PII salt to DuckDB as a session variable, so it never appears in compiled SQL.

A salt rendered into SQL as a literal would end up in dbt's ``target/`` artefacts (compiled code,
``manifest.json``, ``run_results.json``) and in the published dbt docs. Instead every connection
and cursor dbt-duckdb opens gets ``SET VARIABLE crm_pii_salt``, and the ``pii_hash`` macro reads it
with ``getvariable('crm_pii_salt')``. The value comes from ``CRM_PII_SALT``; the development
default only exists so a laptop can build without secrets (``make run`` writes a random salt to
``$CRM_DATA_DIR/.pii_salt``).
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

VARIABLE = "crm_pii_salt"
DEV_DEFAULT = "crm-dev-only-insecure-salt"


def _set(conn: Any) -> None:
    salt = os.environ.get("CRM_PII_SALT") or DEV_DEFAULT
    literal = salt.replace("'", "''")
    conn.execute(f"set variable {VARIABLE} = '{literal}'")


class Plugin(BasePlugin):
    def configure_connection(self, conn: Any) -> None:
        _set(conn)

    def configure_cursor(self, cursor: Any) -> None:
        _set(cursor)
