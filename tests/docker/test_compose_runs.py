"""`mkdrill run --backend compose` end to end: the catalog on containers, and a SIGKILLed runner swept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from runner.images import BuildReport
from tests.docker.helpers import labelled
from tests.machine_share import ALONE_GROUP

# Whole drill runs on containers: CPU-heavy, they run alone on the machine (tests/conftest.py).
pytestmark = [
    pytest.mark.docker,
    pytest.mark.timeout(900),
    pytest.mark.xdist_group(ALONE_GROUP),
]


def mkdrill(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_whole_nightly_catalog_passes_on_compose(
    tmp_path: Path, reference_images: BuildReport
) -> None:
    out = tmp_path / "reports" / "compose"
    done = mkdrill(tmp_path, "run", "--backend", "compose", "--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["backend"] == "compose" and report["verdict"] == "passed"
    assert len(report["drills"]) >= 20
    rollback = next(d for d in report["drills"] if d["name"] == "version-mismatch-deploy")
    ttr = rollback["time_to_restore"]
    assert ttr["kind"] == "rollback" and ttr["within_budget"]
    assert [m["name"] for m in ttr["milestones"]] == [
        "service_up",
        "health_versions",
        "schema_ready",
        "preflight_ready",
        "first_enriched_draft",
    ]
    assert all(m["at_s"] is not None for m in ttr["milestones"])


@pytest.mark.slow
def test_sigkilled_runner_then_env_reset_leaves_nothing(
    tmp_path: Path, reference_images: BuildReport, docker_client: docker.DockerClient
) -> None:
    out = tmp_path / "reports" / "killed"
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "run",
            "offline-stopped",
            "flapping",
            "--backend",
            "compose",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_id = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not run_id:  # the report names the run once it started
        if (out / "report.json").exists():
            run_id = json.loads((out / "report.json").read_text())["run_id"]
        time.sleep(0.1)
    assert run_id
    while time.monotonic() < deadline and len(labelled(docker_client, run_id)) < 3:
        time.sleep(0.1)
    time.sleep(3.0)  # inside the first drill
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=10)
    assert labelled(docker_client, run_id), "a SIGKILLed compose run leaves its containers behind"
    reset = mkdrill(tmp_path, "env", "reset", "--backend", "compose")
    assert reset.returncode == 0, reset.stderr
    assert labelled(docker_client, run_id) == []
    assert json.loads((out / "report.json").read_text())["verdict"] == "interrupted"
    after = mkdrill(
        tmp_path,
        "run",
        "offline-stopped",
        "--backend",
        "compose",
        "--out",
        str(tmp_path / "reports" / "after"),
    )
    assert after.returncode == 0, after.stdout[-2000:] + after.stderr[-2000:]
    report = json.loads((tmp_path / "reports" / "after" / "report.json").read_text())
    assert report["releases"]["baseline"] == "v0.4.0" and report["verdict"] == "passed"
