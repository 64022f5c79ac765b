"""Shared DAG settings: owner, retries with exponential backoff, callbacks, start date."""

from __future__ import annotations

import datetime as dt

import pendulum

from crm.orchestration.callbacks import log_failure_summary

TIMEZONE = pendulum.timezone("Asia/Taipei")
START_DATE = pendulum.datetime(2026, 1, 1, tz=TIMEZONE)

DEFAULT_ARGS = {
    "owner": "crm-data-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=10),
    "on_failure_callback": log_failure_summary,
}
