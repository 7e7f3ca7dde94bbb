"""`mkdrill rehearse SCENARIO --auto` end to end on the embedded default (real processes on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runner.backends.processes import pid_alive
from runner.rehearsal.catalog import default_scenarios_dir, load_scenarios
from tests.engine.conftest import mkdrill

SCENARIOS = sorted(s.scenario.name for s in load_scenarios([default_scenarios_dir()]))


def _saved(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "rehearsal.json").read_text())
    return data


def check_passed_rehearsal(data: dict[str, Any]) -> None:
    """What every passing --auto rehearsal shows, on any backend."""
    assert data["verdict"] == "passed", data["reason"]
    assert data["mode"] == "auto" and data["finished_at"] is not None
    m = data["measures"]
    assert m["first_fallback_s"] is not None and m["diagnosis_s"] > m["first_fallback_s"]
    assert m["time_to_detect_s"] == pytest.approx(
        m["diagnosis_s"] - m["first_fallback_s"], abs=1e-3
    )
    assert m["restored_s"] > m["fix_requested_s"] and m["budget_met"] is True
    assert m["time_to_restore_s"] <= m["budget_s"]
    assert m["availability"] == 1.0 and m["drafts"] == m["answered"] > 20
    expected = data["root_cause"]["expected_fallback_reasons"]
    assert any(m["fallback_reasons"].get(r) for r in expected), m["fallback_reasons"]
    verified = [s["verified_s"] for s in data["checklist"]]
    assert all(s["state"] == "verified" for s in data["checklist"])
    assert verified == sorted(verified) and m["step_verified_s"] == {
        str(s["number"]): s["verified_s"] for s in data["checklist"]
    }
    assert data["diagnoses"][0]["actor"] == "operator" and data["prevention_actions"]
    (run,) = data["contract_runs"]
    assert run["passed"] and {c["name"] for c in run["checks"]} == {
        "ci_pin_sync", "health_contract", "schema_version", "ask_context_package",
        "error_envelope", "ci_draft_flow",
    }  # fmt: skip
    assert all(f["removed_s"] is not None for f in data["root_cause"]["faults"])
    assert any(s["t_s"] < 0 for s in data["samples"]) and any(s["t_s"] > 0 for s in data["samples"])


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_shipped_scenario_passes_unattended(tmp_path: Path, name: str) -> None:
    out = tmp_path / "reports" / name
    done = mkdrill("rehearse", name, "--auto", "--out", str(out), cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    data = _saved(out)
    check_passed_rehearsal(data)
    assert data["backend"] == "local" and data["scenario"] == name
    assert "passed: checklist done; restored in" in done.stdout
    assert "time to restore:" in done.stdout and "of the" in done.stdout
    summary = (out / "summary.md").read_text()
    assert data["root_cause"]["description"] in summary and data["diagnoses"][0]["text"] in summary
    if name == "bad-deploy-cross-contract-rollback":
        revert = data["checklist"][1]
        assert revert["step"] == "revert_trio"
        assert "match the last green trio (pin b43626072012" in revert["detail"]
        assert "consumer pinned v0.3.2 (service.v2)" in revert["detail"]
        assert data["contract_runs"][0]["target"] == "v0.3.2 (service.v2)"
        history = mkdrill("history", cwd=tmp_path)
        assert history.returncode == 0, history.stderr
        (line,) = [row for row in history.stdout.splitlines() if data["rehearsal_id"] in row]
        assert name in line and "passed" in line and "met" in line
    if name == "unannounced-error-code":
        assert data["measures"]["unannounced_error_codes"] == ["quota_exceeded"]
    if name == "memorykernel-offline-surge":  # the surge: more Drafts per second than the run's 25
        per_second = data["measures"]["drafts"] / data["measures"]["fix_requested_s"]
        assert per_second > 35, per_second


def test_ctrl_c_ends_it_with_the_faults_undone_and_the_summary_interrupted(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "interrupted"
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "rehearse", "memorykernel-offline-surge", "--auto", "--out", str(out)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        pids: list[int] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            states = list((tmp_path / "reports" / ".state").glob("*.json"))
            if states and not pids:
                pids = [p["pid"] for p in json.loads(states[0].read_text()).get("processes", [])]
            if (out / "rehearsal.json").exists() and any(
                e["kind"] == "fault_injected" for e in _saved(out)["events"]
            ):
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stdout + stderr
    data = _saved(out)
    assert data["verdict"] == "interrupted" and data["interrupted_by"] == "SIGINT"
    assert data["reason"] == "interrupted by SIGINT; faults undone, environment stopped"
    (fault,) = data["root_cause"]["faults"]
    assert fault["kind"] == "kill" and fault["removed_by"] == "cleanup"
    assert pids and not any(pid_alive(pid) for pid in pids)
    assert "interrupted" in (out / "summary.md").read_text().splitlines()[0]
