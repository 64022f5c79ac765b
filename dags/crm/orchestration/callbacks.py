"""Failure callbacks that leave one clear, greppable summary line in the task log."""

from __future__ import annotations

import logging

log = logging.getLogger("crm.alerts")


def log_failure_summary(context: dict) -> None:
    """``on_failure_callback``: what failed, which try, why, and where to look."""
    ti = context.get("task_instance") or context.get("ti")
    exc = context.get("exception")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", context.get("run_id", "?"))
    try_number = getattr(ti, "try_number", "?")
    max_tries = getattr(ti, "max_tries", "?")
    log.error(
        "CRM PIPELINE FAILURE dag=%s task=%s run=%s try=%s/%s error=%s: %s",
        dag_id,
        task_id,
        run_id,
        try_number,
        max_tries,
        type(exc).__name__ if exc else "unknown",
        exc,
    )
