"""When the stored identity model is retrained, and the row that records a trained model.

Training (u sampling, EM) is most of the probabilistic step's cost and, on a day's new data, moves
the parameters very little; retraining daily would also let links near the threshold flip from run
to run. So a trained model is stored (``int_identity__models_trained``, one row per version) and
reused by ``int_identity__scored_pairs`` until one of :func:`retrain_reason`'s conditions holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from crm.identity.scoring import TrainedModel

#: Columns of int_identity__models_trained, in order.
MODEL_TABLE_SCHEMA = pa.schema(
    [
        ("model_version", pa.int64()),
        ("trained_at", pa.timestamp("us", tz="UTC")),
        ("trained_because", pa.string()),
        ("spec_fingerprint", pa.string()),
        ("named_records", pa.int64()),
        ("em_rules", pa.string()),
        ("probability_two_random_records_match", pa.float64()),
        ("settings_sha256", pa.string()),
        ("settings_json", pa.string()),
    ]
)


@dataclass(frozen=True)
class StoredModel:
    """What the retraining decision needs of the latest stored model."""

    model_version: int
    spec_fingerprint: str
    named_records: int


def retrain_reason(
    previous: StoredModel | None,
    named_records: int,
    fingerprint: str,
    retrain_growth: float,
    *,
    force: bool = False,
) -> str | None:
    """Why the model must be retrained now, or None to reuse ``previous``.

    Retrain when there is no stored model, when asked to (``force``: the var
    identity_force_retrain), when the model spec or training settings changed (the fingerprint),
    or when the number of named contact records moved by more than ``retrain_growth`` (a share)
    from the number the model was trained on.
    """
    if previous is None:
        return "no stored model"
    if force:
        return "identity_force_retrain was set"
    if previous.spec_fingerprint != fingerprint:
        return "the model spec or the training settings changed"
    change = abs(named_records - previous.named_records) / max(previous.named_records, 1)
    if change > retrain_growth:
        return (
            f"named records changed by {change:.1%} since training "
            f"({previous.named_records:,} -> {named_records:,}; identity_retrain_growth={retrain_growth:g})"
        )
    return None


def model_row(
    model: TrainedModel, version: int, trained_at: datetime, because: str, fingerprint: str
) -> pa.Table:
    """One row of int_identity__models_trained for a newly trained model."""
    settings_json = model.settings_json
    return pa.Table.from_pylist(
        [
            {
                "model_version": version,
                "trained_at": trained_at,
                "trained_because": because,
                "spec_fingerprint": fingerprint,
                "named_records": model.named_records,
                "em_rules": " | ".join(model.em_rules),
                "probability_two_random_records_match": float(
                    model.settings["probability_two_random_records_match"]
                ),
                "settings_sha256": hashlib.sha256(settings_json.encode("utf-8")).hexdigest(),
                "settings_json": settings_json,
            }
        ],
        schema=MODEL_TABLE_SCHEMA,
    )


def parse_flag(value: object) -> bool:
    """A boolean dbt var as a Python model's meta receives it (rendered to 'True', 'false', ...)."""
    text = str(value).strip().lower() if value is not None else ""
    if text in ("true", "1", "yes"):
        return True
    if text in ("", "false", "0", "no", "none"):
        return False
    raise ValueError(f"identity_force_retrain must be true or false; got {value!r}")


def latest_model(versions: pa.Table | None) -> StoredModel | None:
    """The highest version among the stored rows (None when there are none)."""
    if versions is None or versions.num_rows == 0:
        return None
    rows = versions.select(["model_version", "spec_fingerprint", "named_records"]).to_pylist()
    latest = max(rows, key=lambda row: row["model_version"])
    return StoredModel(
        int(latest["model_version"]), str(latest["spec_fingerprint"]), int(latest["named_records"])
    )


def with_version(versions: pa.Table | None, row: pa.Table | None) -> pa.Table:
    """The stored versions (cast to the table's schema) plus a new one, if any, ordered by version."""
    parts = [
        t.select(MODEL_TABLE_SCHEMA.names).cast(MODEL_TABLE_SCHEMA) for t in (versions, row) if t is not None
    ]
    table = pa.concat_tables(parts) if parts else MODEL_TABLE_SCHEMA.empty_table()
    return table.sort_by("model_version")
