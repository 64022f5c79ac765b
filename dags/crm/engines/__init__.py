"""The same dbt project on several engines (dbt targets): DuckDB, PostgreSQL, Spark.

- :mod:`crm.engines.base`           what an engine provides (:class:`~crm.engines.base.Engine`);
- :mod:`crm.engines.duckdb_engine`  the embedded default;
- :mod:`crm.engines.postgres`       raw data over COPY, the PII salt as a session setting;
- :mod:`crm.engines.identity_step`  splink scoring / clustering as a step between dbt phases for
                                    adapters without dbt Python models;
- :mod:`crm.engines.build`          the phase runner (``python -m crm.engines.build --target ...``);
- :mod:`crm.engines.compare`        the key marts compared row for row across engines.

Engines are looked up by name in :data:`ENGINES` (module path, factory); their modules are imported
only when used, so the optional extras (``.[postgres]``, ``.[spark]``) stay optional.
"""

from __future__ import annotations

import importlib
from typing import Any

from crm.engines.base import Engine

#: name -> "module:factory"; the factory takes keyword options and returns an Engine.
ENGINES: dict[str, str] = {
    "duckdb": "crm.engines.duckdb_engine:DuckDBEngine.from_env",
    "postgres": "crm.engines.postgres:PostgresEngine.from_env",
    "spark": "crm.engines.spark:SparkEngine.from_env",
}


def load_engine(name: str, **options: Any) -> Engine:
    """Create the engine registered under ``name`` (options go to its factory)."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; known: {sorted(ENGINES)}")
    module_name, _, attribute = ENGINES[name].partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target(**options)
