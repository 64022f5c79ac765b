"""Shared DAG settings: owner, retries with exponential backoff, callbacks, start date."""

from __future__ import annotations

import datetime as dt

import pendulum

from crm.orchestration.callbacks import log_failure_summary

TIMEZONE = pendulum.timezone("Asia/Taipei")
#: With catchup=False nothing is scheduled for past intervals on its own; an early start date lets
#: backfills and `airflow dags test` of any past interval run (a manual run gets task instances only
#: for logical dates on or after the start date).
START_DATE = pendulum.datetime(2020, 1, 1, tz=TIMEZONE)

DEFAULT_ARGS = {
    "owner": "crm-data-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=10),
    "on_failure_callback": log_failure_summary,
}
