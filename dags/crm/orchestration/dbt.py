"""Run dbt as a subprocess with the project's profile, and tell data failures from transient ones.

Airflow retries transient failures (a locked warehouse, an I/O hiccup) but a failed data test or a
compilation error will fail again on retry, so those raise ``DbtDataError`` which the task turns
into a non-retryable failure.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from crm.config import Settings

log = logging.getLogger(__name__)


class DbtDataError(RuntimeError):
    """dbt finished but models, tests or compilation failed: retrying will not help."""


class DbtTransientError(RuntimeError):
    """dbt could not run to completion for environmental reasons: worth a retry."""


@dataclass(frozen=True)
class DbtResult:
    command: str
    returncode: int
    counts: dict[str, int]
    failures: list[str]
    elapsed_s: float | None

    def as_dict(self) -> dict:
        return {
            "command": self.command,
            "returncode": self.returncode,
            "counts": self.counts,
            "failures": self.failures,
            "elapsed_s": self.elapsed_s,
        }


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if found is None:
        raise DbtTransientError("dbt executable not found beside the Python interpreter or on PATH")
    return found


#: Pipeline builds leave dbt unit tests out: they check the SQL logic on fixed inputs, not the data,
#: so (as dbt recommends) they run in development and CI (``make test``, ``make dbt-unit-tests``),
#: not in every production build; at 10M sales lines they cost 7-11 s of thread time per build. The
#: data tests always run. ``$CRM_DBT_UNIT_TESTS=run`` keeps them in the pipeline; a
#: ``$DBT_EXCLUDE_RESOURCE_TYPES`` set in the environment wins over both. Builds on another engine
#: (``crm.engines.build``) keep them.
UNIT_TESTS_ENV = "CRM_DBT_UNIT_TESTS"
UNIT_TEST_MODES = ("skip", "run")
#: dbt's own variable for ``--exclude-resource-type``.
EXCLUDE_RESOURCE_TYPES_ENV = "DBT_EXCLUDE_RESOURCE_TYPES"


def production_dbt_env() -> dict[str, str]:
    """dbt settings every pipeline build gets unless the environment sets them."""
    if EXCLUDE_RESOURCE_TYPES_ENV in os.environ:
        return {EXCLUDE_RESOURCE_TYPES_ENV: os.environ[EXCLUDE_RESOURCE_TYPES_ENV]}
    mode = os.environ.get(UNIT_TESTS_ENV, "skip").strip().lower()
    if mode not in UNIT_TEST_MODES:
        raise ValueError(f"{UNIT_TESTS_ENV}={mode!r}: expected one of {', '.join(UNIT_TEST_MODES)}")
    return {EXCLUDE_RESOURCE_TYPES_ENV: "unit_test"} if mode == "skip" else {}


def dbt_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(production_dbt_env())
    env.setdefault("CRM_WAREHOUSE_PATH", str(settings.warehouse_path))
    env.setdefault("DBT_TARGET_PATH", str(settings.data_dir / "dbt" / "target"))
    env.setdefault("DBT_LOG_PATH", str(settings.data_dir / "dbt" / "logs"))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def run_dbt(
    args: list[str],
    settings: Settings | None = None,
    *,
    vars_: dict | None = None,
    target_path: Path | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` for the project; stream its log; summarise run_results.json.

    ``target_path`` overrides ``$DBT_TARGET_PATH`` (default ``$CRM_DATA_DIR/dbt/target``)."""
    settings = settings or Settings.from_env()
    project = str(settings.dbt_project_dir)
    command = [dbt_executable(), *args, "--project-dir", project, "--profiles-dir", project]
    if vars_:
        command += ["--vars", json.dumps(vars_)]
    env = dbt_env(settings)
    if target_path is not None:
        env["DBT_TARGET_PATH"] = str(target_path)
    log.info("running %s", " ".join(command))
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=project
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        log.info("dbt | %s", line)
        tail = [*tail[-40:], line]
    returncode = proc.wait()
    result = _summarise(Path(env["DBT_TARGET_PATH"]) / "run_results.json", " ".join(args), returncode)
    if returncode == 0:
        return result
    text = "\n".join(tail)
    if result.failures or returncode == 1:
        raise DbtDataError(f"dbt {' '.join(args)} failed: {'; '.join(result.failures) or text[-2000:]}")
    raise DbtTransientError(f"dbt {' '.join(args)} exited {returncode}: {text[-2000:]}")


def _summarise(path: Path, command: str, returncode: int) -> DbtResult:
    counts: dict[str, int] = {}
    failures: list[str] = []
    elapsed = None
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        elapsed = data.get("elapsed_time")
        for item in data.get("results", []):
            status = str(item.get("status"))
            counts[status] = counts.get(status, 0) + 1
            if status in ("fail", "error"):
                failures.append(f"{item.get('unique_id')}: {status} {(item.get('message') or '')[:300]}")
    return DbtResult(command, returncode, counts, failures, elapsed)
