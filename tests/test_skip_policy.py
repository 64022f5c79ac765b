"""The CI skip policy (tests/skip_policy.py) turns a skip into a failure, except allowed reasons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SAMPLE = """
import pytest

def test_needs_a_service():
    pytest.skip("PostgreSQL at 127.0.0.1:5432 unreachable")

@pytest.fixture
def server():
    pytest.skip("Redis unreachable")

def test_needs_a_fixture(server):
    pass

@pytest.mark.skipif(True, reason="docker-compose (Compose v2) is not installed")
def test_allowed():
    pass

def test_passes():
    pass
"""


def _run(tmp_path: Path, require: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SAMPLE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CRM_REQUIRE_SERVICES"}
    if require:
        env["CRM_REQUIRE_SERVICES"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.skip_policy", "-p", "no:cacheprovider", "-rA",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_sample.py")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("require", [False, True])
def test_skips_fail_only_when_services_are_required(tmp_path: Path, require: bool) -> None:
    out = _run(tmp_path, require)
    summary = out.stdout.strip().splitlines()[-1]
    if require:
        assert out.returncode == 1, out.stdout
        assert "1 failed" in summary and "1 error" in summary, summary  # the fixture skip: setup error
        assert "1 passed" in summary and "1 skipped" in summary, summary
        assert "CRM_REQUIRE_SERVICES is set" in out.stdout and "PostgreSQL at 127.0.0.1:5432" in out.stdout
    else:
        assert out.returncode == 0, out.stdout
        assert "1 passed" in summary and "3 skipped" in summary, summary


def test_the_policy_is_active_in_the_suite_and_ci_requires_services() -> None:
    conftest = (REPO_ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")
    assert '"tests.skip_policy"' in conftest
    assert "export CRM_REQUIRE_SERVICES=1" in (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
