"""End-to-end test of the dbt warehouse: sample data -> ingestion -> ``dbt build`` -> mart-level facts.

One session-scoped build: a small generated sample is ingested into a temporary DuckDB file and
``dbt build`` runs every seed, model, snapshot, data test and unit test on it. The tests below then
check the build's results and a few facts about the marts directly (independently of dbt's own
tests), that ``dbt docs generate`` works, and that the incremental ``fct_sales`` equals a full
refresh after new lines arrive and a customer is re-linked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DBT_PROJECT = REPO / "dbt_project"
VENV_BIN = Path(sys.executable).parent
SAMPLE_SALES_LINES = 1_500
TEST_PII_SALT = "test-salt-for-test_dbt_project"

MARTS = (
    "dim_customers",
    "fct_sales",
    "fct_questionnaire_responses",
    "fct_reply_cards",
    "customer_rfm",
    "customer_rfm_monthly",
    "rfm_segment_migrations",
    "customer_value_tiers",
    "customer_pareto_summary",
    "loyalty_monthly",
    "cohort_retention",
    "product_performance",
    "customer_kpis",
)
RFM_SEGMENTS = {
    "Champions", "Loyal", "Potential Loyalist", "New", "Promising", "Need Attention",
    "About to Sleep", "At Risk", "Cannot Lose Them", "Hibernating", "Lost",
}  # fmt: skip
VALUE_TIERS = {"high_value", "regular", "small", "no_revenue"}
LIFECYCLE_STATUSES = {"current", "target", "potential"}
RAW_PII_COLUMNS = {"phone", "phone_e164", "email", "display_name", "member_id", "birth_date", "address"}

pytestmark = pytest.mark.timeout(600)


@dataclass
class Warehouse:
    """A sample warehouse built by ``dbt build``, and a way to run dbt against it (or a copy)."""

    data_dir: Path
    path: Path
    build_seconds: float
    run_results: dict

    def env(self, warehouse: Path | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "CRM_DATA_DIR": str(self.data_dir),
            "CRM_WAREHOUSE_PATH": str(warehouse or self.path),
            "CRM_SETTLE_SECONDS": "0",
            "CRM_PII_SALT": TEST_PII_SALT,
            "CRM_DBT_TARGET": "dev",
            "CRM_DBT_THREADS": "2",
            "GX_ANALYTICS_ENABLED": "False",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def dbt(self, *args: str, warehouse: Path | None = None, target: str = "dbt_target") -> Path:
        """Run dbt in the repo's project with its own target/log folders; fail with dbt's output."""
        target_path = self.data_dir / target
        run(
            [
                str(VENV_BIN / "dbt"),
                *args,
                "--profiles-dir",
                ".",
                "--target-path",
                str(target_path),
                "--log-path",
                str(target_path / "logs"),
            ],
            self.env(warehouse),
            cwd=DBT_PROJECT,
        )
        return target_path

    def query(self, sql: str, warehouse: Path | None = None) -> list[tuple]:
        with duckdb.connect(str(warehouse or self.path), read_only=True) as con:
            return con.execute(sql).fetchall()


def run(command: list[str], env: dict[str, str], cwd: Path = REPO) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command[:3])} failed with exit code {result.returncode}:\n"
            f"{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
        )
    return time.perf_counter() - started


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    sample_data = pytest.importorskip("crm.sample_data", reason="crm.sample_data (the generator) is missing")
    pytest.importorskip("crm.ingest", reason="crm.ingest (the ingestion) is missing")

    data_dir = tmp_path_factory.mktemp("dbt_project") / "data"
    sample_data.generate(data_dir, sample_data.GenerationConfig(sales_lines=SAMPLE_SALES_LINES))
    built = Warehouse(data_dir, data_dir / "warehouse.duckdb", 0.0, {})
    run([str(VENV_BIN / "python"), "-m", "crm.ingest", "--no-docs"], built.env())

    started = time.perf_counter()
    target = built.dbt("build")
    built.build_seconds = time.perf_counter() - started
    built.run_results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    print(f"\ndbt build on a {SAMPLE_SALES_LINES}-line sample: {built.build_seconds:.1f} s")
    yield built
    shutil.rmtree(data_dir, ignore_errors=True)


def test_dbt_build_runs_every_node_without_failure(warehouse: Warehouse) -> None:
    results = [r for r in warehouse.run_results["results"] if not r["unique_id"].startswith("exposure.")]
    failed = [(r["unique_id"], r["status"]) for r in results if r["status"] not in ("success", "pass")]
    assert not failed, f"dbt build reported failures: {failed}"
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "seed", "snapshot", "test", "unit_test"} <= kinds
    unit_tests = [r for r in results if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 19


def test_every_mart_is_built_with_rows(warehouse: Warehouse) -> None:
    for mart in MARTS:
        (rows,) = warehouse.query(f"select count(*) from marts.{mart}")[0]
        assert rows > 0, f"marts.{mart} is empty"


def test_every_customer_has_exactly_one_tier_and_lifecycle_status(warehouse: Warehouse) -> None:
    (customers, distinct_customers, tiers, statuses) = warehouse.query(
        "select count(*), count(distinct customer_id), list(distinct value_tier), "
        "list(distinct lifecycle_status) from marts.dim_customers"
    )[0]
    (resolved,) = warehouse.query("select count(*) from intermediate.int_customers_resolved")[0]
    assert customers == distinct_customers == resolved
    assert set(tiers) <= VALUE_TIERS
    assert set(statuses) <= LIFECYCLE_STATUSES
    (mismatched,) = warehouse.query(
        "select count(*) from marts.dim_customers d "
        "full join marts.customer_value_tiers t using (customer_id) "
        "where d.value_tier is distinct from t.value_tier"
    )[0]
    assert mismatched == 0


def test_revenue_reconciles_with_raw_sales_to_the_cent(warehouse: Warehouse) -> None:
    (raw_net, mart_net, lines, raw_lines) = warehouse.query(
        "select "
        "(select round(sum(quantity * unit_price * (1 - coalesce(discount, 0))), 2) from raw.sales), "
        "(select round(sum(net_amount), 2) from marts.fct_sales), "
        "(select count(*) from marts.fct_sales), (select count(*) from raw.sales)"
    )[0]
    assert lines == raw_lines
    assert mart_net == raw_net
    (customer_total, rfm_total) = warehouse.query(
        "select (select round(sum(net_revenue), 2) from marts.dim_customers), "
        "(select round(sum(monetary), 2) from marts.customer_rfm)"
    )[0]
    # The default reference date is the day after the latest order: every line counts.
    assert customer_total == rfm_total == raw_net


def test_rfm_scores_segments_and_unscored_customers(warehouse: Warehouse) -> None:
    rows = warehouse.query(
        "select r_score, f_score, m_score, rfm_cell, rfm_segment, is_rfm_scored, frequency, monetary "
        "from marts.customer_rfm"
    )
    assert rows
    for r, f, m, cell, segment, scored, frequency, monetary in rows:
        assert {r, f, m} <= {1, 2, 3, 4, 5}
        assert cell == f"{r}{f}{m}"
        assert segment in RFM_SEGMENTS
        assert scored == (frequency > 0 and monetary > 0)
        if not scored:
            assert (cell, segment) == ("111", "Lost")
    recency_scores = {row[0] for row in rows if row[5]}
    assert recency_scores == {1, 2, 3, 4, 5}, "every recency quintile should be used"
    (tied_groups_split,) = warehouse.query(
        "select count(*) from (select monetary from marts.customer_rfm where is_rfm_scored "
        "group by monetary having count(distinct m_score) > 1)"
    )[0]
    assert tied_groups_split == 0, "customers with equal monetary must share m_score"


def test_pareto_summary_is_a_concentration_curve(warehouse: Warehouse) -> None:
    points = warehouse.query(
        "select customer_share_pct, revenue_share, top_customer_revenue_share "
        "from marts.customer_pareto_summary order by customer_share_pct"
    )
    shares = [share for _pct, share, _top in points]
    assert points[0][:2] == (0, 0.0)
    assert points[-1][0] == 100 and points[-1][1] == pytest.approx(1.0)
    assert shares == sorted(shares), "revenue share must not decrease along the curve"
    top_share = points[0][2]
    assert 0.2 <= top_share <= 1.0
    twenty = dict((pct, share) for pct, share, _top in points)[20]
    assert twenty == pytest.approx(top_share)


def test_monthly_rates_are_proportions(warehouse: Warehouse) -> None:
    rows = warehouse.query(
        "select month_start, retention_rate, churn_rate, repeat_purchase_rate, new_customer_rate, csat "
        "from marts.loyalty_monthly"
    )
    for month, *rates in rows:
        for rate in rates:
            assert rate is None or 0.0 <= rate <= 1.0, f"{month}: rate {rate} outside [0, 1]"
    (months_with_churn_rate,) = warehouse.query(
        "select count(*) from marts.loyalty_monthly where churn_rate is not null"
    )[0]
    assert months_with_churn_rate > 0


def test_marts_publish_no_raw_personal_data(warehouse: Warehouse) -> None:
    columns = {
        column
        for (column,) in warehouse.query(
            "select column_name from information_schema.columns where table_schema = 'marts'"
        )
    }
    assert not columns & RAW_PII_COLUMNS
    leaks = warehouse.query(
        "select count(*) from marts.dim_customers d join intermediate.int_customers_resolved r "
        "using (customer_id) where d.phone_masked = r.phone_e164 or d.email_masked = r.email "
        "or d.display_name_masked = r.display_name and length(r.display_name) > 1"
    )
    assert leaks == [(0,)]
    (hash_length,) = warehouse.query(
        "select max(length(phone_hash)) from marts.dim_customers where phone_hash is not null"
    )[0]
    assert hash_length == 64, "phone_hash should be a hex SHA-256"


def test_marketing_contactable_needs_explicit_consent(warehouse: Warehouse) -> None:
    (contactable_without_consent,) = warehouse.query(
        "select count(*) from marts.dim_customers "
        "where marketing_contactable and marketing_consent is not true"
    )[0]
    assert contactable_without_consent == 0


def test_classification_snapshot_has_one_current_version_per_customer(warehouse: Warehouse) -> None:
    (current, customers) = warehouse.query(
        "select count(*) filter (where dbt_valid_to is null), count(distinct customer_id) "
        "from snapshots.customer_classification_snapshot"
    )[0]
    (resolved,) = warehouse.query("select count(*) from intermediate.int_customers_resolved")[0]
    assert current == customers == resolved


def test_docs_generate_documents_every_mart(warehouse: Warehouse) -> None:
    target = warehouse.dbt("docs", "generate", target="dbt_docs")
    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))
    documented = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert set(MARTS) <= documented
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    for mart in MARTS:
        node = manifest["nodes"][f"model.crm_warehouse.{mart}"]
        assert "grain" in node["description"].lower(), f"{mart}: the description must state the grain"
        assert node["config"]["contract"]["enforced"], f"{mart}: the contract must be enforced"


@pytest.mark.parametrize(
    ("configured", "expected"), [(None, "1.6 GiB"), ("300MB", "286.1 MiB")], ids=["default", "configured"]
)
def test_duckdb_memory_limit_comes_from_the_environment(
    warehouse: Warehouse, configured: str | None, expected: str
) -> None:
    """The profile bounds DuckDB's buffer pool: 1800 MB unless CRM_DUCKDB_MEMORY_LIMIT says otherwise.

    The settings are connection options (set once when dbt-duckdb connects, not again per node), and
    they reach the cursors the nodes run on."""
    env = {k: v for k, v in warehouse.env().items() if k != "CRM_DUCKDB_MEMORY_LIMIT"}
    if configured is not None:
        env["CRM_DUCKDB_MEMORY_LIMIT"] = configured
    target = warehouse.data_dir / "dbt_target_memory_limit"
    sql = (
        "select current_setting('memory_limit') as memory_limit,"
        " current_setting('preserve_insertion_order') as preserve_insertion_order"
    )
    command = [str(VENV_BIN / "dbt"), "show", "--inline", sql, "--output", "json", "--quiet"]
    command += ["--profiles-dir", ".", "--target-path", str(target), "--log-path", str(target / "logs")]
    result = subprocess.run(command, env=env, cwd=DBT_PROJECT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    shown = json.loads(result.stdout[result.stdout.index("{") :])
    assert shown["show"] == [{"memory_limit": expected, "preserve_insertion_order": False}]
    profile = yaml.safe_load((DBT_PROJECT / "profiles.yml").read_text(encoding="utf-8"))
    for name in ("dev", "ci"):
        assert "settings" not in profile["crm_warehouse"]["outputs"][name], f"{name}: SET per node again"


def test_out_of_memory_names_the_node_and_the_setting(warehouse: Warehouse, tmp_path: Path) -> None:
    """A node DuckDB cannot run under the memory limit fails, and the on-run-end hook says which node
    and which setting to raise; a run within the limit says nothing of the kind."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse.path, copy)
    hint = "DuckDB ran out of memory in int_customers_purchases_summarised under the profile's memory_limit"
    outputs = {}
    for limit in ("4MB", "2GB"):
        env = {**warehouse.env(copy), "CRM_DUCKDB_MEMORY_LIMIT": limit}
        target = tmp_path / f"target_{limit}"
        command = [str(VENV_BIN / "dbt"), "run", "--select", "int_customers_purchases_summarised"]
        command += ["--profiles-dir", ".", "--target-path", str(target), "--log-path", str(target / "logs")]
        result = subprocess.run(
            command, env=env, cwd=DBT_PROJECT, capture_output=True, text=True, check=False
        )
        outputs[limit] = (result.returncode, result.stdout + result.stderr)
    code, output = outputs["4MB"]
    assert code == 1 and "Out of Memory Error" in output, output[-4000:]
    assert f"{hint} of 4MB: raise CRM_DUCKDB_MEMORY_LIMIT" in output, output[-4000:]
    code, output = outputs["2GB"]
    assert code == 0 and "ran out of memory" not in output, output[-4000:]


def test_incremental_fct_sales_equals_a_full_refresh(warehouse: Warehouse) -> None:
    """New lines arrive (one batch loaded later, one committed late with an older load time) and one
    sales reference is re-linked to another customer: the incremental run of the line fact and of
    the orders aggregated from it must give exactly what a full refresh gives (on a copy of the
    warehouse)."""
    # Same file name: DuckDB names the catalog after the file and the staging views refer to it.
    copy = warehouse.data_dir / "incremental" / warehouse.path.name
    copy.parent.mkdir()
    shutil.copyfile(warehouse.path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "insert into raw.sales select order_id || '-LATE', line_no, order_date + 1, "
            "customer_ref, customer_ref_type, customer_ref_norm, sku, product_name, category, quantity, "
            "unit_price, unit_cost, discount, channel, salesperson, original_order_id, _source_file, "
            "_source_row, _file_sha256, 'late-batch', _loaded_at + interval 1 day "
            "from raw.sales where not quantity < 0 order by order_id, line_no limit 25"
        )
        # a batch committed late with an older load time than the table's latest line: found by
        # its batch id, not by the load-time watermark
        con.execute(
            "insert into raw.sales select order_id || '-BACKDATED', line_no, order_date, "
            "customer_ref, customer_ref_type, customer_ref_norm, sku, product_name, category, quantity, "
            "unit_price, unit_cost, discount, channel, salesperson, original_order_id, _source_file, "
            "_source_row, _file_sha256, 'backdated-batch', _loaded_at - interval 1 day "
            "from raw.sales where not quantity < 0 order by order_id desc, line_no limit 10"
        )
        (relinked_ref, new_customer) = con.execute(
            "select l.source_record_id, (select min(customer_id) from intermediate.int_customers_resolved "
            " where customer_id <> l.customer_id) from intermediate.int_customer_identity_links l "
            "where l.source = 'sales' order by l.source_record_id limit 1"
        ).fetchone()
        # as identity resolution re-links: a new customer_id, linked now
        con.execute(
            "update intermediate.int_customer_identity_links set customer_id = ?, linked_at = now() "
            "where source = 'sales' and source_record_id = ?",
            [new_customer, relinked_ref],
        )
    (orders_before,) = warehouse.query(
        "select max(_computed_at) from intermediate.int_order_lines_aggregated_to_orders", warehouse=copy
    )[0]
    incremental_models = (
        "int_order_lines_joined_to_customers",
        "fct_sales",
        "int_order_lines_aggregated_to_orders",
    )
    compared = {
        "marts.fct_sales": "fct_sales_incremental",
        "intermediate.int_order_lines_aggregated_to_orders": "orders_incremental",
    }
    warehouse.dbt("run", "--select", *incremental_models, warehouse=copy, target="dbt_incr")
    with duckdb.connect(str(copy)) as con:
        for table, snapshot in compared.items():
            con.execute(f"create or replace table main.{snapshot} as select * from {table}")
    warehouse.dbt(
        "run", "--select", *incremental_models[1:], "--full-refresh", warehouse=copy, target="dbt_incr"
    )
    with duckdb.connect(str(copy), read_only=True) as con:
        difference = (
            "select count(*) from (select * exclude (_computed_at) from {} "
            "except all select * exclude (_computed_at) from {})"
        )
        differences = {
            (table, direction): con.execute(difference.format(*pair)).fetchone()[0]
            for table, snapshot in compared.items()
            for direction, pair in (
                ("only incremental", (f"main.{snapshot}", table)),
                ("only full refresh", (table, f"main.{snapshot}")),
            )
        }
        # the incremental run re-aggregated only the orders of the lines it wrote, not all of them
        (reaggregated, orders) = con.execute(
            "select count(*) filter (where _computed_at > ?), count(*) from main.orders_incremental",
            [orders_before],
        ).fetchone()
        relinked_orders = con.execute(
            "select distinct o.customer_id from main.orders_incremental o "
            "join main.fct_sales_incremental f using (order_id) "
            "join staging.stg_sales__order_lines s using (order_line_id) "
            "where s.customer_ref_type || ':' || s.customer_ref_norm = ?",
            [relinked_ref],
        ).fetchall()
        late_lines = dict(
            con.execute(
                "select _batch_id, count(*) from main.fct_sales_incremental "
                "where _batch_id in ('late-batch', 'backdated-batch') group by _batch_id"
            ).fetchall()
        )
        relinked_customers = con.execute(
            "select distinct f.customer_id from main.fct_sales_incremental f "
            "join staging.stg_sales__order_lines s using (order_line_id) "
            "where s.customer_ref_type || ':' || s.customer_ref_norm = ?",
            [relinked_ref],
        ).fetchall()
        (total_net,) = con.execute("select sum(net_amount) from main.fct_sales_incremental").fetchone()
    assert set(differences.values()) == {0}, differences
    assert 0 < reaggregated < orders / 2, (reaggregated, orders)
    assert (new_customer,) in relinked_orders
    assert late_lines == {"late-batch": 25, "backdated-batch": 10}
    assert relinked_customers == [(new_customer,)]
    assert isinstance(total_net, Decimal)


#: What an incremental run of the monthly history rebuilds (upstream tables included), and the
#: incremental models compared with a full refresh (table -> its month column).
MONTHLY_CHAIN = (
    "int_reference_dates_resolved",
    "int_calendar_months_generated",
    "int_order_lines_joined_to_customers",
    "fct_sales",
    "int_order_lines_aggregated_to_orders",
    "int_customer_months_spined",
    "customer_rfm_monthly",
    "rfm_segment_migrations",
)
MONTHLY_TABLES = {
    "intermediate.int_customer_months_spined": "month_start",
    "marts.customer_rfm_monthly": "snapshot_month",
    "marts.rfm_segment_migrations": "snapshot_month",
}
MONTHLY_MODELS = tuple(table.split(".")[1] for table in MONTHLY_TABLES)


def _incremental_monthly_run(warehouse: Warehouse, copy: Path, *dbt_args: str) -> dict[str, object]:
    """Run the monthly chain incrementally, then its incremental models fully refreshed; per model, the rows
    only one of the two results holds and the earliest month the incremental run rewrote (None: none)."""
    before = {
        table: warehouse.query(f"select max(_computed_at) from {table}", warehouse=copy)[0][0]
        for table in MONTHLY_TABLES
    }
    warehouse.dbt("run", "--select", *MONTHLY_CHAIN, *dbt_args, warehouse=copy, target="dbt_monthly")
    outcome: dict[str, object] = {}
    with duckdb.connect(str(copy)) as con:
        for table, month in MONTHLY_TABLES.items():
            name = table.split(".")[1]
            con.execute(
                f"create or replace table main.{name}_incremental as "
                f"select * exclude (_computed_at) from {table}"
            )
            (outcome[f"{name} rewritten from"],) = con.execute(
                f"select min({month}) from {table} where _computed_at > ?", [before[table]]
            ).fetchone()
    warehouse.dbt(
        "run", "--select", *MONTHLY_MODELS, "--full-refresh", *dbt_args, warehouse=copy, target="dbt_monthly"
    )
    with duckdb.connect(str(copy), read_only=True) as con:
        for table in MONTHLY_TABLES:
            name = table.split(".")[1]
            incremental, full = (
                f"select * from main.{name}_incremental",
                f"select * exclude (_computed_at) from {table}",
            )
            for label, left, right in (
                ("only incremental", incremental, full),
                ("only full refresh", full, incremental),
            ):
                (outcome[f"{name} {label}"],) = con.execute(
                    f"select count(*) from ({left} except all {right})"
                ).fetchone()
    return outcome


def _assert_equal_to_full_refresh(outcome: dict[str, object]) -> None:
    differences = {k: v for k, v in outcome.items() if k.endswith(("only incremental", "only full refresh"))}
    assert differences and set(differences.values()) == {0}, outcome


def test_incremental_monthly_history_equals_a_full_refresh(warehouse: Warehouse) -> None:
    """The month spine, the monthly RFM history and the segment migrations rewrite only the months
    from the earliest change, and still equal a full refresh: after sales in a new month, after late
    lines in an old month with a re-linked customer, after a run without changes, and after the
    reference date moved back."""
    copy = warehouse.data_dir / "incremental_monthly" / warehouse.path.name
    copy.parent.mkdir()
    shutil.copyfile(warehouse.path, copy)
    (old_reference_month,) = warehouse.query(
        "select max(month_start) from intermediate.int_customer_months_spined", warehouse=copy
    )[0]
    copied_lines = (
        "customer_ref, customer_ref_type, customer_ref_norm, sku, product_name, category, quantity, "
        "unit_price, unit_cost, discount, channel, salesperson, original_order_id, _source_file, "
        "_source_row, _file_sha256"
    )

    # 1. Purchases in the month after the reference month: only the old reference month (its flag
    #    changes) and the new one are rewritten.
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "insert into raw.sales select order_id || '-NEXT', line_no, "
            "cast(date_trunc('month', order_date) + interval 1 month + interval 2 day as date), "
            f"{copied_lines}, 'next-month', _loaded_at + interval 1 day "
            "from raw.sales where not quantity < 0 "
            "and order_date >= (select date_trunc('month', max(order_date)) from raw.sales) "
            "order by order_id, line_no limit 20"
        )
    outcome = _incremental_monthly_run(warehouse, copy)
    _assert_equal_to_full_refresh(outcome)
    assert outcome["int_customer_months_spined rewritten from"] == old_reference_month, outcome
    assert outcome["customer_rfm_monthly rewritten from"] == old_reference_month, outcome
    assert outcome["rfm_segment_migrations rewritten from"] == old_reference_month, outcome

    # 2. Late lines a month after the first sales and one sales reference re-linked to another customer.
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "insert into raw.sales select order_id || '-LATE', line_no, "
            "cast(order_date + interval 1 month as date), "
            f"{copied_lines}, 'late-batch', _loaded_at + interval 2 day "
            "from raw.sales where order_date < (select min(order_date) + 20 from raw.sales) "
            "order by order_id, line_no limit 10"
        )
        (late_month,) = con.execute(
            "select min(date_trunc('month', order_date)) from raw.sales where _batch_id = 'late-batch'"
        ).fetchone()
        con.execute(
            "update intermediate.int_customer_identity_links set linked_at = now(), customer_id = "
            "(select max(customer_id) from intermediate.int_customers_resolved) "
            "where source = 'sales' and source_record_id = (select min(source_record_id) "
            "from intermediate.int_customer_identity_links where source = 'sales')"
        )
    outcome = _incremental_monthly_run(warehouse, copy)
    _assert_equal_to_full_refresh(outcome)
    assert outcome["int_customer_months_spined rewritten from"] <= late_month, outcome

    # 3. Nothing changed: nothing is rewritten.
    outcome = _incremental_monthly_run(warehouse, copy)
    _assert_equal_to_full_refresh(outcome)
    assert outcome["int_customer_months_spined rewritten from"] is None, outcome
    assert outcome["customer_rfm_monthly rewritten from"] is None, outcome
    assert outcome["rfm_segment_migrations rewritten from"] is None, outcome

    # 4. The reference date moves back two months (a backfill run): the later months disappear.
    (reference_month,) = warehouse.query(
        "select max(month_start) from intermediate.int_customer_months_spined", warehouse=copy
    )[0]
    back = reference_month
    for _ in range(2):
        back = (back.replace(day=1) - dt.timedelta(days=1)).replace(day=15)
    outcome = _incremental_monthly_run(
        warehouse, copy, "--vars", json.dumps({"reference_date": back.isoformat()})
    )
    _assert_equal_to_full_refresh(outcome)
    assert warehouse.query(
        "select max(month_start) from intermediate.int_customer_months_spined", warehouse=copy
    )[0] == (back.replace(day=1),)
