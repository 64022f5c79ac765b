"""Identity resolution: unit tests of crm.identity and an end-to-end precision/recall measurement.

The unit tests run on small synthetic data and need neither the generator nor dbt. The end-to-end
tests (``TestOnGeneratedSample``) generate the default sample, ingest it, build the identity models
with dbt and compare the record clustering with the generator's answer key, which is read from
``<data-dir>/answer_key/person_ids.csv`` and never loaded into the warehouse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from crm.identity import model_spec
from crm.identity.backend import DuckDBBackend, backend_for
from crm.identity.clustering import _cluster_with_splink, cluster_records
from crm.identity.config import IdentityConfig
from crm.identity.retraining import StoredModel, model_row, parse_flag, retrain_reason
from crm.identity.scoring import predict_pairs, score_pairs, spec_fingerprint, train_model

REPO = Path(__file__).resolve().parents[1]
DBT_PROJECT = REPO / "dbt_project"
VENV_BIN = Path(sys.executable).parent

# Floors measured on the default sample (see docs/identity_resolution.md for the figures).
PRECISION_FLOOR = 0.99
RECALL_FLOOR = 0.43


# --------------------------------------------------------------------------- config and backend


def test_config_parses_rendered_dbt_vars() -> None:
    config = IdentityConfig.parse(match_threshold="0.9", review_threshold="0.5", u_max_pairs="1e6", seed="7")
    assert config == IdentityConfig(match_threshold=0.9, review_threshold=0.5, u_max_pairs=1e6, seed=7)


def test_config_missing_values_keep_defaults() -> None:
    assert IdentityConfig.parse(match_threshold=None, min_em_pairs="") == IdentityConfig()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"match_threshold": "0.5", "review_threshold": "0.8"}, "identity_review_threshold <="),
        ({"match_threshold": "1.0"}, "< 1"),
        ({"deterministic_recall": "0"}, "identity_deterministic_recall"),
        ({"seed": "abc"}, "seed='abc' is not a int"),
        ({"treshold": "0.9"}, "unknown identity setting 'treshold'"),
    ],
)
def test_config_rejects_bad_values(raw: dict[str, str], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        IdentityConfig.parse(**raw)


def test_backend_for_duckdb_session_and_dbt_wrapper() -> None:
    con = duckdb.connect()

    class CursorWrapper:  # what dbt-duckdb hands a Python model
        def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
            self._cursor = cursor

    assert backend_for(con).name == "duckdb"
    assert backend_for(CursorWrapper(con.cursor())).name == "duckdb"


def test_backend_for_unknown_session_names_the_type() -> None:
    with pytest.raises(TypeError, match="dbt session of type str"):
        backend_for("not a session")


def md5_sample(keys: list[str], proportion: float, seed: int) -> set[str]:
    """The records the portable u-estimation sample keeps, computed in Python (hashlib)."""
    threshold = max(1, round(proportion * 2**32))
    return {key for key in keys if int(hashlib.md5(f"{key}_{seed}".encode()).hexdigest()[:8], 16) < threshold}


def test_u_sample_is_engine_independent_md5_buckets() -> None:
    """splink samples records for the u estimation with the engine's own hash; the backend swaps in
    MD5 buckets, so DuckDB (here) and Spark (tests/test_spark_engine.py) keep the same records."""
    from splink.internals.input_column import InputColumn

    backend = DuckDBBackend.create()
    keys = [f"sales:{i:06d}" for i in range(5000)]
    clause = backend.db_api.sql_dialect.proportion_sample_sql(
        0.25, [InputColumn("record_key", sqlglot_dialect_str="duckdb")], seed=20240601
    )
    assert "md5(" in clause and "hash(" not in clause
    con = duckdb.connect()
    con.register("records", pa.table({"record_key": keys}))
    kept = {key for (key,) in con.execute(f"select record_key from records where 1 = 1 {clause}").fetchall()}
    assert kept == md5_sample(keys, 0.25, 20240601)
    assert 1100 < len(kept) < 1400  # about a quarter
    # A proportion of 1 keeps everything (no clause), as in splink.
    assert backend.db_api.sql_dialect.proportion_sample_sql(1.0, [], seed=1) == ""


def test_every_prediction_rule_needs_two_attributes_except_sales_names() -> None:
    """A name alone must not generate candidate pairs, except for sales refs typed as a name."""
    for rule in model_spec.prediction_blocking_rules():
        sql = rule if isinstance(rule, str) else rule.get_blocking_rule("duckdb").blocking_rule_sql
        compared = {col for col in model_spec.MATCH_COLUMNS if f"l.{col}" in sql or f'l."{col}"' in sql}
        assert len(compared) >= 2 or "sales_ref_type = 'name'" in sql, sql


# --------------------------------------------------------------------------- clustering


def test_cluster_records_transitive_closure() -> None:
    backend = DuckDBBackend.create()
    nodes = pa.table({"record_key": ["a", "b", "c", "d", "e"]})
    edges = pa.table({"record_key_l": ["a", "c"], "record_key_r": ["b", "b"]})
    clusters = backend.to_model_output(cluster_records(nodes, edges, backend)).to_pylist()
    by_key = {row["record_key"]: row["cluster_key"] for row in clusters}
    assert by_key == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "e"}


def test_cluster_records_without_edges() -> None:
    backend = DuckDBBackend.create()
    nodes = pa.table({"record_key": ["x", "y"]})
    edges = pa.table({"record_key_l": pa.array([], pa.string()), "record_key_r": pa.array([], pa.string())})
    clusters = backend.to_model_output(cluster_records(nodes, edges, backend)).to_pylist()
    assert sorted((r["record_key"], r["cluster_key"]) for r in clusters) == [("x", "x"), ("y", "y")]


def _random_graph(rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """Keys that sort differently as text and as numbers, chains, stars, cycles, loops, duplicates."""
    n = int(rng.integers(1, 60))
    keys = [
        f"{source}|{int(k)}"
        for source, k in zip(rng.choice(["sales", "reply_cards"], n), rng.permutation(500)[:n], strict=True)
    ]
    m = int(rng.integers(0, 2 * n))
    left, right = rng.integers(0, n, m), rng.integers(0, n, m)
    nodes = pa.table({"record_key": [keys[i] for i in rng.permutation(n)]})
    edges = pa.table(
        {"record_key_l": [keys[i] for i in left], "record_key_r": [keys[i] for i in right]},
        schema=pa.schema([("record_key_l", pa.string()), ("record_key_r", pa.string())]),
    )
    return nodes, edges


def test_cluster_records_on_duckdb_equals_splinks_label_propagation() -> None:
    """The SciPy components (DuckDB) give every record the cluster key splink's clustering gives it."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        nodes, edges = _random_graph(rng)
        backend = DuckDBBackend.create()
        ours = backend.to_model_output(cluster_records(nodes, edges, backend)).to_pylist()
        reference = DuckDBBackend.create()
        db_api = reference.db_api
        splinks = reference.to_model_output(
            _cluster_with_splink(
                db_api,
                db_api.register(nodes, table_name="identity_nodes"),
                db_api.register(edges, table_name="identity_edges"),
            )
        ).to_pylist()
        assert len(ours) == nodes.num_rows
        assert sorted((r["record_key"], r["cluster_key"]) for r in ours) == sorted(
            (r["record_key"], r["cluster_key"]) for r in splinks
        )


def test_cluster_records_rejects_an_edge_to_an_unknown_record() -> None:
    backend = DuckDBBackend.create()
    nodes = pa.table({"record_key": ["a", "b"]})
    edges = pa.table({"record_key_l": ["a", "z"], "record_key_r": ["b", "a"]})
    with pytest.raises(ValueError, match="1 edge end"):
        cluster_records(nodes, edges, backend)


# --------------------------------------------------------------------------- scoring (synthetic)

SURNAMES = list("王李张刘陈杨黄赵吴周")
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明"]


@dataclass(frozen=True)
class SyntheticRecords:
    table: pa.Table
    person_of: dict[str, int]


def synthetic_records(n_persons: int = 500, seed: int = 3) -> SyntheticRecords:
    """Reply cards and questionnaires of ``n_persons`` people drawn from 160 names (names repeat a lot)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    person_of: dict[str, int] = {}
    for p in range(n_persons):
        name = SURNAMES[rng.integers(len(SURNAMES))] + GIVEN[rng.integers(len(GIVEN))]
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=int(rng.integers(20_000)))
        address = f"台北市信义路{rng.integers(1, 400)}号{rng.integers(1, 20)}楼"
        phone = f"+8869{p:08d}"
        company = f"公司{rng.integers(60)}" if rng.random() < 0.4 else None
        for k in range(int(rng.integers(1, 4))):
            key = f"reply_cards|R{p}-{k}"
            rows.append(
                {
                    "record_key": key,
                    "name_norm": name,
                    "birth_date": birth,
                    "address_norm": address,
                    "company_norm": None,
                    "phone_e164": phone if rng.random() < 0.5 else None,
                    "email": None,
                    "sales_ref_type": None,
                }
            )
            person_of[key] = p
        for k in range(int(rng.integers(0, 3))):
            key = f"questionnaires|Q{p}-{k}"
            rows.append(
                {
                    "record_key": key,
                    "name_norm": name,
                    "birth_date": None,
                    "address_norm": None,
                    "company_norm": company,
                    "phone_e164": phone if rng.random() < 0.5 else None,
                    "email": None,
                    "sales_ref_type": None,
                }
            )
            person_of[key] = p
        if rng.random() < 0.3:
            key = f"sales|name:{name}#{p}"
            rows.append(
                {
                    "record_key": key,
                    "name_norm": name,
                    "birth_date": None,
                    "address_norm": None,
                    "company_norm": None,
                    "phone_e164": None,
                    "email": None,
                    "sales_ref_type": "name",
                }
            )
            person_of[key] = p
    rows.sort(key=lambda r: str(r["record_key"]))
    return SyntheticRecords(pa.Table.from_pylist(rows), person_of)


@pytest.fixture(scope="module")
def synthetic() -> SyntheticRecords:
    return synthetic_records()


@pytest.fixture(scope="module")
def scored(synthetic: SyntheticRecords) -> list[dict[str, object]]:
    backend = DuckDBBackend.create(threads=1)
    config = IdentityConfig(u_max_pairs=2e5)
    return backend.to_model_output(score_pairs(synthetic.table, backend, config)).to_pylist()


def test_scored_pairs_are_above_review_threshold_and_audit_columns_present(
    scored: list[dict[str, object]],
) -> None:
    assert scored, "expected candidate pairs on the synthetic data"
    assert min(float(p["match_probability"]) for p in scored) >= IdentityConfig().review_threshold
    assert {"record_key_l", "record_key_r", "match_weight", "blocking_rule_index", "mw_name_norm"} <= set(
        scored[0]
    )


def test_linked_pairs_are_precise_despite_repeated_names(
    synthetic: SyntheticRecords, scored: list[dict[str, object]]
) -> None:
    threshold = IdentityConfig().match_threshold
    linked = [p for p in scored if float(p["match_probability"]) >= threshold]
    wrong = [
        p
        for p in linked
        if synthetic.person_of[str(p["record_key_l"])] != synthetic.person_of[str(p["record_key_r"])]
    ]
    assert linked
    assert len(wrong) <= 0.01 * len(linked), wrong[:5]


def test_name_alone_never_links(synthetic: SyntheticRecords, scored: list[dict[str, object]]) -> None:
    """Sales refs typed as a (common) name share nothing else with anyone: no link may come of it."""
    threshold = IdentityConfig().match_threshold
    for pair in scored:
        keys = (str(pair["record_key_l"]), str(pair["record_key_r"]))
        if any(k.startswith("sales|") for k in keys):
            assert float(pair["match_probability"]) < threshold, pair


def test_same_name_birth_date_and_address_links(
    synthetic: SyntheticRecords, scored: list[dict[str, object]]
) -> None:
    """Two reply cards of one person (same name, birth date and address) are always linked."""
    threshold = IdentityConfig().match_threshold
    linked = {
        frozenset((str(p["record_key_l"]), str(p["record_key_r"])))
        for p in scored
        if float(p["match_probability"]) >= threshold
    }
    cards_by_person: dict[int, list[str]] = {}
    for key, person in synthetic.person_of.items():
        if key.startswith("reply_cards|"):
            cards_by_person.setdefault(person, []).append(key)
    expected = [frozenset(pair) for cards in cards_by_person.values() for pair in combinations(cards, 2)]
    missed = [pair for pair in expected if pair not in linked]
    assert expected
    assert not missed, missed[:5]


def test_scoring_empty_input_gives_empty_pairs(synthetic: SyntheticRecords) -> None:
    """A first run on an empty warehouse (or dbt build --empty) must not fail in training."""
    backend = DuckDBBackend.create(threads=1)
    empty = synthetic.table.slice(0, 0)
    assert backend.to_model_output(score_pairs(empty, backend, IdentityConfig())).num_rows == 0


def test_scoring_is_deterministic(synthetic: SyntheticRecords, scored: list[dict[str, object]]) -> None:
    backend = DuckDBBackend.create(threads=1)
    again = backend.to_model_output(score_pairs(synthetic.table, backend, IdentityConfig(u_max_pairs=2e5)))

    def key(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
        return sorted(
            (r["record_key_l"], r["record_key_r"], round(float(r["match_weight"]), 9)) for r in rows
        )

    assert key(again.to_pylist()) == key(scored)


def test_stored_model_scores_as_training_in_place(
    synthetic: SyntheticRecords, scored: list[dict[str, object]]
) -> None:
    """A model trained, stored as JSON and loaded again scores exactly like train-and-predict."""
    config = IdentityConfig(u_max_pairs=2e5)
    trained = train_model(synthetic.table, DuckDBBackend.create(threads=1), config)
    assert trained.named_records == synthetic.table.num_rows
    assert trained.em_rules, "EM ran on the synthetic data"
    assert "linker_uid" not in trained.settings
    loaded = json.loads(trained.settings_json)
    backend = DuckDBBackend.create(threads=1)
    rescored = backend.to_model_output(predict_pairs(synthetic.table, backend, config, loaded)).to_pylist()

    def key(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
        return sorted(
            (r["record_key_l"], r["record_key_r"], r["match_weight"], r["match_probability"]) for r in rows
        )

    assert key(rescored) == key(scored)


def test_stored_model_scores_new_records_without_retraining(synthetic: SyntheticRecords) -> None:
    """New records are scored against the old ones with the stored model's parameters."""
    config = IdentityConfig(u_max_pairs=2e5)
    half = synthetic.table.slice(0, synthetic.table.num_rows // 2)
    trained = train_model(half, DuckDBBackend.create(threads=1), config)
    backend = DuckDBBackend.create(threads=1)
    pairs = backend.to_model_output(predict_pairs(synthetic.table, backend, config, trained.settings))
    keys = set(pairs.column("record_key_l").to_pylist()) | set(pairs.column("record_key_r").to_pylist())
    new_keys = set(synthetic.table.column("record_key").to_pylist()) - set(
        half.column("record_key").to_pylist()
    )
    assert keys & new_keys, "pairs involving records the model never saw"


def test_spec_fingerprint_follows_training_settings_not_thresholds() -> None:
    base = spec_fingerprint(IdentityConfig())
    assert base == spec_fingerprint(IdentityConfig())
    assert base == spec_fingerprint(IdentityConfig(match_threshold=0.9, review_threshold=0.5))
    assert base == spec_fingerprint(IdentityConfig(retrain_growth=0.5))
    assert base != spec_fingerprint(IdentityConfig(seed=1))
    assert base != spec_fingerprint(IdentityConfig(u_max_pairs=1e6))
    assert base != spec_fingerprint(IdentityConfig(deterministic_recall=0.5))


@pytest.mark.parametrize(
    ("previous", "named", "fingerprint", "growth", "expected"),
    [
        (None, 100, "f", 0.1, "no stored model"),
        (StoredModel(1, "f", 100), 100, "g", 0.1, "spec or the training settings changed"),
        (StoredModel(1, "f", 100), 110, "f", 0.1, None),
        (StoredModel(1, "f", 100), 111, "f", 0.1, "changed by 11.0%"),
        (StoredModel(1, "f", 100), 89, "f", 0.1, "changed by 11.0%"),
        (StoredModel(1, "f", 100), 100, "f", 0.0, None),
        (StoredModel(1, "f", 100), 101, "f", 0.0, "100 -> 101"),
        (StoredModel(1, "f", 0), 0, "f", 0.1, None),
        (StoredModel(1, "f", 0), 2, "f", 0.1, "changed by 200.0%"),
    ],
)
def test_retrain_reason(
    previous: StoredModel | None, named: int, fingerprint: str, growth: float, expected: str | None
) -> None:
    reason = retrain_reason(previous, named, fingerprint, growth)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


def test_force_retrains_a_current_model_but_a_missing_one_says_so() -> None:
    current = StoredModel(1, "f", 100)
    assert retrain_reason(current, 100, "f", 0.1) is None
    assert retrain_reason(current, 100, "f", 0.1, force=True) == "identity_force_retrain was set"
    assert retrain_reason(None, 100, "f", 0.1, force=True) == "no stored model"


@pytest.mark.parametrize(
    ("raw", "flag"), [("True", True), ("true", True), ("False", False), (None, False), ("", False)]
)
def test_parse_flag(raw: object, flag: bool) -> None:
    assert parse_flag(raw) is flag


def test_parse_flag_rejects_other_values() -> None:
    with pytest.raises(ValueError, match="identity_force_retrain must be true or false; got 'maybe'"):
        parse_flag("maybe")


def test_model_row_records_the_model(synthetic: SyntheticRecords) -> None:
    trained = train_model(synthetic.table.slice(0, 0), DuckDBBackend.create(threads=1), IdentityConfig())
    assert trained.named_records == 0 and trained.em_rules == ()
    stamp = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    (row,) = model_row(trained, 3, stamp, "no stored model", "f").to_pylist()
    assert row["model_version"] == 3 and row["trained_at"] == stamp and row["named_records"] == 0
    assert row["em_rules"] == "" and json.loads(row["settings_json"]) == trained.settings
    assert row["settings_sha256"] == hashlib.sha256(row["settings_json"].encode()).hexdigest()
    assert (
        row["probability_two_random_records_match"] == model_spec.PRIOR_PROBABILITY_TWO_RANDOM_RECORDS_MATCH
    )


def test_retrain_growth_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="identity_retrain_growth"):
        IdentityConfig.parse(retrain_growth="-0.1")


# --------------------------------------------------------------------------- end to end (generated sample)

LINK_COLUMNS = "source, source_record_id, customer_id, match_rule, match_probability"


def run(args: list[str], env: dict[str, str], cwd: Path = REPO) -> float:
    """Run a command, fail the test with its output if it fails; returns the elapsed seconds."""
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
        )
    return time.perf_counter() - started


@dataclass
class Sample:
    data_dir: Path
    env: dict[str, str]

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    def ingest(self) -> float:
        return run([str(VENV_BIN / "python"), "-m", "crm.ingest", "--no-docs"], self.env)

    def dbt(self, *args: str) -> float:
        target = self.data_dir / "dbt_target"
        return run(
            [
                str(VENV_BIN / "dbt"),
                *args,
                "--profiles-dir",
                ".",
                "--target-path",
                str(target),
                "--log-path",
                str(target / "logs"),
            ],
            self.env,
            cwd=DBT_PROJECT,
        )

    def build_identity(self, *extra: str) -> float:
        # cautious: only tests whose parents are all selected (not the marts' tests on staging).
        return self.dbt(
            "build", "--select", "+int_customers_resolved", "--indirect-selection", "cautious", *extra
        )

    def model_versions(self) -> list[tuple[int, str, int]]:
        """(model_version, trained_because, named_records) of int_identity__models_trained."""
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(
                "select model_version, trained_because, named_records "
                "from intermediate.int_identity__models_trained order by model_version"
            ).fetchall()

    def named_records(self) -> int:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            (n,) = con.execute(
                "select count(*) from intermediate.int_identity__contact_records where name_norm is not null"
            ).fetchone()
        return int(n)

    def links(self) -> dict[tuple[str, str], tuple[str, str, float]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            rows = con.execute(
                f"select {LINK_COLUMNS} from intermediate.int_customer_identity_links"
            ).fetchall()
        return {(s, r): (c, rule, p) for s, r, c, rule, p in rows}

    def linked_at(self) -> dict[tuple[str, str], object]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            rows = con.execute(
                "select source, source_record_id, linked_at from intermediate.int_customer_identity_links"
            ).fetchall()
        return {(s, r): linked_at for s, r, linked_at in rows}


@dataclass(frozen=True)
class Accuracy:
    precision: float
    recall: float
    records: int
    persons: int
    customers: int
    ambiguous_sales_refs: int


def pairwise_accuracy(sample: Sample) -> Accuracy:
    """Pairwise precision and recall of the record clustering against the generator's answer key.

    Questionnaires and reply cards map to a person by record key (response_id, card_id). A sales
    record is a customer reference; its true person is the one most of its lines belong to (a name
    typed for two namesakes is one reference: those lines count as ambiguous and cannot all be right).
    """
    answer_key = sample.data_dir / "answer_key" / "person_ids.csv"
    con = duckdb.connect()
    try:
        # Attached under its own name: the staging views refer to the catalog "warehouse".
        con.execute(f"attach '{sample.warehouse}' as warehouse (read_only)")
        con.execute(
            "create table answer as select distinct source, record_key, person_id "
            f"from read_csv('{answer_key}', all_varchar = true)"
        )
        con.execute(
            """
            create table truth as
            with sales_lines as (
                select answer.person_id, lines.customer_ref_type || ':' || lines.customer_ref_norm as ref
                from answer
                inner join warehouse.staging.stg_sales__order_lines as lines
                    on answer.record_key = lines.order_id || '|' || cast(lines.line_no as varchar)
                where answer.source = 'sales'
            ),
            votes as (
                select ref, person_id, row_number() over (
                    partition by ref order by count(*) desc, person_id
                ) as rank
                from sales_lines
                group by ref, person_id
            )
            select 'sales' as source, ref as source_record_id, person_id from votes where rank = 1
            union all
            select source, record_key, person_id from answer where source in ('questionnaires', 'reply_cards')
            """
        )
        con.execute(
            """
            create table judged as
            select links.customer_id, truth.person_id
            from warehouse.intermediate.int_customer_identity_links as links
            inner join truth using (source, source_record_id)
            """
        )
        pairs = "select sum(n * (n - 1) / 2) from (select count(*) as n from judged group by {})"
        (true_positive,) = con.execute(pairs.format("customer_id, person_id")).fetchone()
        (predicted,) = con.execute(pairs.format("customer_id")).fetchone()
        (actual,) = con.execute(pairs.format("person_id")).fetchone()
        records, persons, customers = con.execute(
            "select count(*), count(distinct person_id), count(distinct customer_id) from judged"
        ).fetchone()
        (ambiguous,) = con.execute(
            """
            select count(*) from (
                select ref from (
                    select lines.customer_ref_type || ':' || lines.customer_ref_norm as ref, answer.person_id
                    from answer
                    inner join warehouse.staging.stg_sales__order_lines as lines
                        on answer.record_key = lines.order_id || '|' || cast(lines.line_no as varchar)
                    where answer.source = 'sales'
                ) group by ref having count(distinct person_id) > 1
            )
            """
        ).fetchone()
    finally:
        con.close()
    return Accuracy(
        precision=float(true_positive) / float(predicted) if predicted else 1.0,
        recall=float(true_positive) / float(actual),
        records=records,
        persons=persons,
        customers=customers,
        ambiguous_sales_refs=ambiguous,
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sample]:
    from crm.sample_data import GenerationConfig, generate

    data_dir = tmp_path_factory.mktemp("identity_sample")
    env = {
        **os.environ,
        "CRM_DATA_DIR": str(data_dir),
        "CRM_WAREHOUSE_PATH": str(data_dir / "warehouse.duckdb"),
        "CRM_DBT_THREADS": "1",
    }
    generate(data_dir, GenerationConfig())
    built = Sample(data_dir, env)
    built.ingest()
    seconds = built.build_identity()
    print(f"\nidentity models built on the default sample in {seconds:.1f} s (dbt build incl. tests)")
    yield built


@pytest.mark.timeout(1800)
class TestOnGeneratedSample:
    """End to end on the default generated sample (order matters: the last test appends data)."""

    def test_precision_and_recall_against_answer_key(self, sample: Sample) -> None:
        accuracy = pairwise_accuracy(sample)
        print(
            f"\nidentity resolution on the default sample: pairwise precision {accuracy.precision:.4f}, "
            f"recall {accuracy.recall:.4f} ({accuracy.records} records, {accuracy.persons} persons, "
            f"{accuracy.customers} customers, {accuracy.ambiguous_sales_refs} ambiguous sales refs)"
        )
        assert accuracy.precision >= PRECISION_FLOOR
        assert accuracy.recall >= RECALL_FLOOR

    def test_rerun_on_identical_inputs_is_identical(self, sample: Sample) -> None:
        before, linked_before = sample.links(), sample.linked_at()
        sample.build_identity()
        assert sample.links() == before
        assert sample.linked_at() == linked_before, "no customer_id changed, so no record is linked anew"
        # the first build trained the model; the rerun reused it
        assert sample.model_versions() == [(1, "no stored model", sample.named_records())]
        with duckdb.connect(str(sample.warehouse), read_only=True) as con:
            leftovers = con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where contains(table_name, '__dbt_tmp') or contains(table_name, '__dbt_backup')"
            ).fetchall()
        assert not leftovers, "a build leaves no work relation behind"

    def test_a_changed_training_setting_retrains_and_the_old_one_reuses_nothing(self, sample: Sample) -> None:
        """A new seed is another model: version 2; back to the default seed is version 3 (the
        spec changed again), which scores like version 1 (training is deterministic)."""
        before = sample.links()
        sample.build_identity("--vars", "{identity_seed: 7}")
        sample.build_identity()
        versions = sample.model_versions()
        assert [v for v, _, _ in versions] == [1, 2, 3]
        assert all("spec or the training settings changed" in why for _, why, _ in versions[1:])
        with duckdb.connect(str(sample.warehouse), read_only=True) as con:
            hashes = con.execute(
                "select settings_sha256 from intermediate.int_identity__models_trained order by model_version"
            ).fetchall()
        assert hashes[0] == hashes[2]
        assert sample.links() == before

    def test_full_refresh_keeps_the_model_history_and_force_retrains(self, sample: Sample) -> None:
        versions = sample.model_versions()
        sample.dbt("run", "--select", "int_identity__models_trained", "--full-refresh")
        assert sample.model_versions() == versions, "--full-refresh must not wipe or retrain"
        sample.dbt(
            "run", "--select", "int_identity__models_trained", "--vars", "{identity_force_retrain: true}"
        )
        assert sample.model_versions() == [
            *versions,
            (versions[-1][0] + 1, "identity_force_retrain was set", sample.named_records()),
        ]

    def test_rebuild_from_scratch_gives_the_same_ids(self, sample: Sample) -> None:
        """Without a previous run the anchor is the earliest record: a dropped table re-mints the same ids."""
        before = sample.links()
        with duckdb.connect(str(sample.warehouse)) as con:
            con.execute("drop table intermediate.int_customer_identity_links")
        sample.dbt("run", "--select", "int_customer_identity_links")
        assert sample.links() == before

    def test_table_from_before_linked_at_gets_the_column(self, sample: Sample) -> None:
        """The links table cannot be rebuilt: a table written before linked_at existed gets the column
        from the pre-hook, keeps every id, and its records count as linked by this run."""
        before = sample.links()
        with duckdb.connect(str(sample.warehouse)) as con:
            con.execute("alter table intermediate.int_customer_identity_links drop column linked_at")
        sample.dbt("run", "--select", "int_customer_identity_links")
        assert sample.links() == before
        stamps = set(sample.linked_at().values())
        assert None not in stamps and len(stamps) == 1, stamps

    def test_ids_survive_new_data(self, sample: Sample) -> None:
        """New sales arrive: old records keep their customer_id unless their customer merged into an older."""
        from crm.sample_data import append_sales

        before, linked_before = sample.links(), sample.linked_at()
        versions_before, named_before = sample.model_versions(), sample.named_records()
        append_sales(sample.data_dir, n_lines=3_000)
        sample.ingest()
        sample.build_identity()
        after = sample.links()
        # the stored model is retrained exactly when the named records grew past the 10% default
        growth = (sample.named_records() - named_before) / named_before
        retrained = sample.model_versions()[len(versions_before) :]
        print(f"named records grew {growth:.2%}; new model versions: {retrained}")
        assert len(retrained) == (1 if growth > 0.10 else 0)

        assert set(before) <= set(after)
        old_ids = {customer_id for customer_id, _, _ in before.values()}
        surviving_ids = {customer_id for customer_id, _, _ in after.values()}
        changed = {key: (before[key][0], after[key][0]) for key in before if before[key][0] != after[key][0]}
        merged = {key for key, (old, new) in changed.items() if new in old_ids and old not in surviving_ids}
        new_records = len(after) - len(before)
        print(
            f"\nafter appending sales: {new_records} new records, {len(changed)} of {len(before)} old "
            f"records changed customer_id ({len(merged)} by merging into an older customer)"
        )
        assert new_records > 0
        assert set(changed) == merged, {k: v for k, v in changed.items() if k not in merged}
        # linked_at moves exactly for the records whose customer_id changed, and is set for new ones
        linked_after = sample.linked_at()
        relinked = {key for key in before if linked_after[key] != linked_before[key]}
        assert relinked == set(changed)
        assert all(linked_after[key] > linked_before[key] for key in relinked)
        assert None not in linked_after.values()

    def test_new_records_past_the_retrain_growth_retrain(self, sample: Sample) -> None:
        """With identity_retrain_growth 0, any new named record trains a new version."""
        from crm.sample_data import append_sales

        versions_before, named_before = sample.model_versions(), sample.named_records()
        append_sales(sample.data_dir, n_lines=1_000)
        sample.ingest()
        sample.build_identity("--vars", "{identity_retrain_growth: 0}")
        named_after = sample.named_records()
        assert named_after > named_before
        (latest,) = sample.model_versions()[len(versions_before) :]
        assert latest[0] == versions_before[-1][0] + 1
        # growth is measured from the records the stored version was trained on
        assert f"{versions_before[-1][2]:,} -> {named_after:,}" in latest[1]
        assert latest[2] == named_after


def test_external_step_reads_the_identity_vars_from_the_model_meta() -> None:
    """PostgreSQL and Spark score in crm.engines.identity_step with the settings dbt renders into
    int_identity__scored_pairs's meta (keys named like the vars: identity_match_threshold, ...)."""
    from types import SimpleNamespace

    from crm.engines.identity_step import identity_config

    meta = {
        "identity_match_threshold": "0.97",
        "identity_review_threshold": "0.6",
        "identity_seed": "11",
        "identity_min_em_pairs": "50",
    }
    node = SimpleNamespace(
        resource_type="model", name="int_identity__scored_pairs", config=SimpleNamespace(meta=meta)
    )
    config = identity_config(SimpleNamespace(nodes={"model.x": node}))
    assert config == IdentityConfig(match_threshold=0.97, review_threshold=0.6, seed=11, min_em_pairs=50)


def test_stored_versions_are_kept_and_the_latest_is_the_highest(synthetic: SyntheticRecords) -> None:
    from crm.identity.retraining import latest_model, with_version

    trained = train_model(synthetic.table.slice(0, 0), DuckDBBackend.create(threads=1), IdentityConfig())
    stamp = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    assert latest_model(None) is None
    assert with_version(None, None).num_rows == 0
    first = with_version(None, model_row(trained, 1, stamp, "no stored model", "f"))
    # a stored table comes back from DuckDB with its own column order and types
    con = duckdb.connect()
    stored = con.from_arrow(first).project("* exclude (model_version), model_version").to_arrow_table()
    both = with_version(stored, model_row(trained, 2, stamp, "forced", "g"))
    assert both.column("model_version").to_pylist() == [1, 2]
    assert latest_model(both) == StoredModel(2, "g", 0)
    assert with_version(both, None).equals(both)
