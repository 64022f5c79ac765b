"""The dbt manifest that ``crm_transform`` is rendered from: written by ``dbt parse`` at build time.

Cosmos turns every dbt node into an Airflow task. Parsing the dbt project on every DAG parse would
cost seconds (and import dbt), so the project is parsed once, when it changes (``make run``, the
image build, CI), and the DAG file only reads the resulting ``manifest.json``.

The manifest lives apart from dbt's own target folder: every ``dbt build`` rewrites
``target/manifest.json`` in place, and a DAG parse must never read a half-written file. Here it is
written to a temporary folder and swapped in with an atomic rename.

    python -m crm.orchestration.dbt_manifest        # parse the project, print the manifest's path
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from crm.config import Settings

log = logging.getLogger(__name__)

MANIFEST_PATH_ENV = "CRM_DBT_MANIFEST_PATH"


def manifest_path(settings: Settings | None = None) -> Path:
    """``$CRM_DBT_MANIFEST_PATH``, by default ``$CRM_DATA_DIR/dbt/manifest/manifest.json``."""
    value = os.environ.get(MANIFEST_PATH_ENV)
    if value:
        return Path(value).expanduser().resolve()
    settings = settings or Settings.from_env()
    return settings.data_dir / "dbt" / "manifest" / "manifest.json"


def write_manifest(settings: Settings | None = None) -> Path:
    """Run ``dbt parse`` into a scratch target folder and atomically replace the manifest."""
    from crm.orchestration.dbt import run_dbt

    settings = settings or Settings.from_env()
    destination = manifest_path(settings)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".parse-", dir=destination.parent) as scratch:
        run_dbt(["parse"], settings, target_path=Path(scratch))
        parsed = Path(scratch) / "manifest.json"
        nodes = len(json.loads(parsed.read_text(encoding="utf-8")).get("nodes", {}))
        staged = destination.with_suffix(".json.tmp")
        shutil.copyfile(parsed, staged)
        staged.replace(destination)
    log.info("dbt manifest with %d nodes written to %s", nodes, destination)
    return destination


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(write_manifest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
