"""The trained identity model, versioned: one row per training (crm.identity.retraining).

Each run keeps the stored versions and trains a new one only when
crm.identity.retraining.retrain_reason says so (no model yet, the model spec or training settings
changed, the named contact records moved by more than identity_retrain_growth since the latest
version, or the var identity_force_retrain is true); int_identity__scored_pairs scores with the
latest version. The history is an audit trail: the model reads its own table and writes it back
whole (a table, so dbt swaps it in one transaction; dbt-duckdb's incremental Python models leave a
__dbt_tmp table behind), and --full-refresh keeps it too. Drop the table to start anew.
"""

from datetime import UTC, datetime

from crm.identity.backend import backend_for
from crm.identity.config import IdentityConfig
from crm.identity.model_spec import MATCH_COLUMNS, UNIQUE_ID_COLUMN
from crm.identity.retraining import (
    MODEL_TABLE_SCHEMA,
    latest_model,
    model_row,
    parse_flag,
    retrain_reason,
    with_version,
)
from crm.identity.scoring import spec_fingerprint, train_model


def stored_versions(session, this):
    (exists,) = session.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = ? and table_schema = ? and table_name = ?",
        [this.database, this.schema, this.identifier],
    ).fetchone()
    if not exists:
        return None
    return session.sql(f"select {', '.join(MODEL_TABLE_SCHEMA.names)} from {this}").to_arrow_table()


def model(dbt, session):
    dbt.config(materialized="table")
    config = IdentityConfig.parse(
        deterministic_recall=dbt.config.meta_get("identity_deterministic_recall"),
        u_max_pairs=dbt.config.meta_get("identity_u_max_pairs"),
        seed=dbt.config.meta_get("identity_seed"),
        min_em_pairs=dbt.config.meta_get("identity_min_em_pairs"),
        retrain_growth=dbt.config.meta_get("identity_retrain_growth"),
    )
    records = dbt.ref("int_identity__contact_records").filter("name_norm is not null")
    (named,) = records.aggregate("count(*)").fetchone()
    versions = stored_versions(session, dbt.this)
    previous = latest_model(versions)
    fingerprint = spec_fingerprint(config)
    force = parse_flag(dbt.config.meta_get("identity_force_retrain"))
    because = retrain_reason(previous, int(named), fingerprint, config.retrain_growth, force=force)
    if because is None:
        return with_version(versions, None)
    backend = backend_for(session)
    trained = train_model(
        backend.select(records, columns=(UNIQUE_ID_COLUMN, *MATCH_COLUMNS), order_by=UNIQUE_ID_COLUMN),
        backend,
        config,
    )
    version = previous.model_version + 1 if previous else 1
    return with_version(versions, model_row(trained, version, datetime.now(UTC), because, fingerprint))
