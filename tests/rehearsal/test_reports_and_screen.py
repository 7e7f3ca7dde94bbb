"""The incident summary (summary.md, rehearsal.json, report.html), `mkdrill history`, the live screen, the contract checks."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from rich.console import Console
from typer.testing import CliRunner

from runner.cli import app
from runner.engine import pin_info
from runner.ledger import Ledger, RehearsalRow
from runner.pins import default_pin_path, load_pin
from runner.record import Verdict
from runner.rehearsal import contract_check
from runner.rehearsal.record import RehearsalRecord, RootCause
from runner.rehearsal.report import timeline_drill, write_rehearsal_reports
from runner.rehearsal.screen import ScreenContext, render
from runner.rehearsal.state import RehearsalState
from tests.rehearsal.factory import enriched, fallback, new_state

PIN = load_pin(default_pin_path("v0.4.0"))


def _worked() -> RehearsalState:
    state, clock = new_state()
    state.ingest([enriched(-0.3), fallback(0.1), fallback(0.5)])
    state.fault_injected(0, clock.now())
    clock.advance(2.0)
    state.diagnose("MemoryKernel is down | stopped", clock.now())
    clock.advance(1.0)
    state.note("restart took long", clock.now())
    for number in (1, 2):
        state.request_step(number, clock.now(), perform=True)
        state.step_performed(number, True, "done", clock.now())
        clock.advance(0.5)
        state.step_verified(number, True, "checked", clock.now())
    state.ingest([enriched(4.2)])
    state.prevent("supervise MemoryKernel", clock.now())
    state.fault_removed(0, clock.now(), "fix")
    return state


def _record(state: RehearsalState, verdict: Verdict = Verdict.PASSED) -> RehearsalRecord:
    return RehearsalRecord(
        rehearsal_id="r-1", tool_version="0", started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:01:00Z", host={}, scenario="fake-offline",
        scenario_description="MemoryKernel stopped.", scenario_file="fake.yaml", mode="interactive",
        blind=True, backend="local", toxiproxy="embedded", pin=pin_info(PIN), rollback_target=None,
        settings={"latency_bound_ms": "1750"}, verdict=verdict, reason="because",
        root_cause=RootCause(description="stop at +0s", faults=state.fault_results(), expected_fallback_reasons=["offline"]),
        diagnoses=state.diagnoses, prevention_actions=state.prevention, notes=state.notes,
        measures=state.measures(), checklist=state.step_results(), contract_runs=[],
        events=state.event_results(), samples=[],
    )  # fmt: skip


def test_the_summary_puts_the_diagnosis_beside_the_root_cause_with_every_time(
    tmp_path: Path,
) -> None:
    written = write_rehearsal_reports(_record(_worked()), tmp_path)
    assert [p.name for p in written] == ["rehearsal.json", "summary.md", "report.html"]
    summary = (tmp_path / "summary.md").read_text()
    assert "| root cause (injected) | stop at +0s" in summary.replace("  ", " ").replace("  ", " ")
    assert (
        "MemoryKernel is down \\| stopped (operator, +2.0s)" in summary
    )  # a pipe cannot break the table
    assert "1.89 s (first fallback +0.1s → diagnosis +2.0s)" in summary
    assert "- supervise MemoryKernel (operator, +4.0s)" in summary
    assert "- restart took long (operator, +3.0s)" in summary
    assert "| 2   | Bring MemoryKernel back" in summary and "+3.5s" in summary
    data = json.loads((tmp_path / "rehearsal.json").read_text())
    assert data["schema_version"] == "1.0" and data["kind"] == "rehearsal"
    assert data["measures"]["time_to_detect_s"] == 1.89
    assert [e["kind"] for e in data["events"]].count("diagnosis") == 1


def test_the_reports_give_the_restore_clocks_resolution_beside_the_restore(
    tmp_path: Path,
) -> None:
    """Fix asked for at +3.5 s, nothing fell back after it, the Draft asked for at +4.2 s came
    back enriched at +4.21 s: the restore took effect within the 0.71 s since the fix."""
    record = _record(_worked())
    assert record.measures.restore_resolution_s == 0.71
    write_rehearsal_reports(record, tmp_path)
    assert "0.71 s (resolution 0.71 s)" in (tmp_path / "summary.md").read_text()
    assert "0.71 s (resolution 0.71 s)" in (tmp_path / "report.html").read_text()
    ttr = timeline_drill(record)[0].time_to_restore
    assert ttr is not None and ttr.resolution_s == 0.71
    assert ttr.milestones[-1].resolution_s == 0.71


def test_the_html_timeline_marks_the_operator_events(tmp_path: Path) -> None:
    state = _worked()
    state.ingest([])
    record = _record(state).model_copy(update={"samples": [s for s in _samples_of(state)]})
    write_rehearsal_reports(record, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert (
        html.count('class="operator"') >= 5
    )  # diagnosis, note, prevention, steps asked and verified
    for label in ("diagnosis", "note", "prevention", "asked 1", "verified 2"):
        assert f">{label}</text>" in html, label
    assert 'class="operator-event"' in html


def _samples_of(state: RehearsalState):  # type: ignore[no-untyped-def]
    from runner.drill_run import to_samples

    return to_samples([enriched(-0.3), fallback(0.1), enriched(4.2)], state.origin)


def test_history_lists_rehearsals_with_their_times(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.sqlite3"
    with Ledger(ledger_path) as ledger:
        for rid, verdict, met in (("r-1", Verdict.PASSED, True), ("r-2", Verdict.FAILED, False)):
            ledger.record_rehearsal(
                RehearsalRow(
                    rehearsal_id=rid, started_at=f"2026-01-0{rid[-1]}T00:00:00Z", finished_at=None,
                    scenario="bad-deploy-cross-contract-rollback", backend="local", mode="auto",
                    blind=rid == "r-2", verdict=verdict, reason="x", release_tag="v0.4.0",
                    time_to_detect_s=1.25, time_to_restore_s=5.5 if met else 200.0, budget_s=180,
                    budget_met=met, availability=1.0, out_dir="o",
                )
            )  # fmt: skip
        assert [r.rehearsal_id for r in ledger.rehearsals(5)] == ["r-2", "r-1"]
    result = CliRunner().invoke(app, ["history", "--ledger", str(ledger_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("Last 20 rehearsals" in line for line in lines)
    (first,) = [line for line in lines if "r-1" in line]
    assert "bad-deploy-cross-contract-rollback" in first and "passed" in first
    assert "1.25 s" in first and "5.50 s" in first and "met" in first and "100.0%" in first
    (second,) = [line for line in lines if "r-2" in line]
    assert "auto, blind" in second and "MISSED" in second


def _screen(state: RehearsalState, blind: bool) -> str:
    console = Console(width=120, record=True, color_system=None)
    context = ScreenContext("fake-offline", "stop at +0s", "v0.4.0 (service.v3)", "d Memory")
    console.print(render(state, 6.0, context, blind))
    return console.export_text()


def test_the_live_screen_shows_the_flow_the_checklist_and_hides_the_fault_when_blind() -> None:
    state = _worked()
    shown = _screen(state, blind=False)
    for text in ("Draft flow, per second", "offline×2", "Checklist", "[x]", "Bring MemoryKernel back",
                 "prevention action: supervise MemoryKernel", "> d Memory", "removed stop (fix)", "restored +4.2s"):  # fmt: skip
        assert text in shown, text
    hidden = _screen(state, blind=True)
    assert (
        "removed stop" not in hidden and "stop at +0s" in hidden
    )  # the header's label is the caller's
    assert "prevention action: supervise MemoryKernel" in hidden


def _client(routes: dict[str, tuple[int, object]]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        status, body = routes[request.url.path]
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_the_error_envelope_check_knows_each_contract_version() -> None:
    missing = f"/v1/context/{contract_check.MISSING_PACKAGE}"
    v2 = {
        "service_contract_version": "service.v2",
        "error": {"code": "context_package_not_found", "message": "m"},
        "legacy_error": "m",
    }
    v3 = {
        "service_contract_version": "service.v3",
        "error": {"code": "context_package_not_found", "message": "m"},
    }
    ok2 = contract_check._error_envelope(_client({missing: (404, v2)}), "http://mk", "service.v2")
    ok3 = contract_check._error_envelope(_client({missing: (404, v3)}), "http://mk", "service.v3")
    assert ok2.passed and ok3.passed
    bad = contract_check._error_envelope(_client({missing: (404, v2)}), "http://mk", "service.v3")
    assert not bad.passed and "legacy_error present (service.v3 removed it)" in bad.observed
    health = {
        "service_contract_version": "service.v2",
        "api_contract_version": "api.v1",
        "data": {"status": "ok"},
    }
    mismatch = contract_check._health(
        _client({"/v1/health": (200, health)}), "http://mk", ("service.v3", "api.v1")
    )
    assert (
        not mismatch.passed
        and mismatch.observed == "health names service.v2/api.v1, the pin expects service.v3/api.v1"
    )
