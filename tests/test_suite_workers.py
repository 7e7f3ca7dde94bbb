"""The suite's own pytest-xdist settings: tests of one `xdist_group` run on one worker, fixture made once."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

GROUPED = """
import os, pytest

pytestmark = pytest.mark.xdist_group("shared")

@pytest.fixture(scope="module")
def made(tmp_path_factory):
    with open(os.environ["MADE_LOG"], "a") as log:
        log.write(os.environ.get("PYTEST_XDIST_WORKER", "none") + "\\n")

@pytest.mark.parametrize("n", range(6))
def test_shares_the_fixture(made, n):
    pass
"""

OTHERS = """
import pytest

@pytest.mark.parametrize("n", range(6))
def test_other(n):
    pass
"""


def test_a_group_runs_on_one_worker_with_the_suites_own_options(tmp_path: Path) -> None:
    options = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    addopts = options["tool"]["pytest"]["ini_options"]["addopts"]
    assert "--dist loadgroup" in addopts and "-n " in addopts
    (tmp_path / "pytest.ini").write_text(f"[pytest]\naddopts = {addopts}\nmarkers = slow\n")
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "test_others.py").write_text(OTHERS)
    made = tmp_path / "made.log"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:mkdrill"],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "MADE_LOG": str(made)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12 passed" in done.stdout
    workers = made.read_text().split()
    assert len(workers) == 1 and workers[0].startswith("gw"), workers  # one worker, made once
