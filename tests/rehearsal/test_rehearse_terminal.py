"""An interactive rehearsal driven through a real terminal (tmux): keys typed, the live screen read."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from runner.backends.processes import pid_alive
from tests.rehearsal.terminal import terminal

DIAGNOSIS = "ask answers a typed 500 internal_error since the v0.4 deploy"
NOTE = "the rollback took one consumer redeploy"
PREVENTION = "gate every v0.4.x promotion on the quarterly rollback drill"


def _saved(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "rehearsal.json").read_text())
    return data


def test_a_person_diagnoses_reverts_the_trio_reruns_the_contract_and_notes_it_all(
    tmp_path: Path,
) -> None:
    out = tmp_path / "reports" / "by-hand"
    with terminal(
        tmp_path, "rehearse", "bad-deploy-cross-contract-rollback", "--out", str(out)
    ) as term:
        screen = term.wait_for("(internal_error)")  # a whole second of the Draft flow shown
        assert "Checklist" in screen and "non-2xx×" in screen and "first fallback +" in screen
        assert "consumer pin v0.4.0 (service.v3)" in screen
        term.type(f"d {DIAGNOSIS}")
        term.wait_for("diagnosis recorded at")
        term.type("do 1")
        term.wait_for("step 1 verified")
        term.type("do 2")
        screen = term.wait_for("step 2 verified", timeout_s=90)
        assert "consumer pin v0.3.2 (service.v2)" in screen and "restored +" in screen
        assert "MemoryKernel health ok service.v2/api.v1" in screen
        term.type("do 3")
        term.wait_for("step 3 verified")
        term.type(f"n {NOTE}")
        term.wait_for("note recorded at")
        term.type("do 4")  # refused: no prevention action yet
        term.wait_for("step 4 not verified: no prevention action entered: p TEXT")
        term.type(f"p {PREVENTION}")
        term.wait_for("prevention action recorded at")
        term.type("do 4")
        assert term.exit_code() == 0, term.screen()
        final = term.wait_for("incident summary:")
        assert "passed: checklist done; restored in" in final
    data = _saved(out)
    assert data["mode"] == "interactive" and data["verdict"] == "passed", data["reason"]
    (diagnosis,) = data["diagnoses"]
    assert diagnosis["text"] == DIAGNOSIS and diagnosis["actor"] == "operator"
    assert data["measures"]["time_to_detect_s"] > 0
    revert = data["checklist"][1]
    assert revert["state"] == "verified" and revert["verified_s"] > revert["performed_s"] > 0
    assert "deployed pin, matrix and manifest match the last green trio" in revert["detail"]
    (run,) = data["contract_runs"]
    assert run["passed"] and run["target"] == "v0.3.2 (service.v2)"
    assert [n["text"] for n in data["notes"]] == [NOTE]
    assert [p["text"] for p in data["prevention_actions"]] == [PREVENTION]
    assert data["checklist"][3]["attempts"] == 2
    summary = (out / "summary.md").read_text()
    for text, at in ((DIAGNOSIS, diagnosis["at_s"]), (NOTE, data["notes"][0]["at_s"]),
                     (PREVENTION, data["prevention_actions"][0]["at_s"])):  # fmt: skip
        assert f"{text} (operator, +{at:.1f}s)" in summary, text
    row = next(line for line in summary.splitlines() if line.startswith("| 2 "))
    assert f"+{revert['verified_s']:.1f}s" in row and "verified" in row
    assert re.search(r"\| \+[\d.]+s +\| v0\.3\.2 \(service\.v2\) +\| passed", summary)
    html = (out / "report.html").read_text()
    assert ">diagnosis</text>" in html and ">note</text>" in html and ">verified 2</text>" in html


def _pids(tmp_path: Path) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for state in (tmp_path / "reports" / ".state").glob("*.json"):
            processes = json.loads(state.read_text()).get("processes", [])
            if len(processes) >= 3:
                return [int(p["pid"]) for p in processes]
        time.sleep(0.1)
    raise AssertionError("the environment never came up")


def _finished(out: Path, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (out / "rehearsal.json").exists():
            data = _saved(out)
            if data["finished_at"] is not None:
                return data
        time.sleep(0.1)
    raise AssertionError(f"{out / 'rehearsal.json'} never finished")


def test_an_operator_who_walks_away_ends_it_at_the_idle_limit(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "idle"
    args = (
        "rehearse",
        "memorykernel-offline-surge",
        "--blind",
        "--idle-limit",
        "5",
        "--out",
        str(out),
    )
    with terminal(tmp_path, *args) as term:
        screen = term.wait_for("first fallback +")
        assert "fault: hidden until the end (--blind)" in screen and "injected" not in screen
        pids = _pids(tmp_path)
        assert term.exit_code(timeout_s=60) == 130
        final = term.wait_for("incident summary:")
        assert "root cause (injected): kill at +0s" in final  # revealed at the end
    data = _finished(out)
    assert data["verdict"] == "interrupted" and data["interrupted_by"] == "idle limit"
    assert data["reason"].startswith("no key pressed for 5 s (the idle limit)")
    assert data["root_cause"]["faults"][0]["removed_by"] == "cleanup"
    assert not any(pid_alive(pid) for pid in pids)


def test_a_closed_terminal_ends_it_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "closed"
    with terminal(tmp_path, "rehearse", "unannounced-error-code", "--out", str(out)) as term:
        term.wait_for("first fallback +")
        pids = _pids(tmp_path)
        term.type("d an error code nobody announced")
        term.wait_for("diagnosis recorded at")
        term.close()  # the session is killed: SIGHUP
        data = _finished(out)
    assert data["verdict"] == "interrupted" and data["interrupted_by"] == "SIGHUP", data["reason"]
    assert data["reason"] == "interrupted by SIGHUP; faults undone, environment stopped"
    assert data["root_cause"]["faults"][0]["removed_by"] == "cleanup"
    assert data["diagnoses"][0]["text"] == "an error code nobody announced"
    deadline = time.monotonic() + 30
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(pid_alive(pid) for pid in pids)
    assert "interrupted" in (out / "summary.md").read_text().splitlines()[0]
