"""Keep the whole build's dbt results where the report and operators look for them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from crm.config import Settings

#: Partial builds (the CLV refresh) write here, so they never overwrite the full build's results.
PARTIAL_TARGET = "target-partial"


def results_dir(settings: Settings | None = None) -> Path:
    return (settings or Settings.from_env()).data_dir / "dbt" / "target"


def keep_run_results(project_dir: str | Path, **_: Any) -> None:
    """Cosmos callback: cosmos runs dbt in a temporary copy of the project; copy that build's
    ``run_results.json`` to ``$CRM_DATA_DIR/dbt/target`` (atomically) before the copy is deleted."""
    source = Path(project_dir) / "target" / "run_results.json"
    if not source.exists():  # DBT_TARGET_PATH already points dbt at the shared folder
        return
    target = results_dir()
    target.mkdir(parents=True, exist_ok=True)
    staged = target / ".run_results.json.tmp"
    shutil.copyfile(source, staged)
    staged.replace(target / "run_results.json")
