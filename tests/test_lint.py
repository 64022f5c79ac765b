"""Style gates run in CI: ruff on the Python code, sqlfluff (dialect duckdb) on the dbt models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=600)


def test_ruff_lint_and_format():
    lint = _run(str(BIN / "ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = _run(str(BIN / "ruff"), "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout[-4000:]


def test_sqlfluff_passes_on_the_dbt_models():
    result = _run(str(BIN / "sqlfluff"), "lint", "dbt_project/models", "--disable-progress-bar")
    assert result.returncode == 0, result.stdout[-4000:]
