"""The CLI around runs: env up/status/down/reset, --fail-fast, the ledger turning a pin green, `report`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.backends.processes import pid_alive
from tests.engine.conftest import REPO, mkdrill, read_report


def test_env_up_status_down(workdir: Path) -> None:
    up = mkdrill("env", "up", cwd=workdir)
    try:
        assert up.returncode == 0, up.stderr
        assert "environment up at v0.4.0" in up.stdout
        status = mkdrill("env", "status", cwd=workdir)
        assert status.returncode == 0
        assert status.stdout.count("running") == 3, status.stdout
    finally:
        down = mkdrill("env", "down", cwd=workdir)
    assert down.returncode == 0 and "stopped:" in down.stdout, down.stdout + down.stderr
    pids = [int(word) for word in down.stdout.replace(")", " ").split() if word.isdigit()]
    assert pids and not any(pid_alive(pid) for pid in pids)
    status = mkdrill("env", "status", cwd=workdir)
    assert "no local environment recorded" in status.stdout
    reset = mkdrill("env", "reset", cwd=workdir)
    assert reset.returncode == 0 and "nothing to remove" in reset.stdout


def test_fail_fast_skips_the_rest(workdir: Path) -> None:
    out = workdir / "reports" / "ff"
    done = mkdrill(
        "run",
        "hang",
        "disabled",
        "--consumer-defect",
        "draft-blocks",
        "--fail-fast",
        "--out",
        str(out),
        cwd=workdir,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    verdicts = [(d["name"], d["verdict"]) for d in read_report(out)["drills"]]
    assert verdicts == [("hang", "failed"), ("disabled", "skipped")]


@pytest.mark.slow
def test_passing_suite_turns_the_pin_green_and_reports_render(workdir: Path) -> None:
    drills = workdir / "drills"
    drills.mkdir()
    shutil.copy(REPO / "drills" / "disabled.yaml", drills)
    shutil.copy(REPO / "drills" / "offline-proxy-down.yaml", drills)
    v040 = REPO / "tests/fixtures/assistsupport-pins/v0.4.0.json"
    first = mkdrill(
        "run",
        "--drills-dir",
        str(drills),
        "--pin",
        str(v040),
        "--out",
        str(workdir / "reports" / "a"),
        cwd=workdir,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    pins = mkdrill("pins", cwd=workdir)
    assert pins.returncode == 0
    marked = [line.split() for line in pins.stdout.splitlines() if line.startswith("*   v")]
    assert len(marked) == 1, pins.stdout
    assert marked[0][1] == "v0.4.0" and "passed" in marked[0], pins.stdout
    second = mkdrill(
        "run",
        "--drills-dir",
        str(drills),
        "--pin",
        str(v040),
        "--out",
        str(workdir / "reports" / "b"),
        cwd=workdir,
    )
    assert second.returncode == 0
    show = mkdrill("report", "show", "a", cwd=workdir)
    assert show.returncode == 0 and "disabled" in show.stdout
    compare = mkdrill("report", "compare", "a", "b", cwd=workdir)
    assert compare.returncode in (0, 1), compare.stderr
    history = mkdrill("history", cwd=workdir)
    assert history.returncode == 0 and "offline-proxy-down" in history.stdout
