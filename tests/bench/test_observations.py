"""Reading both tools' evidence: Chaos Toolkit journals, mkdrill report.json, suite breakdowns."""

from __future__ import annotations

from typing import Any

import pytest

from runner.bench.peer import (
    CTK_TOXIC,
    LatencyDrill,
    ctk_experiment,
    latency_drill,
    observe_ctk_journal,
    observe_mkdrill_report,
)
from runner.bench.suite import suite_breakdown
from runner.errors import EnvironmentProblem

DRILL = LatencyDrill("latency-above-timeout", latency_ms=800, window_s=2.0, consumer_timeout_ms=500)


def _activity(
    name: str, start: str, end: str, duration: float, output: Any = None
) -> dict[str, Any]:
    return {
        "activity": {"name": name},
        "status": "succeeded",
        "start": start,
        "end": end,
        "duration": duration,
        "output": output,
    }


def _draft(applied: bool, reason: str | None) -> dict[str, Any]:
    return {
        "status": 200,
        "body": {"draft": "Hi", "enrichment": {"applied": applied, "fallback_reason": reason}},
    }


def test_the_latency_drill_file_gives_the_experiment_its_numbers() -> None:
    # The shared services run the consumer as shipped (2500 ms), so the drill resolves for it:
    # latency `timeout + 300ms`, window `2 * timeout + 1s`.
    drill = latency_drill()
    assert (drill.latency_ms, drill.window_s, drill.consumer_timeout_ms) == (2800, 6.0, 2500)


def test_the_experiment_is_valid_for_chaos_toolkit() -> None:
    from chaoslib.experiment import ensure_experiment_is_valid

    experiment = ctk_experiment(DRILL, "http://127.0.0.1:1", "http://127.0.0.1:2", "mk")
    ensure_experiment_is_valid(experiment)  # raises InvalidExperiment otherwise
    method = experiment["method"]
    assert method[0]["provider"]["arguments"] == {
        "for_proxy": "mk",
        "toxic_name": CTK_TOXIC,
        "latency": 800,
    }
    assert method[-1]["pauses"] == {"before": 2.0}
    assert experiment["rollbacks"][0]["provider"]["func"] == "delete_toxic"


def test_a_ctk_journal_gives_the_window_the_drafts_and_the_verdict() -> None:
    journal = {
        "status": "completed",
        "deviated": False,
        "run": [
            _activity(
                "add-latency-toxic",
                "2026-01-01T00:00:00.000+00:00",
                "2026-01-01T00:00:00.010+00:00",
                0.01,
            ),
            _activity(
                "draft-during-fault",
                "2026-01-01T00:00:00.011+00:00",
                "2026-01-01T00:00:00.520+00:00",
                0.509,
                _draft(False, "offline"),
            ),
            _activity(
                "remove-latency-toxic",
                "2026-01-01T00:00:02.015+00:00",
                "2026-01-01T00:00:02.020+00:00",
                0.005,
            ),
        ],
        "steady_states": {"before": {"probes": [{}]}, "after": {"probes": [{}]}},
    }
    seen = observe_ctk_journal(journal)
    assert seen["window_s"] == pytest.approx(2.015)
    assert seen["drafts_in_window"] == 1
    assert seen["drafts_total"] == 3
    assert seen["fallback_reasons"] == {"offline": 1}
    assert seen["passed"] is True


def test_a_deviated_ctk_run_did_not_pass() -> None:
    seen = observe_ctk_journal({"status": "completed", "deviated": True, "run": []})
    assert seen["passed"] is False
    assert seen["window_s"] == 0.0


def _report() -> dict[str, Any]:
    samples = [
        {"phase": "steady", "applied": True, "fallback_reason": None},
        {"phase": "observe", "applied": False, "fallback_reason": "offline"},
        {"phase": "observe", "applied": False, "fallback_reason": "offline"},
        {"phase": "observe", "applied": True, "fallback_reason": None},
        {"phase": "verify", "applied": True, "fallback_reason": None},
    ]
    return {
        "started_at": "2026-01-01T00:00:00.000Z",
        "finished_at": "2026-01-01T00:00:10.000Z",
        "drills": [
            {
                "verdict": "passed",
                "started_at": "2026-01-01T00:00:01.500Z",
                "duration_s": 3.0,
                "fault_window": {"start_s": 0.3, "end_s": 2.3},
                "time_to_restore": {"total_s": 0.2},
                "phases": [
                    {"phase": "steady", "start_s": 0.0, "end_s": 0.3},
                    {"phase": "observe", "start_s": 0.3, "end_s": 2.3},
                    {"phase": "verify", "start_s": 2.5, "end_s": 3.0},
                ],
                "samples": samples,
            },
            {
                "verdict": "failed",
                "started_at": "2026-01-01T00:00:05.000Z",
                "duration_s": 4.0,
                "fault_window": {"start_s": 0.5, "end_s": 2.5},
                "time_to_restore": {"total_s": None},
                "phases": [{"phase": "inject", "start_s": 0.3, "end_s": 0.5}],
                "samples": [],
            },
        ],
    }


def test_a_mkdrill_report_gives_the_drafts_sampled_in_the_window() -> None:
    seen = observe_mkdrill_report(_report())
    assert seen["window_s"] == pytest.approx(2.0)
    assert seen["drafts_in_window"] == 3
    assert seen["drafts_total"] == 5
    assert seen["fallback_reasons"] == {"offline": 2}
    assert seen["passed"] is True
    assert seen["phases_s"]["before_first_drill"] == pytest.approx(1.5)


def test_a_report_without_drills_is_an_environment_problem() -> None:
    with pytest.raises(EnvironmentProblem):
        observe_mkdrill_report({"drills": []})


def test_suite_breakdown_splits_the_wall_time() -> None:
    run = suite_breakdown(_report(), wall_s=12.0)
    assert run.drills == 2 and run.passed == 1
    assert run.windows_s == pytest.approx(4.0)
    assert run.restores_s == pytest.approx(0.2)
    assert run.ratio == pytest.approx(12.0 / 4.2)
    assert run.overhead_s == pytest.approx(7.8)
    assert run.outside_run_s == pytest.approx(2.0)  # 12 s wall, 10 s between the record's stamps
    assert run.environment_up_s == pytest.approx(1.5)
    assert run.between_drills_s == pytest.approx(0.5)  # first drill ends at 4.5, second starts at 5
    assert run.after_last_drill_s == pytest.approx(1.0)
    assert run.phases_s["inject"] == pytest.approx(0.2)
    assert run.phases_s["observe"] == pytest.approx(2.0)
