"""Settings of the identity resolution step, read from dbt model config (which renders the vars)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IdentityConfig:
    """Thresholds and training knobs of the probabilistic step.

    Attributes:
        match_threshold: pairs scored at or above this match probability are linked.
        review_threshold: pairs scored at or above this (and below ``match_threshold``) are kept
            in ``int_identity__scored_pairs`` for clerical review but never linked.
        deterministic_recall: assumed share of true matches that the deterministic keys (phone,
            e-mail, member id) find; used to estimate the prior match probability.
        u_max_pairs: record pairs sampled to estimate the u probabilities.
        seed: seed of that sample, so re-runs on the same data give the same model.
        min_em_pairs: EM is skipped for a training blocking rule that yields fewer pairs than
            this (the priors in :mod:`crm.identity.model_spec` are kept instead).
        retrain_growth: the stored model (``int_identity__models_trained``) is reused until the
            number of named contact records has changed by more than this share since it was
            trained (or the model spec changed); 0 retrains whenever a record is added.
    """

    match_threshold: float = 0.95
    review_threshold: float = 0.80
    deterministic_recall: float = 0.6
    u_max_pairs: float = 1e7
    seed: int = 20240601
    min_em_pairs: int = 200
    retrain_growth: float = 0.10

    def __post_init__(self) -> None:
        if not 0.0 < self.review_threshold <= self.match_threshold < 1.0:
            raise ValueError(
                "identity thresholds must satisfy 0 < identity_review_threshold <= "
                f"identity_match_threshold < 1; got review={self.review_threshold}, "
                f"match={self.match_threshold}"
            )
        if not 0.0 < self.deterministic_recall <= 1.0:
            raise ValueError(
                f"identity_deterministic_recall must be in (0, 1]; got {self.deterministic_recall}"
            )
        if self.retrain_growth < 0.0:
            raise ValueError(f"identity_retrain_growth must be >= 0; got {self.retrain_growth}")
        if self.u_max_pairs < 1 or self.min_em_pairs < 0:
            raise ValueError(
                f"identity_u_max_pairs must be >= 1 and identity_min_em_pairs >= 0; "
                f"got {self.u_max_pairs} and {self.min_em_pairs}"
            )

    @classmethod
    def parse(cls, **raw: Any) -> IdentityConfig:
        """Build from values as a dbt Python model receives them (``dbt.config.meta_get``).

        The model's YAML sets ``config: {meta: {identity_match_threshold: "{{ var(...) }}", ...}}``;
        dbt renders those to strings, so every value is converted here. ``None`` or '' keeps the
        default. Unknown names are an error, so a misspelt setting cannot be silently ignored.
        """
        defaults = cls()
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in cls.__dataclass_fields__:
                raise TypeError(
                    f"unknown identity setting {name!r}; known: {sorted(cls.__dataclass_fields__)}"
                )
            if value is None or value == "":
                continue
            convert = type(getattr(defaults, name))
            try:
                values[name] = convert(float(value)) if convert is int else convert(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"identity setting {name}={value!r} is not a {convert.__name__}") from exc
        return cls(**values)
