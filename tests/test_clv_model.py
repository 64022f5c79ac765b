"""Unit tests of crm.clv: tiers, time units, summary loading, input checks, atomic writes, skip path,
and parameter recovery plus prediction identities on data simulated from the models themselves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pymc as pm
import pytest
from pymc_marketing.clv.distributions import BetaGeoNBD

from crm.clv import fitting
from crm.clv.fitting import FitError, FittedModel, fit_beta_geo, fit_gamma_gamma
from crm.clv.prediction import predict_customers, time_unit
from crm.clv.run import run_clv
from crm.clv.store import CUSTOMER_CLV_COLUMNS, write_results
from crm.clv.summary import SUMMARY_TABLE, SummaryError, load_summary
from crm.clv.tiers import assign_clv_tiers

# --- tiers -----------------------------------------------------------------------------------------


def test_tiers_split_the_top_20_and_next_30_percent() -> None:
    clv = pd.Series(np.arange(10, 0, -1, dtype=float), index=[f"c{i}" for i in range(10)])
    tiers = assign_clv_tiers(clv)
    assert tiers.tolist() == ["high"] * 2 + ["medium"] * 3 + ["low"] * 5
    assert tiers.index.equals(clv.index)


def test_tied_customers_share_the_better_tier() -> None:
    clv = pd.Series([5.0, 5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # The three tied at 5.0 all rank first (top 10%: high); the seven tied at 1.0 rank fourth (40%: medium).
    assert assign_clv_tiers(clv).tolist() == ["high"] * 3 + ["medium"] * 7


@pytest.mark.parametrize(
    "tiers", [(("high", 0.5), ("low", 0.9)), (("high", 0.5), ("low", 0.2), ("rest", 1.0)), (("all", 0.0),)]
)
def test_tier_shares_must_increase_to_one(tiers: tuple[tuple[str, float], ...]) -> None:
    with pytest.raises(ValueError, match="shares must increase"):
        assign_clv_tiers(pd.Series([1.0, 2.0]), tiers)


def test_tiers_refuse_missing_clv() -> None:
    with pytest.raises(ValueError, match="1 customers have no CLV"):
        assign_clv_tiers(pd.Series([1.0, np.nan]))


# --- time units ------------------------------------------------------------------------------------


def test_weeks_days_and_months_are_supported_other_periods_are_refused() -> None:
    assert time_unit(7).code == "W" and time_unit(1).code == "D" and time_unit(30).code == "M"
    with pytest.raises(ValueError, match="clv_period_days = 14 is not supported"):
        time_unit(14)


# --- summary loading --------------------------------------------------------------------------------


def write_summary(path: Path, rows: list[tuple], *, period_days: int = 7) -> None:
    """A stand-in for dbt's int_customer_clv_summary: (customer_id, frequency, recency, T, monetary_value)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "frequency", "recency", "tenure", "monetary_value"])
    frame["first_purchase_date"] = dt.date(2024, 1, 1)
    frame["last_purchase_date"] = dt.date(2024, 3, 1)
    frame["calibration_end_date"] = dt.date(2024, 6, 30)
    frame["period_days"] = period_days
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists intermediate")
        con.register("summary_rows", frame)
        con.execute(f"create or replace table {SUMMARY_TABLE} as select * from summary_rows")


def test_missing_summary_names_the_dbt_model(tmp_path: Path) -> None:
    with (
        duckdb.connect(str(tmp_path / "w.duckdb")) as con,
        pytest.raises(SummaryError, match="dbt build --select"),
    ):
        load_summary(con)


def test_summary_with_two_calibration_ends_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    write_summary(path, [("a", 0, 0.0, 10.0, 0.0), ("b", 1, 2.0, 10.0, 5.0)])
    with duckdb.connect(str(path)) as con:
        con.execute(
            f"update {SUMMARY_TABLE} set calibration_end_date = date '2024-07-01' where customer_id = 'b'"
        )
        with pytest.raises(SummaryError, match="one period_days and one calibration_end_date"):
            load_summary(con)


def test_summary_is_renamed_for_pymc_marketing(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    write_summary(path, [("b", 1, 2.0, 10.0, 5.0), ("a", 0, 0.0, 12.0, 0.0)])
    with duckdb.connect(str(path)) as con:
        summary = load_summary(con)
    assert summary.frame.columns.tolist() == ["customer_id", "frequency", "recency", "T", "monetary_value"]
    assert summary.frame["customer_id"].tolist() == ["a", "b"]
    assert (summary.n_customers, summary.n_repeat_buyers, summary.n_repeat_transactions) == (2, 1, 1)
    assert summary.period_days == 7 and summary.calibration_end == dt.date(2024, 6, 30)


# --- model input checks -------------------------------------------------------------------------------


def test_gamma_gamma_refuses_customers_outside_its_support() -> None:
    data = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "frequency": [2, 0, 1], "monetary_value": [10.0, 0.0, 0.0]}
    )
    with pytest.raises(FitError, match=r"2 rows are outside, e.g. customer b \(frequency 0"):
        fit_gamma_gamma(data)


def test_bg_nbd_needs_a_repeat_buyer() -> None:
    data = pd.DataFrame(
        {"customer_id": ["a", "b"], "frequency": [0, 0], "recency": [0.0, 0.0], "T": [5.0, 3.0]}
    )
    with pytest.raises(FitError, match="no customer made a repeat purchase"):
        fit_beta_geo(data)


# --- writes -------------------------------------------------------------------------------------------


def scores_frame(customer_ids: list[str], run_id: str) -> pd.DataFrame:
    frame = pd.DataFrame({"customer_id": customer_ids})
    for name, type_ in CUSTOMER_CLV_COLUMNS[1:]:
        if type_.startswith("double"):
            frame[name] = 1.0
        elif type_.startswith("integer"):
            frame[name] = 1
    frame["clv_tier"] = "high"
    frame["calibration_end_date"] = dt.date(2024, 6, 30)
    frame["run_id"] = run_id
    frame["scored_at"] = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    return frame


def run_row(run_id: str) -> dict:
    now = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    return {
        "run_id": run_id,
        "status": "succeeded",
        "started_at": now,
        "finished_at": now,
        "library": "pymc-marketing",
        "library_version": "test",
        "fit_method": "map-flat-priors",
        "summary_table": SUMMARY_TABLE,
        "n_customers": 2,
        "n_repeat_buyers": 1,
        "n_repeat_transactions": 1,
        "discount_rate_monthly": 0.0,
        "total_seconds": 0.0,
    }


def test_a_failed_write_leaves_the_previous_scores_and_runs(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        write_results(con, scores_frame(["a", "b"], "run-1"), run_row("run-1"))
        with pytest.raises(duckdb.ConstraintException):
            write_results(con, scores_frame(["c", "c"], "run-2"), run_row("run-2"))  # duplicate customer
        assert con.execute("select customer_id, run_id from marts.customer_clv order by 1").fetchall() == [
            ("a", "run-1"),
            ("b", "run-1"),
        ]
        assert con.execute("select run_id from marts.clv_model_runs").fetchall() == [("run-1",)]
        assert con.execute(
            "select count(*) from duckdb_tables() where table_name like '%__new'"
        ).fetchone() == (0,)

        write_results(con, scores_frame(["c"], "run-3"), run_row("run-3"))
        assert con.execute("select customer_id, run_id from marts.customer_clv").fetchall() == [
            ("c", "run-3")
        ]
        assert con.execute("select run_id from marts.clv_model_runs order by 1").fetchall() == [
            ("run-1",),
            ("run-3",),
        ]


# --- run_clv ------------------------------------------------------------------------------------------


def test_too_few_repeat_buyers_skip_the_run_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    write_summary(path, [("a", 0, 0.0, 10.0, 0.0), ("b", 2, 3.0, 10.0, 5.0), ("c", 1, 1.0, 8.0, 7.0)])
    result = run_clv(path, min_repeat_buyers=10)
    assert result["status"] == "skipped"
    assert result["reason"] == (
        "2 of 3 customers made a repeat purchase by 2024-06-30; the BG/NBD fit needs at least 10"
    )
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from marts.customer_clv").fetchone() == (0,)
        runs = con.execute("select status, reason, n_customers, bgnbd_r from marts.clv_model_runs").fetchall()
    assert runs == [("skipped", result["reason"], 3, None)]


def test_an_unsupported_period_length_fails_before_fitting(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    write_summary(path, [("a", 1, 1.0, 3.0, 5.0)], period_days=14)
    with pytest.raises(SummaryError, match="clv_period_days = 14 is not supported"):
        run_clv(path)


def test_discount_rate_is_a_monthly_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"monthly rate in \[0, 1\)"):
        run_clv(tmp_path / "w.duckdb", discount_rate=1.5)


# --- fits on simulated data ------------------------------------------------------------------------------

TRUE_BG_NBD = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}
TRUE_GAMMA_GAMMA = {"p": 6.0, "q": 4.0, "v": 15.0}


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    """2,000 customers drawn from BG/NBD and Gamma-Gamma with known parameters (T of 26-52 weeks)."""
    rng = np.random.default_rng(20240601)
    n = 2000
    tenure = rng.integers(26, 53, size=n).astype(float)
    draws = pm.draw(BetaGeoNBD.dist(**TRUE_BG_NBD, T=tenure), random_seed=rng)
    frequency = draws[:, 1].astype("int64")
    # Gamma-Gamma: nu ~ Gamma(q, rate v); the mean of x spends ~ Gamma(p, rate nu) is Gamma(p x, rate nu x).
    nu = rng.gamma(shape=TRUE_GAMMA_GAMMA["q"], scale=1 / TRUE_GAMMA_GAMMA["v"], size=n)
    x = np.maximum(frequency, 1)
    mean_spend = rng.gamma(shape=TRUE_GAMMA_GAMMA["p"] * x, scale=1 / (nu * x))
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "frequency": frequency,
            "recency": draws[:, 0],
            "T": tenure,
            "monetary_value": np.where(frequency > 0, mean_spend, 0.0),
        }
    )


@pytest.fixture(scope="module")
def fitted(simulated: pd.DataFrame) -> tuple[FittedModel, FittedModel]:
    repeat = simulated[simulated["frequency"] > 0]
    return fit_beta_geo(simulated), fit_gamma_gamma(repeat)


def test_fits_recover_the_simulation_parameters(fitted: tuple[FittedModel, FittedModel]) -> None:
    beta_geo, gamma_gamma = fitted
    for name, truth in TRUE_BG_NBD.items():
        assert beta_geo.parameters[name] == pytest.approx(truth, rel=0.2), name
    for name, truth in TRUE_GAMMA_GAMMA.items():
        assert gamma_gamma.parameters[name] == pytest.approx(truth, rel=0.2), name
    assert beta_geo.diagnostics.converged and gamma_gamma.diagnostics.converged
    assert beta_geo.diagnostics.n_customers == 2000
    assert gamma_gamma.diagnostics.n_customers < 2000


def test_fit_is_the_maximum_of_the_likelihood(fitted: tuple[FittedModel, FittedModel]) -> None:
    """Moving any parameter 1% either way lowers the log-likelihood (flat priors: MAP = MLE)."""
    beta_geo, _ = fitted
    model = beta_geo.model.model
    logp = model.compile_logp(jacobian=False)
    best = {f"{name}_log__": np.log(value) for name, value in beta_geo.parameters.items()}
    assert logp(best) == pytest.approx(beta_geo.diagnostics.log_likelihood)
    for name in best:
        for step in (np.log(0.99), np.log(1.01)):
            assert logp({**best, name: best[name] + step}) < logp(best), name


def test_predictions_are_consistent(simulated: pd.DataFrame, fitted: tuple[FittedModel, FittedModel]) -> None:
    beta_geo, gamma_gamma = fitted
    undiscounted = predict_customers(
        beta_geo.model, gamma_gamma.model, simulated, period_days=7, discount_rate=0.0
    )
    discounted = predict_customers(
        beta_geo.model, gamma_gamma.model, simulated, period_days=7, discount_rate=0.01
    )

    assert undiscounted["customer_id"].tolist() == simulated["customer_id"].tolist()
    alive = undiscounted["probability_alive"]
    assert ((alive > 0) & (alive <= 1)).all()
    assert (alive[simulated["frequency"] == 0] == 1).all()
    assert (undiscounted["expected_purchases_3m"] < undiscounted["expected_purchases_6m"]).all()
    assert (undiscounted["expected_purchases_6m"] < undiscounted["expected_purchases_12m"]).all()
    # Customers without a repeat purchase get the population mean spend p v / (q - 1).
    p, q, v = (gamma_gamma.parameters[name] for name in ("p", "q", "v"))
    newcomers = undiscounted.loc[simulated["frequency"].to_numpy() == 0, "expected_avg_order_value"]
    assert np.allclose(newcomers, p * v / (q - 1))
    # Without discounting, 12-month CLV is expected spend per purchase times expected purchases.
    np.testing.assert_allclose(
        undiscounted["clv_12m"],
        undiscounted["expected_avg_order_value"] * undiscounted["expected_purchases_12m"],
        rtol=1e-9,
    )
    # Monthly discounting at 1% lowers it, by less than discounting everything by 12 months would.
    assert (discounted["clv_12m"] < undiscounted["clv_12m"]).all()
    assert (discounted["clv_12m"] > undiscounted["clv_12m"] / 1.01**12).all()
    # The purchase columns do not depend on the discount rate.
    pd.testing.assert_series_equal(
        discounted["expected_purchases_12m"], undiscounted["expected_purchases_12m"]
    )


def test_run_scores_everyone_and_a_failed_run_keeps_the_previous_scores(
    simulated: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.duckdb"
    write_summary(path, list(simulated.itertuples(index=False, name=None)))
    first = run_clv(path, discount_rate=0.0)
    assert first["status"] == "succeeded" and first["n_customers"] == 2000
    assert first["bgnbd_converged"] and first["gg_converged"]

    monkeypatch.setattr(fitting, "GRADIENT_TOLERANCE_PER_CUSTOMER", 0.0)
    with pytest.raises(FitError, match="BG/NBD did not converge"):
        run_clv(path)
    with duckdb.connect(str(path), read_only=True) as con:
        runs = con.execute("select status, reason from marts.clv_model_runs order by started_at").fetchall()
        scored = con.execute("select count(*), min(run_id), max(run_id) from marts.customer_clv").fetchone()
    assert [status for status, _ in runs] == ["succeeded", "failed"]
    assert runs[1][1].startswith("FitError: BG/NBD did not converge")
    assert scored == (2000, first["run_id"], first["run_id"])
