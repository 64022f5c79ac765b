"""Shared fixtures: isolated data directories and settings for ingestion tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: In CI (CRM_REQUIRE_SERVICES=1) a skip for a missing service or extra fails the run.
pytest_plugins = ["tests.skip_policy"]

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty CRM data directory wired into the environment (settle time 0 for tests)."""
    root = tmp_path / "data"
    (root / "landing").mkdir(parents=True)
    monkeypatch.setenv("CRM_DATA_DIR", str(root))
    monkeypatch.setenv("CRM_WAREHOUSE_PATH", str(root / "warehouse.duckdb"))
    monkeypatch.setenv("CRM_SETTLE_SECONDS", "0")
    monkeypatch.setenv("CRM_CHUNK_ROWS", "1000")
    return root


def write_landing(
    data_dir: Path, source: str, name: str, content: bytes | str, encoding: str = "utf-8"
) -> Path:
    folder = data_dir / "landing" / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path
