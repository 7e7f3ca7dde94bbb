"""`mkdrill pins --json` after each run of a scripted sequence: state and last green follow the evidence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import REPO, mkdrill

V040 = REPO / "tests/fixtures/assistsupport-pins/v0.4.0.json"
V032 = REPO / "tests/fixtures/assistsupport-pins/v0.3.2.json"


def _pins(workdir: Path) -> dict[str, Any]:
    done = mkdrill("pins", "--json", cwd=workdir)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _state(data: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    states = {p["release_tag"]: p["state"] for p in data["pins"]}
    green = data["last_green"]["release_tag"] if data["last_green"] else None
    return states, green


@pytest.mark.slow
def test_pass_fail_fail_older_pass_one_drill(workdir: Path) -> None:
    drills = workdir / "drills"
    drills.mkdir()
    for name in ("disabled", "offline-proxy-down"):  # the whole "nightly" suite of this catalog
        shutil.copy(REPO / "drills" / f"{name}.yaml", drills)

    def run(step: str, *args: str, pin: Path = V040, expect: int = 0) -> None:
        out = workdir / "reports" / step
        done = mkdrill("run", "--drills-dir", str(drills), "--pin", str(pin), "--out", str(out),
                       *args, cwd=workdir)  # fmt: skip
        assert done.returncode == expect, done.stdout + done.stderr

    run("1-pass")
    assert _state(_pins(workdir)) == ({"v0.4.0": "green"}, "v0.4.0")

    run("2-fail", "--consumer-defect", "draft-blocks", expect=1)
    assert _state(_pins(workdir)) == ({"v0.4.0": "red"}, None)

    run("3-fail", "--consumer-defect", "draft-blocks", expect=1)
    data = _pins(workdir)
    assert _state(data) == ({"v0.4.0": "red"}, None)
    (v040,) = data["pins"]
    assert v040["last_run"]["run_id"] == v040["last_gating_run"]["run_id"]
    assert v040["last_gating_run"]["verdict"] == "failed" and v040["runs"] == 3

    run("4-older-pass", pin=V032)
    data = _pins(workdir)
    assert _state(data) == ({"v0.4.0": "red", "v0.3.2": "green"}, "v0.3.2")
    assert data["last_green"]["run"]["suite"] == "nightly"

    run("5-one-drill", "disabled")  # passes, but names a drill: it decides nothing
    data = _pins(workdir)
    assert _state(data) == ({"v0.4.0": "red", "v0.3.2": "green"}, "v0.3.2")
    v040 = next(p for p in data["pins"] if p["release_tag"] == "v0.4.0")
    assert v040["last_run"]["verdict"] == "passed" and v040["last_run"]["complete"] is False
    assert "drills named" in v040["last_run"]["partial_reason"]
    assert v040["last_gating_run"]["verdict"] == "failed"
    assert next(iter(v040["by_memorykernel"].values()))["state"] == "red"
    table = mkdrill("pins", cwd=workdir)
    marked = [line.split() for line in table.stdout.splitlines() if line.startswith("*")]
    assert marked[0][1] == "v0.3.2", table.stdout
