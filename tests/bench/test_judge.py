"""Verdicts: a goal only on a quiet machine, a comparison or a change only between equal loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.bench import run as bench_run
from runner.bench.judge import Goal, judge_change, judge_paired, judge_quiet
from runner.bench.load import LoadSpan
from runner.bench.run import BenchRequest, parse_sections, run_bench
from runner.bench.stats import figure
from runner.bench.verdicts import changes_between, goals_json
from runner.errors import DefinitionError

QUIET = LoadSpan(10.0, 0.4, 0.6, other_cpu_s=1.0)  # 0.1 cores
BUSY = LoadSpan(10.0, 6.0, 7.0, other_cpu_s=15.0)  # 1.5 cores


def test_a_goal_is_judged_only_on_a_quiet_machine() -> None:
    goal = Goal("<=", 20.0)
    assert judge_quiet(goal, 15.0, [QUIET, QUIET]).verdict == "met"
    assert judge_quiet(goal, 25.0, [QUIET]).verdict == "missed"
    busy = judge_quiet(goal, 15.0, [QUIET, BUSY])
    assert busy.verdict == "not judged"
    assert "busy in 1 of 2" in busy.reason and "others 1.50 cores" in busy.reason
    assert judge_quiet(goal, None, [QUIET]).verdict == "not judged"


def test_a_paired_figure_is_never_a_win_when_one_side_ran_busier() -> None:
    goal = Goal("<=", 0.5)
    fair = judge_paired(goal, 0.4, [(QUIET, QUIET), (BUSY, BUSY)], ("mkdrill", "chaostoolkit"))
    assert fair.verdict == "met"
    unfair = judge_paired(goal, 0.4, [(QUIET, QUIET), (QUIET, BUSY)], ("mkdrill", "chaostoolkit"))
    assert unfair.verdict == "not judged"
    assert "the chaostoolkit side ran busier in 1 of 2 pairs" in unfair.reason


@pytest.mark.parametrize(
    ("before", "after", "before_load", "after_load", "verdict"),
    [
        (10.0, 5.0, QUIET, QUIET, "win"),
        (10.0, 12.0, QUIET, QUIET, "loss"),
        (10.0, 10.1, QUIET, QUIET, "no change"),
        (10.0, 5.0, BUSY, QUIET, "not comparable"),  # the before was slowed by others
        (10.0, 5.0, QUIET, None, "not comparable"),
    ],
)
def test_a_change_wins_only_against_an_equally_loaded_before(
    before: float,
    after: float,
    before_load: LoadSpan,
    after_load: LoadSpan | None,
    verdict: str,
) -> None:
    assert judge_change(before, after, before_load, after_load)[0] == verdict


def _doc(mkdrill_s: list[float], ctk_s: list[float], ctk_load: LoadSpan) -> dict[str, Any]:
    ratios = [m / c for m, c in zip(mkdrill_s, ctk_s, strict=True)]
    return {
        "commit": "c0ffee",
        "peer": {
            "overhead_ratio": figure(ratios, "×").as_json(),
            "loads": [
                {"mkdrill": QUIET.as_json(), "chaostoolkit": ctk_load.as_json()} for _ in ratios
            ],
        },
        "proxy": {
            "servers": {
                "embedded": {"new_connection_added_p50_ms": figure([0.2, 0.3], "ms").as_json()},
                "real": {"new_connection_added_p50_ms": figure([0.25, 0.25], "ms").as_json()},
            },
            "loads": {"embedded": [QUIET.as_json()] * 2, "real": [QUIET.as_json()] * 2},
        },
    }


def test_goals_carry_figure_load_and_verdict() -> None:
    goals = goals_json(_doc([0.2, 0.3, 0.1], [1.0, 1.0, 1.0], QUIET))
    peer = goals["ctk_overhead_ratio"]
    assert (peer["figure"]["median"], peer["verdict"]) == (0.2, "met")
    assert peer["load"]["quiet"] is True
    proxy = goals["proxy_new_connection_p50_vs_real_ms"]
    assert proxy["figure"]["values"] == pytest.approx([-0.05, 0.05])
    assert proxy["goal"] == "≤ 0" and proxy["verdict"] == "met"
    busy = goals_json(_doc([0.2], [1.0], BUSY))["ctk_overhead_ratio"]
    assert busy["verdict"] == "not judged" and "chaostoolkit side ran busier" in busy["reason"]


def test_a_change_records_both_sides_with_their_loads_and_commits() -> None:
    before = _doc([2.0, 2.0], [1.0, 1.0], QUIET)
    after = _doc([0.4, 0.5], [1.0, 1.0], QUIET)
    for doc in (before, after):
        doc["goals"] = goals_json(doc)
    changes = {c.figure: c for c in changes_between("lazy imports", before, after, "aaa", "bbb")}
    peer = changes["ctk_overhead_ratio"]
    assert (peer.before["median"], peer.after["median"], peer.verdict) == (2.0, 0.45, "win")
    assert (peer.before_commit, peer.commit) == ("aaa", "bbb")
    assert peer.after["load"]["quiet"] is True
    assert peer.as_json()["name"] == "lazy imports"


def test_sections_are_checked_before_anything_runs() -> None:
    assert parse_sections("suite,peer") == ("peer", "suite")
    assert parse_sections(None)[0] == "cli"
    with pytest.raises(DefinitionError, match="unknown section speed"):
        parse_sections("peer,speed")


def test_bench_json_keeps_earlier_changes_and_adds_the_measured_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helps = iter([[0.40, 0.42, 0.41], [0.20, 0.21, 0.22], [0.3, 0.3, 0.3]])

    def fake_cli_start(runs: int) -> tuple[str, dict[str, Any]]:
        return "/bin/mkdrill", {"--help": (figure(next(helps), "s"), QUIET)}

    monkeypatch.setattr(bench_run, "cli_start", fake_cli_start)
    out = tmp_path / "bench"
    first = run_bench(BenchRequest(quick=True, out=out, sections=("cli",)), print)
    assert first["goals"]["cli_help_ms"]["figure"]["median"] == pytest.approx(410.0)
    assert first["changes"] == []
    second = run_bench(
        BenchRequest(quick=True, out=out, sections=("cli",), change="lazy help"), print
    )
    [change] = second["changes"]
    assert change["name"] == "lazy help" and change["figure"] == "cli_help_ms"
    assert change["before"]["median"] == pytest.approx(410.0)
    assert change["after"]["median"] == pytest.approx(210.0)
    assert change["verdict"] == "win"
    run_bench(BenchRequest(quick=True, out=out, sections=("cli",)), print)
    saved = json.loads((out / "bench.json").read_text())
    assert saved["changes"] == second["changes"]  # kept by a later run that measured no change
    assert saved["goals"]["cli_help_ms"]["figure"]["median"] == pytest.approx(300.0)


def test_a_change_without_a_before_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"no readable bench\.json"):
        run_bench(BenchRequest(quick=True, out=tmp_path, sections=("cli",), change="x"), print)
