"""Publish the documentation next to the data: dbt docs (one self-contained page) and GX Data Docs.

``dbt docs generate --static`` writes ``static_index.html`` with the manifest and catalog embedded,
which works from ``file://`` (the plain ``index.html`` fetches JSON files, which browsers block for
local files). It is generated into a scratch target directory so the build's ``run_results.json``
(the test results shown in the report) is not overwritten, and published as ``docs/dbt/index.html``
with the manifest and catalog beside it. The GX Data Docs site is copied as it is to ``docs/gx/``.
Each directory is swapped in atomically.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from crm.config import Settings
from crm.orchestration.dbt import dbt_env, dbt_executable
from crm.publish.atomic import swap_directory, temporary_sibling
from crm.publish.layout import DBT_DOCS_DIR, DOCS_DIR, GX_DOCS_DIR

log = logging.getLogger(__name__)

DBT_DOCS_FILES = ("manifest.json", "catalog.json")


class DocsError(RuntimeError):
    """The documentation could not be generated."""


def gx_data_docs_site(settings: Settings) -> Path:
    return settings.gx_root / "gx" / "uncommitted" / "data_docs" / "local_site"


def generate_dbt_docs(settings: Settings, published_dir: Path) -> Path:
    """Run ``dbt docs generate --static`` and publish it as ``docs/dbt/``; returns the index page."""
    target = published_dir / DOCS_DIR / DBT_DOCS_DIR
    target.parent.mkdir(parents=True, exist_ok=True)
    project = str(settings.dbt_project_dir)
    with tempfile.TemporaryDirectory(prefix="crm_dbt_docs_") as scratch:
        env = dbt_env(settings) | {"DBT_TARGET_PATH": scratch, "DBT_LOG_PATH": str(Path(scratch) / "logs")}
        command = [
            dbt_executable(),
            "docs",
            "generate",
            "--static",
            "--project-dir",
            project,
            "--profiles-dir",
            project,
        ]
        proc = subprocess.run(command, env=env, cwd=project, capture_output=True, text=True, check=False)
        page = Path(scratch) / "static_index.html"
        if proc.returncode != 0 or not page.is_file():
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise DocsError(f"dbt docs generate failed (exit {proc.returncode}):\n{tail}")
        staged = temporary_sibling(target)
        staged.mkdir()
        shutil.copy2(page, staged / "index.html")
        for name in DBT_DOCS_FILES:
            if (Path(scratch) / name).is_file():
                shutil.copy2(Path(scratch) / name, staged / name)
    swap_directory(staged, target)
    log.info("dbt docs published: %s", target / "index.html")
    return target / "index.html"


def publish_gx_data_docs(settings: Settings, published_dir: Path) -> Path | None:
    """Copy the GX Data Docs site to ``docs/gx/``; returns its index, or None when none was built."""
    site = gx_data_docs_site(settings)
    if not (site / "index.html").is_file():
        log.warning("no GX Data Docs at %s (has the ingestion DAG run?): not published", site)
        return None
    target = published_dir / DOCS_DIR / GX_DOCS_DIR
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = temporary_sibling(target)
    shutil.copytree(site, staged)
    swap_directory(staged, target)
    log.info("GX Data Docs published: %s", target / "index.html")
    return target / "index.html"
