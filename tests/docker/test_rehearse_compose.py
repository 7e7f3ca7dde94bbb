"""The cross-contract rehearsal on containers: `mkdrill rehearse ... --auto --backend compose`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.images import BuildReport
from tests.rehearsal.test_rehearse_local import check_passed_rehearsal

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


@pytest.mark.slow
def test_the_cross_contract_rollback_rehearsal_passes_on_compose(
    tmp_path: Path, reference_images: BuildReport
) -> None:
    out = tmp_path / "reports" / "compose"
    done = subprocess.run(
        [sys.executable, "-m", "runner", "rehearse", "bad-deploy-cross-contract-rollback",
         "--auto", "--backend", "compose", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=500,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    data = json.loads((out / "rehearsal.json").read_text())
    check_passed_rehearsal(data)
    assert data["backend"] == "compose"
    revert = data["checklist"][1]
    assert (
        revert["step"] == "revert_trio"
        and "consumer pinned v0.3.2 (service.v2)" in revert["detail"]
    )
    assert "MemoryKernel v0.3.2 healthy (service.v2)" in revert["detail"]
    assert data["contract_runs"][0]["target"] == "v0.3.2 (service.v2)"
