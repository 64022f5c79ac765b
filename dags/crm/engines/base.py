"""What a dbt target ("engine") provides to the phase runner, the identity step and the comparison.

An engine is registered in :data:`crm.engines.ENGINES` by name; :func:`crm.engines.load_engine`
imports its module lazily, so PostgreSQL's and Spark's client libraries stay optional extras.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from splink.internals.splink_dataframe import SplinkDataFrame

from crm.identity.backend import SplinkBackend


class IdentityIO(Protocol):
    """How the external identity step reads dbt relations from an engine and writes results back.

    ``read`` returns something the backend's :meth:`SplinkBackend.select` accepts (a DuckDB relation
    for :class:`crm.identity.backend.DuckDBBackend`, a DataFrame for the Spark backend).
    """

    backend: SplinkBackend

    def read(self, schema: str, table: str, columns: Sequence[str]) -> Any: ...

    def write(self, frame: SplinkDataFrame, schema: str, table: str) -> int: ...

    def close(self) -> None: ...


class Engine(Protocol):
    """One dbt target the project builds on."""

    #: Registry name (crm.engines.ENGINES).
    name: str
    #: The dbt target in dbt_project/profiles.yml.
    dbt_target: str
    #: True when the adapter runs the identity Python models itself (one ``dbt build`` suffices).
    runs_python_models: bool

    def dbt_env(self) -> dict[str, str]:
        """Environment variables the dbt profile's target (and its sessions) need."""
        ...

    def ship_raw(self, warehouse: Path) -> dict[str, int]:
        """Make the dbt sources available from the DuckDB warehouse (rows per table)."""
        ...

    def identity_io(self) -> IdentityIO:
        """Reader/writer for the external identity step (only used when not runs_python_models)."""
        ...

    def fetch(self, sql: str) -> tuple[list[str], list[tuple]]:
        """Run a query; (column names, rows) with Python values (Decimal, date, float, str, bool)."""
        ...

    def close(self) -> None: ...
