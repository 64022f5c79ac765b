"""The CLV pipeline step: fit BG/NBD + Gamma-Gamma to the dbt summary, score customers, record the run."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from crm.clv.fitting import FitError, FittedModel, fit_beta_geo, fit_gamma_gamma
from crm.clv.prediction import predict_customers, time_unit
from crm.clv.store import CUSTOMER_CLV_COLUMNS, MODEL_RUNS_TABLE, append_run, write_results
from crm.clv.summary import SUMMARY_TABLE, CustomerSummary, SummaryError, load_summary
from crm.clv.tiers import assign_clv_tiers
from crm.warehouse import connect

log = logging.getLogger(__name__)

DEFAULT_MONTHLY_DISCOUNT_RATE = 0.01
#: Fewer repeat buyers than this (in total, and with a positive spend for Gamma-Gamma) and the
#: parameters are not worth estimating: the run is skipped with a logged reason.
DEFAULT_MIN_REPEAT_BUYERS = 10


def run_clv(
    warehouse_path: str | Path,
    *,
    discount_rate: float = DEFAULT_MONTHLY_DISCOUNT_RATE,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
    summary_table: str = SUMMARY_TABLE,
) -> dict[str, Any]:
    """Fit BG/NBD and Gamma-Gamma to the dbt summary and score every customer (Airflow task callable).

    Reads ``summary_table`` (``dbt build --select int_customer_clv_summary`` must have run; the data
    window and period length come from there, i.e. from the dbt vars clv_calibration_end and
    clv_period_days), fits both models by maximum likelihood with pymc-marketing, and in one
    transaction replaces ``marts.customer_clv`` (one row per customer: probability_alive,
    expected_purchases_3m/6m/12m, expected_avg_order_value, clv_12m discounted monthly at
    ``discount_rate``, clv_tier) and appends the parameters and fit diagnostics to
    ``marts.clv_model_runs``.

    With fewer than ``min_repeat_buyers`` repeat buyers the models are not fitted: the run is logged
    as skipped (with the reason) and marts.customer_clv is left empty. A fit that fails or does not
    converge is recorded as failed, leaves the previous scores in place and raises.

    Returns the run row (JSON-serialisable, for XCom).
    """
    if not 0 <= discount_rate < 1:
        raise ValueError(f"discount_rate is a monthly rate in [0, 1), got {discount_rate}")
    started_at = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    run: dict[str, Any] = {
        "run_id": str(uuid.uuid4()),
        "started_at": started_at,
        "library": "pymc-marketing",
        "library_version": version("pymc-marketing"),
        "fit_method": "map-flat-priors",
        "summary_table": summary_table,
        "discount_rate_monthly": discount_rate,
    }

    with connect(warehouse_path, read_only=True) as con:
        summary = load_summary(con, summary_table)
    run.update(_window(summary))
    if summary.n_customers and summary.period_days is not None:
        try:
            time_unit(summary.period_days)  # unsupported period lengths fail before the fit
        except ValueError as exc:
            raise SummaryError(f"{summary_table}: {exc}") from exc
    fittable = summary.frame[(summary.frame["frequency"] > 0) & (summary.frame["monetary_value"] > 0)]
    run["n_gamma_gamma_customers"] = len(fittable)

    skip_reason = _skip_reason(summary, summary_table, len(fittable), min_repeat_buyers)
    if skip_reason:
        log.warning("CLV run %s skipped: %s", run["run_id"], skip_reason)
        run.update(status="skipped", reason=skip_reason)
        _finish(run, clock)
        with connect(warehouse_path) as con:
            write_results(con, pd.DataFrame(columns=[name for name, _ in CUSTOMER_CLV_COLUMNS]), run)
        return _serialisable(run)

    period_days = summary.period_days
    assert period_days is not None  # set on every row of a non-empty summary
    try:
        beta_geo = fit_beta_geo(summary.frame)
        run.update(_fit_columns("bgnbd", beta_geo))
        gamma_gamma = fit_gamma_gamma(fittable)
        run.update(_fit_columns("gg", gamma_gamma))
        _check_fits(beta_geo, gamma_gamma)
        predict_started = time.perf_counter()
        scores = predict_customers(
            beta_geo.model,
            gamma_gamma.model,
            summary.frame,
            period_days=period_days,
            discount_rate=discount_rate,
        )
        scores = _with_inputs(scores, summary, run_id=run["run_id"])
        run["predict_seconds"] = time.perf_counter() - predict_started
    except Exception as exc:
        run.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        _finish(run, clock)
        try:
            with connect(warehouse_path) as con:
                append_run(con, run)
        except Exception:
            log.exception("could not record failed CLV run %s in %s", run["run_id"], MODEL_RUNS_TABLE)
        raise

    run.update(status="succeeded", reason=None)
    _finish(run, clock)
    with connect(warehouse_path) as con:
        write_results(con, scores, run)
    log.info(
        "CLV run %s: %d customers scored; BG/NBD %s; Gamma-Gamma %s; %.1fs",
        run["run_id"],
        summary.n_customers,
        _rounded(beta_geo.parameters),
        _rounded(gamma_gamma.parameters),
        run["total_seconds"],
    )
    return _serialisable(run)


def _window(summary: CustomerSummary) -> dict[str, Any]:
    return {
        "period_days": summary.period_days,
        "first_purchase_date": summary.first_purchase,
        "calibration_end_date": summary.calibration_end,
        "n_customers": summary.n_customers,
        "n_repeat_buyers": summary.n_repeat_buyers,
        "n_repeat_transactions": summary.n_repeat_transactions,
    }


def _skip_reason(
    summary: CustomerSummary, summary_table: str, n_gamma_gamma: int, min_repeat_buyers: int
) -> str | None:
    if summary.n_customers == 0:
        return f"{summary_table} has no customers with a purchase"
    if summary.n_repeat_buyers < min_repeat_buyers:
        return (
            f"{summary.n_repeat_buyers} of {summary.n_customers} customers made a repeat purchase by "
            f"{summary.calibration_end}; the BG/NBD fit needs at least {min_repeat_buyers}"
        )
    if n_gamma_gamma < min_repeat_buyers:
        return (
            f"{n_gamma_gamma} repeat buyers have a positive mean repeat spend; the Gamma-Gamma fit "
            f"needs at least {min_repeat_buyers}"
        )
    return None


def _check_fits(beta_geo: FittedModel[Any], gamma_gamma: FittedModel[Any]) -> None:
    for label, fitted in (("BG/NBD", beta_geo), ("Gamma-Gamma", gamma_gamma)):
        if not fitted.diagnostics.converged:
            raise FitError(
                f"{label} did not converge: log-likelihood {fitted.diagnostics.log_likelihood:.4f}, "
                f"largest gradient component {fitted.diagnostics.max_abs_gradient:.3g} at "
                f"{_rounded(fitted.parameters)} ({fitted.diagnostics.n_customers} customers)"
            )
    q = gamma_gamma.parameters["q"]
    if q <= 1:
        raise FitError(f"Gamma-Gamma q = {q:.4f} <= 1: the population mean spend p*v/(q-1) is not finite")


def _fit_columns(prefix: str, fitted: FittedModel[Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {f"{prefix}_{name}": value for name, value in fitted.parameters.items()}
    columns[f"{prefix}_log_likelihood"] = fitted.diagnostics.log_likelihood
    columns[f"{prefix}_max_abs_gradient"] = fitted.diagnostics.max_abs_gradient
    columns[f"{prefix}_converged"] = fitted.diagnostics.converged
    columns[f"{prefix}_fit_seconds"] = fitted.diagnostics.seconds
    return columns


def _with_inputs(scores: pd.DataFrame, summary: CustomerSummary, *, run_id: str) -> pd.DataFrame:
    inputs = summary.frame.rename(columns={"T": "tenure"})
    scored = scores.merge(inputs, on="customer_id", how="inner", validate="one_to_one")
    scored["clv_tier"] = assign_clv_tiers(scored["clv_12m"])
    scored["period_days"] = summary.period_days
    scored["calibration_end_date"] = summary.calibration_end
    scored["run_id"] = run_id
    scored["scored_at"] = dt.datetime.now(dt.UTC)
    return scored


def _finish(run: dict[str, Any], clock: float) -> None:
    run["finished_at"] = dt.datetime.now(dt.UTC)
    run["total_seconds"] = time.perf_counter() - clock


def _rounded(parameters: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in parameters.items()}


def _serialisable(run: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, dt.date) else value for key, value in run.items()}
