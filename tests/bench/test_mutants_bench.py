"""Bench mutants section: quick and full mode timed, read from real-shaped report.json, in bench.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.bench import mutants as bench_mutants
from runner.bench.load import LoadSpan
from runner.bench.mutants import QUICK_MUTANT_DRILLS, QUICK_MUTANTS, mutants_breakdown
from runner.bench.results import headline, mutants_section, table_rows
from runner.bench.run import QUICK_PLAN, SECTIONS, BenchRequest, parse_sections, run_bench
from runner.consumers.defects import ConsumerDefect
from runner.errors import EnvironmentProblem
from runner.mutants.matrix import Cell, DrillFacts, Matrix
from runner.mutants.report import MutantsRecord, render_json
from runner.record import Verdict

QUIET = LoadSpan(10.0, 0.4, 0.6, other_cpu_s=1.0)
D = ConsumerDefect


def _cell(drill: str, defect: D, verdict: Verdict) -> Cell:
    red = (
        [{"name": "fallback_reason", "phase": "observe", "expected": "e", "observed": "o"}]
        if verdict is Verdict.FAILED
        else []
    )
    return Cell.model_validate(
        {
            "drill": drill,
            "defect": defect.value,
            "verdict": verdict,
            "red": red,
            "reason": "r",
            "started_at": "t",
            "duration_s": 2.0,
        }
    )


def report_json(mode: str, caught: bool = True, state: str = "finished") -> dict[str, Any]:
    """A report.json as `mkdrill mutants` writes it (its own record model and renderer)."""
    cells = [
        _cell("disabled", D.NONE, Verdict.PASSED),
        _cell("junk-page", D.NONE, Verdict.PASSED),
        _cell("disabled", D.DISABLED_FLAG_IGNORED, Verdict.FAILED if caught else Verdict.PASSED),
        _cell("junk-page", D.MALFORMED_CRASHES_DRAFT, Verdict.FAILED),
    ]
    if mode == "full":
        cells += [
            _cell("junk-page", D.DISABLED_FLAG_IGNORED, Verdict.PASSED),
            _cell("disabled", D.MALFORMED_CRASHES_DRAFT, Verdict.PASSED),
        ]
    facts = [
        DrillFacts(name="disabled", file="d.yaml"),
        DrillFacts(name="junk-page", file="j.yaml"),
    ]
    matrix = Matrix(facts, [D.DISABLED_FLAG_IGNORED, D.MALFORMED_CRASHES_DRAFT], cells)
    record = MutantsRecord(
        run_id="r", tool_version="0", started_at="t", finished_at="t", state=state,
        backend="local", suite=None, mode=mode, pin="v0.4.0 (service.v3)",  # type: ignore[arg-type]
        consumer_timeout_ms=2500, timeout_source="pin default_timeout_ms", learned_from=None,
        healthy_reruns=[], wall_s=30.0 if mode == "quick" else 50.0,
        phases_s={"setup_s": 3.0, "healthy_s": 10.0, "mutants_s": 17.0 if mode == "quick" else 37.0},
        verdict=matrix.verdict(), mutants=matrix.mutant_rows(), drills=matrix.drill_rows(),
        cells=matrix.cells,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(render_json(record))
    return data


def test_a_mutants_report_gives_wall_phases_drill_runs_and_the_verdict() -> None:
    run = mutants_breakdown(report_json("full"), "full", 52.5, 0, QUIET)
    assert (run.drills, run.mutants, run.drill_runs, run.mutant_runs) == (2, 2, 6, 4)
    assert run.phases_s == {"setup_s": 3.0, "healthy_s": 10.0, "mutants_s": 37.0}
    assert run.passed and run.survivors == [] and run.wall_s == 52.5
    missed = mutants_breakdown(report_json("quick", caught=False), "quick", 30.0, 1)
    assert not missed.passed and missed.survivors == ["disabled-flag-ignored"]
    assert missed.no_teeth == ["disabled"]


def test_a_mutants_run_that_did_not_finish_or_ran_the_other_mode_is_an_environment_problem() -> (
    None
):
    with pytest.raises(EnvironmentProblem, match="did not finish: report state 'error'"):
        mutants_breakdown(report_json("quick", state="error"), "quick", 1.0, 3)
    with pytest.raises(EnvironmentProblem, match="asked for full mode"):
        mutants_breakdown(report_json("quick"), "full", 1.0, 0)


def test_the_section_reports_both_modes_side_by_side_with_their_ratio() -> None:
    runs = [
        mutants_breakdown(report_json("quick"), "quick", 32.0, 0, QUIET),
        mutants_breakdown(report_json("full", caught=False), "full", 64.0, 1, QUIET),
    ]
    section = mutants_section(runs, (), ())
    assert section["drills"] == "nightly suite" and section["mutants"] == "every mutant"
    quick, full = section["modes"]["quick"], section["modes"]["full"]
    assert quick["wall_s"]["median"] == 32.0 and full["wall_s"]["median"] == 64.0
    assert (quick["exit_codes"], full["exit_codes"]) == ([0], [1])
    assert quick["drill_runs"]["median"] == 4 and full["drill_runs"]["median"] == 6
    assert full["survivors"] == ["disabled-flag-ignored"] and quick["survivors"] == []
    assert quick["phases_s"]["healthy_s"]["median"] == 10.0
    assert section["full_over_quick"]["median"] == pytest.approx(2.0)
    doc = {"mutants": section}
    top = headline(doc)
    assert (top["mutants_quick_s"], top["mutants_full_s"]) == (32.0, 64.0)
    names = {row[0]: row for row in table_rows(doc)}
    assert names["mutants quick mode wall [s]"][1] == "32.000"
    assert "2 drills × 2 mutants; 0/1 passed, exit [1]" in names["mutants full mode wall [s]"][5]
    assert "mutants full/quick wall [×]" in names


def test_mkdrill_bench_runs_quick_then_full_and_writes_each_to_bench_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    out = tmp_path / "bench"

    def fake_timed_run(
        argv: list[str], cwd: Path, output: Path, timeout_s: float = 0.0
    ) -> tuple[float, int]:
        calls.append(argv)
        mode = "full" if "--full" in argv else "quick"
        if mode == "full":  # the quick run is in bench.json before the full one starts
            saved = json.loads((out / "bench.json").read_text())
            assert set(saved["mutants"]["modes"]) == {"quick"}
            assert saved["mutants_quick_s"] == 40.0 and saved["mutants_full_s"] is None
        folder = Path(argv[argv.index("--out") + 1])
        folder.mkdir(parents=True)
        (folder / "report.json").write_text(json.dumps(report_json(mode)))
        return (40.0 if mode == "quick" else 90.0), 0

    monkeypatch.setattr(bench_mutants, "timed_run", fake_timed_run)
    assert "mutants" in SECTIONS and parse_sections("mutants") == ("mutants",)
    doc = run_bench(BenchRequest(quick=True, out=out, sections=("mutants",)), print)
    assert [("--full" in argv) for argv in calls] == [False, True]
    for argv in calls:
        assert argv[1] == "mutants"
        assert argv[2 : 2 + len(QUICK_MUTANT_DRILLS)] == list(QUICK_MUTANT_DRILLS)
        assert [argv[i + 1] for i, a in enumerate(argv) if a == "--mutant"] == list(QUICK_MUTANTS)
    assert QUICK_PLAN.mutant_drills == QUICK_MUTANT_DRILLS
    saved = json.loads((out / "bench.json").read_text())
    assert saved["mutants_quick_s"] == 40.0 and saved["mutants_full_s"] == 90.0
    assert saved["mutants"]["modes"]["full"]["passed"] == [True]
    assert doc["mutants"]["drills"] == list(QUICK_MUTANT_DRILLS)
