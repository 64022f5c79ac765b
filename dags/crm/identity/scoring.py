"""Train the splink model on the contact records and score candidate pairs.

Training, in this order (all deterministic for identical inputs):

1. ``probability_two_random_records_match`` from the deterministic rules and their assumed recall;
2. u probabilities by random sampling of record pairs, with a fixed seed;
3. m probabilities by EM, once per training blocking rule (each pass leaves the columns in its
   rule untouched). A rule that yields fewer than ``min_em_pairs`` pairs is skipped and the priors
   of :mod:`crm.identity.model_spec` stand: EM on a handful of pairs is unstable.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from splink import Linker
from splink.internals.splink_dataframe import SplinkDataFrame

from crm.identity import model_spec
from crm.identity.backend import SplinkBackend
from crm.identity.config import IdentityConfig

log = logging.getLogger(__name__)

#: Partial match weight of each comparison, kept to audit why a pair scored as it did.
PARTIAL_WEIGHT_COLUMNS: tuple[str, ...] = tuple(
    f"mw_{name}"
    for name in ("name_norm", "birth_date", "address_norm", "company_norm", "phone_e164", "email")
)


def count_rows(backend: SplinkBackend, frame: SplinkDataFrame) -> int:
    result = backend.db_api.query_sql(
        f"select count(*) as n from {frame.physical_name}", output_type="pandas"
    )
    return int(result["n"].iloc[0])


@contextmanager
def expected_em_gaps_silenced() -> Iterator[None]:
    """Mute splink's "level not observed, unable to train m value" warnings during EM.

    They are expected by design: an EM pass blocked on phone never sees a phone disagreement, and
    the level keeps its prior (or the value another pass trained). Errors still surface.
    """
    em_logger = logging.getLogger("splink.internals.expectation_maximisation")
    previous = em_logger.level
    em_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        em_logger.setLevel(previous)


def train(linker: Linker, config: IdentityConfig) -> list[str]:
    """Estimate the model's parameters in place; returns the EM rules that were used."""
    linker.training.estimate_probability_two_random_records_match(
        model_spec.deterministic_rules(), recall=config.deterministic_recall
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=config.u_max_pairs, seed=config.seed)
    used: list[str] = []
    for rule in model_spec.training_blocking_rules():
        (counted,) = linker.blocking_analysis.count_comparisons_from_blocking_rules(
            [rule], record_sample_proportion=1.0
        )
        pairs = counted["cumulative_comparison_count"]
        sql = counted["blocking_rule"]
        if pairs < config.min_em_pairs:
            log.info(
                "EM skipped for %s: %d pairs < identity_min_em_pairs=%d", sql, pairs, config.min_em_pairs
            )
            continue
        log.info("EM on %s (%d pairs)", sql, pairs)
        with expected_em_gaps_silenced():
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True
            )
        used.append(sql)
    return used


@dataclass(frozen=True)
class TrainedModel:
    """A trained splink model as stored in ``int_identity__models_trained``."""

    settings: dict[str, Any]
    named_records: int
    em_rules: tuple[str, ...]

    @property
    def settings_json(self) -> str:
        return json.dumps(self.settings, sort_keys=True, ensure_ascii=False)


def spec_fingerprint(config: IdentityConfig, dialect: str = "duckdb") -> str:
    """SHA-256 of what training depends on besides the data: the untrained model of
    :mod:`crm.identity.model_spec` (comparisons, levels, priors, blocking rules) and the training
    settings. A stored model whose fingerprint differs was trained by other rules and is retrained.
    """
    spec = model_spec.settings().get_settings(dialect).as_dict()
    spec.pop("linker_uid", None)
    training = {
        "deterministic_recall": config.deterministic_recall,
        "u_max_pairs": config.u_max_pairs,
        "seed": config.seed,
        "min_em_pairs": config.min_em_pairs,
    }
    payload = json.dumps({"spec": spec, "training": training}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _register(records: Any, backend: SplinkBackend) -> SplinkDataFrame:
    return backend.db_api.register(backend.to_splink_input(records), table_name="identity_contact_records")


def _train_on(
    frame: SplinkDataFrame, backend: SplinkBackend, config: IdentityConfig
) -> tuple[Linker, int, list[str]]:
    # log_level=None: splink must not reconfigure logging inside the dbt process.
    linker = Linker(frame, model_spec.settings(), log_level=None)
    n = count_rows(backend, frame)
    rules: list[str] = []
    if n >= 2:
        rules = train(linker, config)
        log.info("identity model trained on %d named records; EM rules used: %s", n, rules or "none")
    return linker, n, rules


def train_model(records: Any, backend: SplinkBackend, config: IdentityConfig) -> TrainedModel:
    """Train on ``records`` (the named contact records) and return the model, ready to store.

    With fewer than two records there is nothing to train on and the priors stand.
    """
    linker, n, rules = _train_on(_register(records, backend), backend, config)
    settings = dict(linker.misc.save_model_to_json())
    settings.pop("linker_uid", None)  # per linker instance, not part of the model
    return TrainedModel(settings=settings, named_records=n, em_rules=tuple(rules))


def predict_pairs(
    records: Any, backend: SplinkBackend, config: IdentityConfig, settings: dict[str, Any]
) -> SplinkDataFrame:
    """Score the candidate pairs of ``records`` with a stored model (:attr:`TrainedModel.settings`).

    Term-frequency tables come from ``records`` themselves, as in :func:`score_pairs`; the result
    equals what :func:`score_pairs` returns when training on the same data gave these settings.
    """
    linker = Linker(_register(records, backend), settings, log_level=None)
    return _predictions(linker, backend, config)


def score_pairs(records: Any, backend: SplinkBackend, config: IdentityConfig) -> SplinkDataFrame:
    """Train on ``records`` and return the candidate pairs scoring at least the review threshold.

    Columns: record_key_l, record_key_r, match_weight, match_probability, blocking_rule_index (which
    prediction blocking rule produced the pair) and each comparison's partial match weight (mw_*).
    With fewer than two records there is nothing to train on and the (empty) result uses the priors.
    """
    linker, _, _ = _train_on(_register(records, backend), backend, config)
    return _predictions(linker, backend, config)


def _predictions(linker: Linker, backend: SplinkBackend, config: IdentityConfig) -> SplinkDataFrame:
    predictions = linker.inference.predict(
        threshold_match_probability=config.review_threshold, warning_mode="never"
    )
    columns = ", ".join(
        [
            f"{model_spec.UNIQUE_ID_COLUMN}_l as record_key_l",
            f"{model_spec.UNIQUE_ID_COLUMN}_r as record_key_r",
            "match_weight",
            "match_probability",
            "cast(match_key as integer) as blocking_rule_index",
            *PARTIAL_WEIGHT_COLUMNS,
        ]
    )
    sql = f"select {columns} from {predictions.physical_name}"
    return backend.db_api.query_sql(sql, output_type="splink_df")
