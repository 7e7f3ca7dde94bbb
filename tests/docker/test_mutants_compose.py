"""`mkdrill mutants --backend compose`: the consumer container is recreated with each defect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.images import BuildReport

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


@pytest.mark.slow
def test_mutants_on_containers_catch_each_defect(
    tmp_path: Path, reference_images: BuildReport
) -> None:
    out = tmp_path / "reports" / "mutants"
    done = subprocess.run(
        [
            sys.executable, "-m", "runner", "mutants", "disabled", "offline-proxy-down",
            "--mutant", "disabled-flag-ignored", "--mutant", "draft-blocks",
            "--backend", "compose", "--out", str(out),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=800,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["backend"] == "compose" and report["verdict"]["passed"] is True
    caught = {m["name"]: [c["drill"] for c in m["caught_by"]] for m in report["mutants"]}
    assert caught["disabled-flag-ignored"] == ["disabled"]
    assert caught["draft-blocks"]  # the container answered 503 while MemoryKernel was away
