"""``make run``: drive the real DAGs end-to-end with ``airflow dags test`` on the embedded defaults.

Each DAG runs in-process against the SQLite metadata database (no scheduler, no services); its
full log goes to ``$CRM_DATA_DIR/logs/<dag_id>.log`` and the terminal gets one line per DAG plus
the run summary. Exits non-zero when any DAG run does not succeed, naming the failed tasks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from crm.config import Settings

DAGS: tuple[tuple[str, dict], ...] = (
    ("crm_ingest", {}),
    # Sample data is historical: as-of the day after the newest order unless told otherwise.
    ("crm_transform", {"reference_date": os.environ.get("CRM_REFERENCE_DATE", "latest")}),
    ("crm_publish", {}),
)

_FINISHED = re.compile(r"DagRun Finished: dag_id=(?P<dag>[\w.-]+),.*?state=(?P<state>\w+)")
_FAILED_TASK = re.compile(r"CRM PIPELINE FAILURE .*")


def _airflow() -> str:
    beside = Path(sys.executable).with_name("airflow")
    return str(beside) if beside.exists() else "airflow"


def run_dag(dag_id: str, conf: dict, log_dir: Path) -> tuple[str, float, Path]:
    log_path = log_dir / f"{dag_id}.log"
    command = [_airflow(), "dags", "test", dag_id]
    if conf:
        command += ["-c", json.dumps(conf)]
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as fh:
        proc = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    states = [m["state"] for m in _FINISHED.finditer(text) if m["dag"] == dag_id]
    state = states[-1] if states else _latest_run_state(dag_id)
    if proc.returncode and state == "success":
        state = "failed"
    return state, elapsed, log_path


def _latest_run_state(dag_id: str) -> str:
    """Ask Airflow for the newest run's state when the log did not say (e.g. a quieter log level)."""
    out = subprocess.run(
        [_airflow(), "dags", "list-runs", dag_id, "-o", "json"], capture_output=True, text=True, check=False
    )
    try:
        runs = json.loads(out.stdout[out.stdout.index("[") :])
    except ValueError:
        return "unknown"
    runs = sorted(runs, key=lambda r: r.get("start_date") or "", reverse=True)
    return runs[0].get("state", "unknown") if runs else "unknown"


def main() -> int:
    settings = Settings.from_env()
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for dag_id, conf in DAGS:
        print(f"▶ {dag_id} {json.dumps(conf) if conf else ''}".rstrip(), flush=True)
        state, elapsed, log_path = run_dag(dag_id, conf, log_dir)
        print(f"  {state} in {elapsed:.1f}s (log: {log_path})", flush=True)
        if state != "success":
            text = log_path.read_text(encoding="utf-8", errors="replace")
            for line in _FAILED_TASK.findall(text)[-5:]:
                print(f"  {line}", file=sys.stderr)
            print(f"✗ {dag_id} did not succeed; see {log_path}", file=sys.stderr)
            return 1
    from crm.run_summary import print_run_summary

    print_run_summary(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
