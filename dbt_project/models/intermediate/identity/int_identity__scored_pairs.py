"""Probabilistic evidence: candidate pairs of named contact records scored by splink.

Scores with the latest version of the trained model in int_identity__models_trained (see
crm.identity.retraining for when it is retrained) and keeps the pairs scoring at least
identity_review_threshold. Pairs at or above identity_match_threshold become links in
int_identity__match_edges; the rest are kept for clerical review.
"""

import json

from crm.identity.backend import backend_for
from crm.identity.config import IdentityConfig
from crm.identity.model_spec import MATCH_COLUMNS, UNIQUE_ID_COLUMN
from crm.identity.scoring import predict_pairs


def model(dbt, session):
    dbt.config(materialized="table")
    config = IdentityConfig.parse(
        match_threshold=dbt.config.meta_get("identity_match_threshold"),
        review_threshold=dbt.config.meta_get("identity_review_threshold"),
    )
    models = dbt.ref("int_identity__models_trained")
    latest = models.order("model_version desc").limit(1).project("settings_json").fetchone()
    if latest is None:
        # unreachable after a build of the model (it trains when it holds no version): a hand edit
        raise ValueError(
            "int_identity__models_trained holds no model version: rebuild it "
            "(dbt build --select int_identity__models_trained trains one when there is none)"
        )
    backend = backend_for(session)
    named_records = backend.select(
        dbt.ref("int_identity__contact_records"),
        columns=(UNIQUE_ID_COLUMN, *MATCH_COLUMNS),
        condition="name_norm is not null",
        order_by=UNIQUE_ID_COLUMN,
    )
    return backend.to_model_output(predict_pairs(named_records, backend, config, json.loads(latest[0])))
