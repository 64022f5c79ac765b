"""Identity resolution's splink steps outside dbt, for adapters without dbt Python models.

dbt-postgres has no Python models and dbt-spark's ``session`` method cannot run them either, so on
those targets :mod:`crm.engines.build` runs the project in phases and calls, between them, the
same code the DuckDB Python models call:

- :func:`run_scoring`    int_identity__contact_records -> crm.identity.scoring.score_pairs ->
                         identity_step.int_identity__scored_pairs
- :func:`run_clustering` int_identity__contact_records + int_identity__match_edges ->
                         crm.identity.clustering.cluster_records ->
                         identity_step.int_identity__record_clusters

The SQL models of the same names (models/intermediate/identity/external/) publish those tables.
The engine supplies the splink backend and the I/O (:class:`crm.engines.base.IdentityIO`): on
PostgreSQL splink runs on an in-process DuckDB fed over COPY; on Spark on the dbt session itself.
Inputs are selected exactly as the Python models select them (columns, filter, order), so both
paths train on identical data.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from crm.engines.base import IdentityIO
from crm.identity.clustering import cluster_records
from crm.identity.config import IdentityConfig
from crm.identity.model_spec import MATCH_COLUMNS, UNIQUE_ID_COLUMN
from crm.identity.scoring import score_pairs

log = logging.getLogger(__name__)

#: Schema the step writes to (the dbt source `identity_step`).
OUTPUT_SCHEMA = "identity_step"
SCORED_PAIRS = "int_identity__scored_pairs"
RECORD_CLUSTERS = "int_identity__record_clusters"
CONTACT_RECORDS = "int_identity__contact_records"
MATCH_EDGES = "int_identity__match_edges"


@dataclass(frozen=True)
class Relation:
    schema: str
    table: str


def model_relation(manifest: Any, name: str) -> Relation:
    """Where dbt builds the enabled model ``name`` (schema, alias) according to the manifest."""
    for node in manifest.nodes.values():
        if node.resource_type == "model" and node.name == name:
            return Relation(node.schema, node.alias or node.name)
    raise LookupError(f"the dbt manifest has no enabled model {name!r}")


def identity_config(manifest: Any) -> IdentityConfig:
    """The thresholds from int_identity__scored_pairs's config meta (rendered dbt vars)."""
    for node in manifest.nodes.values():
        if node.resource_type == "model" and node.name == SCORED_PAIRS:
            meta = node.config.meta
            # meta keys are the dbt var names: identity_match_threshold, ...
            return IdentityConfig.parse(
                **{name: meta.get(f"identity_{name}") for name in IdentityConfig.__dataclass_fields__}
            )
    raise LookupError(f"the dbt manifest has no enabled model {SCORED_PAIRS!r}")


def run_scoring(io: IdentityIO, contact_records: Relation, config: IdentityConfig) -> int:
    """Score candidate pairs of named contact records; returns the pairs written."""
    started = time.perf_counter()
    records = io.read(contact_records.schema, contact_records.table, (UNIQUE_ID_COLUMN, *MATCH_COLUMNS))
    named_records = io.backend.select(
        records,
        columns=(UNIQUE_ID_COLUMN, *MATCH_COLUMNS),
        condition="name_norm is not null",
        order_by=UNIQUE_ID_COLUMN,
    )
    rows = io.write(score_pairs(named_records, io.backend, config), OUTPUT_SCHEMA, SCORED_PAIRS)
    log.info(
        "identity scoring (%s): %d pairs in %.1f s", io.backend.name, rows, time.perf_counter() - started
    )
    return rows


def run_clustering(io: IdentityIO, contact_records: Relation, match_edges: Relation) -> int:
    """Connected components of the contact records over the match edges; returns the rows written."""
    started = time.perf_counter()
    nodes = io.backend.select(
        io.read(contact_records.schema, contact_records.table, ("record_key",)), columns=("record_key",)
    )
    edges = io.backend.select(
        io.read(match_edges.schema, match_edges.table, ("record_key_l", "record_key_r")),
        columns=("record_key_l", "record_key_r"),
    )
    rows = io.write(cluster_records(nodes, edges, io.backend), OUTPUT_SCHEMA, RECORD_CLUSTERS)
    log.info(
        "identity clustering (%s): %d records in %.1f s", io.backend.name, rows, time.perf_counter() - started
    )
    return rows
