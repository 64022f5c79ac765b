"""Probabilistic evidence: candidate pairs of named contact records scored by splink.

Trains the splink model (see crm.identity.scoring) on the named contact records and keeps the pairs
scoring at least identity_review_threshold. Pairs at or above identity_match_threshold become links
in int_identity__match_edges; the rest are kept for clerical review.
"""

from crm.identity.backend import backend_for
from crm.identity.config import IdentityConfig
from crm.identity.model_spec import MATCH_COLUMNS, UNIQUE_ID_COLUMN
from crm.identity.scoring import score_pairs


def model(dbt, session):
    dbt.config(materialized="table")
    config = IdentityConfig.parse(
        match_threshold=dbt.config.meta_get("identity_match_threshold"),
        review_threshold=dbt.config.meta_get("identity_review_threshold"),
        deterministic_recall=dbt.config.meta_get("identity_deterministic_recall"),
        u_max_pairs=dbt.config.meta_get("identity_u_max_pairs"),
        seed=dbt.config.meta_get("identity_seed"),
        min_em_pairs=dbt.config.meta_get("identity_min_em_pairs"),
    )
    backend = backend_for(session)
    named_records = backend.select(
        dbt.ref("int_identity__contact_records"),
        columns=(UNIQUE_ID_COLUMN, *MATCH_COLUMNS),
        condition="name_norm is not null",
        order_by=UNIQUE_ID_COLUMN,
    )
    return backend.to_model_output(score_pairs(named_records, backend, config))
