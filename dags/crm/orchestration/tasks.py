"""Task callables used by the DAGs (heavy imports happen here, at run time)."""

from __future__ import annotations

import datetime as dt
import logging

from crm.config import Settings

log = logging.getLogger(__name__)


def ingest_source(source: str) -> dict:
    """Load every ready landing file of one source; returns the summary (pushed to XCom)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from crm.ingest.report import print_summaries
    from crm.ingest.run import ingest

    summary = ingest(Settings.from_env(), (source,), build_docs=False)[0]
    print_summaries([summary])
    if summary.files_loaded == 0:
        # A skipped task emits no asset event, so the transform DAG is not triggered for nothing.
        raise AirflowSkipException(f"no new {source} data (files seen: {summary.files_seen})")
    return summary.as_dict()


def build_data_docs() -> str | None:
    """Render GX Data Docs from the stored validation results."""
    from crm.ingest.validation import BatchValidator

    settings = Settings.from_env()
    validator = BatchValidator(settings.expectations_dir, settings.gx_root)
    index = validator.build_data_docs()
    log.info("GX Data Docs: %s", index)
    return index


def run_end(dag_run: object) -> dt.datetime | None:
    """When a run's data ends: its data interval end, or for asset-triggered and manual runs without
    a data interval, the time it was due to run (``run_after``)."""
    return getattr(dag_run, "data_interval_end", None) or getattr(dag_run, "run_after", None)


def resolve_reference_date(param: str | None, run_end: dt.datetime | None) -> str | None:
    """The as-of date (exclusive) for RFM, lifecycle and CLV: a given ISO date, 'latest' (None: dbt uses
    the day after the newest order), or by default the date the run's data ends (``run_end``) in the
    DAGs' timezone (the daily 03:00 Asia/Taipei run on 1 July covers 30 June: as of 1 July)."""
    from crm.orchestration.defaults import TIMEZONE

    if param == "latest":
        return None
    if param:
        try:
            return dt.date.fromisoformat(param).isoformat()
        except ValueError as exc:
            raise ValueError(
                f"reference_date {param!r}: expected '', 'latest' or YYYY-MM-DD ({exc})"
            ) from exc
    if run_end is None:
        return None
    return run_end.astimezone(TIMEZONE).date().isoformat()


#: The dbt models that read the CLV step's marts.customer_clv (dim_customers' predicted value), and
#: everything downstream of them: rebuilt after each fit so the marts carry this run's scores.
CLV_DEPENDANTS_SELECTOR = "stg_clv__customer_scores+"


def dbt_build(reference_date: str | None, full_refresh: bool = False, select: str | None = None) -> dict:
    """``dbt build`` of the whole project (or of ``select``); data-test failures are not retried."""
    from airflow.sdk.exceptions import AirflowFailException

    from crm.orchestration.dbt import DbtDataError, run_dbt

    args = ["build"] + (["--select", select] if select else []) + (["--full-refresh"] if full_refresh else [])
    vars_ = {"reference_date": reference_date} if reference_date else {}
    # A partial build writes its artefacts beside, not over, the full build's (the report reads those).
    target_path = None
    if select:
        from crm.orchestration.dbt_results import PARTIAL_TARGET

        target_path = Settings.from_env().data_dir / "dbt" / PARTIAL_TARGET
    try:
        return run_dbt(args, vars_=vars_, target_path=target_path).as_dict()
    except DbtDataError as exc:
        raise AirflowFailException(str(exc)) from exc


def engine_build(engine_name: str, reference_date: str | None, full_refresh: bool = False) -> dict:
    """Ship the validated raw tables from the DuckDB warehouse to another engine and build the whole
    dbt project there in phases (``crm.engines.build``; docs/engines.md). Failed nodes are not
    retried; connection and I/O errors are."""
    from airflow.sdk.exceptions import AirflowFailException

    from crm.engines import load_engine
    from crm.engines.build import BuildError, build

    settings = Settings.from_env()
    vars_ = {"reference_date": reference_date} if reference_date else {}
    engine = load_engine(engine_name)
    try:
        shipped = engine.ship_raw(settings.warehouse_path)
        log.info("shipped to %s: %s", engine_name, shipped)
        report = build(
            engine,
            vars_,
            full_refresh=full_refresh,
            target_path=settings.data_dir / "dbt" / f"target-{engine_name}",
        )
    except BuildError as exc:
        raise AirflowFailException(f"dbt build on {engine_name} failed (not retried): {exc}") from exc
    finally:
        engine.close()
    log.info("%s", report.summary())
    return {"shipped": shipped, **report.as_dict()}


def fit_clv() -> dict:
    """Fit the CLV models and replace ``marts.customer_clv`` (``crm.clv.run.run_clv``; see docs/clv.md).

    A fit that does not converge, or a summary dbt did not build, fails the same way on retry: those
    fail the task at once. Other errors (a locked warehouse file, I/O) are retried.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from crm.clv.fitting import FitError
    from crm.clv.run import run_clv
    from crm.clv.summary import SummaryError

    try:
        return run_clv(Settings.from_env().warehouse_path)
    except (FitError, SummaryError) as exc:
        raise AirflowFailException(f"CLV step failed (not retried): {type(exc).__name__}: {exc}") from exc
