"""The trained identity model, versioned: one row per training (crm.identity.retraining).

Incremental: a run trains a new version only when crm.identity.retraining.retrain_reason says so
(no model yet, the model spec or training settings changed, or the named contact records moved by
more than identity_retrain_growth since the latest version, or the var identity_force_retrain is
true); otherwise it adds no row and int_identity__scored_pairs scores with the latest stored
version. The history is an audit trail, so --full-refresh leaves it alone (full_refresh=False);
drop the table to start it anew.
"""

from datetime import UTC, datetime

from crm.identity.backend import backend_for
from crm.identity.config import IdentityConfig
from crm.identity.model_spec import MATCH_COLUMNS, UNIQUE_ID_COLUMN
from crm.identity.retraining import StoredModel, model_row, no_new_model, parse_flag, retrain_reason
from crm.identity.scoring import spec_fingerprint, train_model


def latest_model(session, relation):
    row = session.sql(
        f"select model_version, spec_fingerprint, named_records from {relation} "
        "order by model_version desc limit 1"
    ).fetchone()
    return StoredModel(int(row[0]), str(row[1]), int(row[2])) if row else None


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="append",
        on_schema_change="fail",
        full_refresh=False,
    )
    config = IdentityConfig.parse(
        deterministic_recall=dbt.config.meta_get("identity_deterministic_recall"),
        u_max_pairs=dbt.config.meta_get("identity_u_max_pairs"),
        seed=dbt.config.meta_get("identity_seed"),
        min_em_pairs=dbt.config.meta_get("identity_min_em_pairs"),
        retrain_growth=dbt.config.meta_get("identity_retrain_growth"),
    )
    records = dbt.ref("int_identity__contact_records").filter("name_norm is not null")
    (named,) = records.aggregate("count(*)").fetchone()
    previous = latest_model(session, dbt.this) if dbt.is_incremental else None
    fingerprint = spec_fingerprint(config)
    force = parse_flag(dbt.config.meta_get("identity_force_retrain"))
    because = retrain_reason(previous, int(named), fingerprint, config.retrain_growth, force=force)
    if because is None:
        return no_new_model()
    backend = backend_for(session)
    trained = train_model(
        backend.select(records, columns=(UNIQUE_ID_COLUMN, *MATCH_COLUMNS), order_by=UNIQUE_ID_COLUMN),
        backend,
        config,
    )
    version = previous.model_version + 1 if previous else 1
    return model_row(trained, version, datetime.now(UTC), because, fingerprint)
