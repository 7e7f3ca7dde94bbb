"""The matrix (who caught what, the verdict), the drill order and the quick/full schedules, on fakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.consumers.defects import ConsumerDefect
from runner.errors import DefinitionError
from runner.loader import LoadedDrill, default_drills_dir, load_drills
from runner.mutants.matrix import Cell, DrillFacts, DrillStanding, Matrix, RedAssertion, is_catch
from runner.mutants.order import DrillOrder, drill_traits, learned_catches
from runner.mutants.session import MutantsSession
from runner.record import Assertion, DrillResult, Phase, Verdict

D = ConsumerDefect
CATALOG = {d.drill.name: d for d in load_drills([default_drills_dir()])}


def red(*names: str) -> list[RedAssertion]:
    return [RedAssertion(name=n, phase=Phase.OBSERVE, expected="e", observed="o") for n in names]


def cell(drill: str, defect: D, verdict: Verdict, *names: str) -> Cell:
    return Cell(
        drill=drill,
        defect=defect.value,
        verdict=verdict,
        red=red(*names),
        reason="r",
        started_at="t",
        duration_s=1.0,
    )


PASSED, FAILED = Verdict.PASSED, Verdict.FAILED


# ---- the matrix ---------------------------------------------------------------------------------


def test_a_catch_is_red_on_the_draft_flow_against_the_mutant_and_green_when_healthy() -> None:
    healthy = cell("junk-page", D.NONE, PASSED)
    assert is_catch(
        cell("junk-page", D.MALFORMED_CRASHES_DRAFT, FAILED, "draft_availability"), healthy
    )
    # red on the healthy consumer too: not a catch
    assert not is_catch(
        cell("junk-page", D.MALFORMED_CRASHES_DRAFT, FAILED, "draft_availability"),
        cell("junk-page", D.NONE, FAILED, "draft_latency"),
    )
    # a thin window alone (a busy machine) is inconclusive; with another red it counts
    assert not is_catch(cell("hang", D.NO_CLIENT_TIMEOUT, FAILED, "probe_rate"), healthy)
    assert is_catch(
        cell("hang", D.NO_CLIENT_TIMEOUT, FAILED, "probe_rate", "draft_latency"), healthy
    )
    assert not is_catch(cell("hang", D.NO_CLIENT_TIMEOUT, Verdict.ERROR), healthy)
    assert not is_catch(cell("hang", D.NO_CLIENT_TIMEOUT, PASSED), healthy)


def test_verdict_names_survivors_drills_without_teeth_and_red_on_healthy() -> None:
    drills = [
        DrillFacts(name="junk-page", file="drills/junk-page.yaml"),
        DrillFacts(name="junk-page-any", file="x/junk-page-any.yaml"),
        DrillFacts(name="latency-below-timeout", file="l.yaml", control="enrichment survives"),
        DrillFacts(name="flaky", file="f.yaml"),
        DrillFacts(name="contract", file="c.yaml", expected_red=True),
    ]
    cells = [
        cell("junk-page", D.NONE, PASSED),
        cell("junk-page-any", D.NONE, PASSED),
        cell("latency-below-timeout", D.NONE, PASSED),
        cell("flaky", D.NONE, FAILED, "draft_latency"),
        cell("contract", D.NONE, FAILED, "steady_enriched"),
        cell(
            "junk-page", D.MALFORMED_CRASHES_DRAFT, FAILED, "fallback_reason", "draft_availability"
        ),
        cell("junk-page-any", D.MALFORMED_CRASHES_DRAFT, PASSED),
        cell("junk-page-any", D.EVERY_FAILURE_OFFLINE, PASSED),
        cell("flaky", D.EVERY_FAILURE_OFFLINE, FAILED, "draft_latency"),
    ]
    matrix = Matrix(drills, [D.MALFORMED_CRASHES_DRAFT, D.EVERY_FAILURE_OFFLINE], cells)
    standings = {r.name: r.standing for r in matrix.drill_rows()}
    assert standings == {
        "junk-page": DrillStanding.TEETH,
        "junk-page-any": DrillStanding.NO_TEETH,
        "latency-below-timeout": DrillStanding.CONTROL,
        "flaky": DrillStanding.RED_ON_HEALTHY,
        "contract": DrillStanding.EXPECTED_RED,
    }
    rows = {r.name: r for r in matrix.mutant_rows()}
    assert [c.drill for c in rows["malformed-crashes-draft"].caught_by] == ["junk-page"]
    assert rows["malformed-crashes-draft"].caught_by[0].assertions == [
        "fallback_reason",
        "draft_availability",
    ]
    assert rows["every-failure-offline"].survived  # the flaky drill's red does not count
    assert rows["every-failure-offline"].tried == ["junk-page-any", "flaky"]
    verdict = matrix.verdict()
    assert not verdict.passed
    assert verdict.survivors == ["every-failure-offline"]
    assert verdict.no_teeth == ["junk-page-any"] and verdict.red_on_healthy == ["flaky"]
    assert "surviving mutants: every-failure-offline" in verdict.reason


def test_a_rerun_on_the_healthy_consumer_decides() -> None:
    drills = [DrillFacts(name="truncated-body", file="t.yaml")]
    cells = [
        cell("truncated-body", D.NONE, FAILED, "probe_rate"),
        cell("truncated-body", D.NONE, PASSED),
        cell("truncated-body", D.MALFORMED_CRASHES_DRAFT, FAILED, "draft_availability"),
    ]
    matrix = Matrix(drills, [D.MALFORMED_CRASHES_DRAFT], cells)
    assert matrix.verdict().passed, matrix.verdict().reason


# ---- the order ----------------------------------------------------------------------------------


def test_traits_come_from_the_drill_file() -> None:
    assert drill_traits(CATALOG["typed-500-query-failed"].drill) >= {
        "fault:responder",
        "mode:typed",
        "reason:non-2xx",
        "codes",
        "during:fallback",
    }
    assert "mode:stall" in drill_traits(CATALOG["slow-ask-body"].drill)


def test_likely_drills_first_then_the_fastest() -> None:
    drills = [d.drill for d in CATALOG.values() if "nightly" in d.drill.suites]
    order = DrillOrder(drills).with_durations({"version-mismatch-deploy": 5.0})
    ranked = [d.name for d in order.ranked(D.VERSIONS_UNCHECKED)]
    assert ranked[:2] == ["version-mismatch-consumer-ahead", "version-mismatch-deploy"]
    timeouts = [d.name for d in order.ranked(D.NO_CLIENT_TIMEOUT)][:1]
    assert timeouts == ["hang"]
    assert order.likely(D.DISABLED_FLAG_IGNORED, CATALOG["disabled"].drill)
    assert not order.likely(D.DISABLED_FLAG_IGNORED, CATALOG["junk-page"].drill)
    for_junk = order.defects_for(CATALOG["junk-page"].drill, list(D)[1:])
    assert for_junk[:2] == [D.MALFORMED_CRASHES_DRAFT, D.EVERY_FAILURE_OFFLINE]


def test_an_earlier_matrix_goes_before_any_guess(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(
        '{"mutants": [{"name": "stale-preflight", "caught_by": [{"drill": "untyped-502"}]}]}'
    )
    learned = learned_catches(report)
    assert learned == {"stale-preflight": ["untyped-502"]}
    order = DrillOrder([d.drill for d in CATALOG.values()], learned)
    assert order.ranked(D.STALE_PREFLIGHT)[0].name == "untyped-502"
    report.write_text("not json")
    with pytest.raises(DefinitionError, match=r"--learn-from .*not a readable mkdrill mutants"):
        learned_catches(report)


# ---- the schedules ------------------------------------------------------------------------------


class FakeEngine:
    """Stands in for the engine: records defect switches; drills judged by a truth table."""

    def __init__(self, catches: Callable[[D, str], bool], healthy_red: set[str] = frozenset()):
        self.catches = catches
        self.healthy_red = set(healthy_red)
        self.defect = D.NONE
        self.switches: list[D] = []
        self.runs: list[tuple[D, str]] = []

    def switch_defect(self, defect: D) -> None:
        self.switches.append(defect)
        self.defect = defect

    def run_drill(self, loaded: LoadedDrill) -> DrillResult:
        name = loaded.drill.name
        self.runs.append((self.defect, name))
        if self.defect is D.NONE:
            failed = name in self.healthy_red
            if failed and self.runs.count((D.NONE, name)) > 1 and name.startswith("flaky"):
                failed = False
        else:
            failed = self.catches(self.defect, name)
        check = Assertion(
            name="draft_availability", phase=Phase.OBSERVE, expected="e", observed="o",
            passed=not failed,
        )  # fmt: skip
        return DrillResult(
            name=name, description="d", suites=["nightly"], file="f", verdict=FAILED if failed else PASSED,
            reason="r", started_at="t", duration_s=1.0, fault={}, fault_window=None, consumer={},
            phases=[], probe=[], fallback_reasons={}, latency_bound_ms=1.0, assertions=[check],
            time_to_restore=None, samples=[],
        )  # fmt: skip


NAMES = ["disabled", "junk-page", "typed-500-query-failed", "latency-below-timeout", "wrong-shape"]
TRUTH = {
    (D.DISABLED_FLAG_IGNORED, "disabled"),
    (D.MALFORMED_CRASHES_DRAFT, "junk-page"),
    (D.MALFORMED_CRASHES_DRAFT, "wrong-shape"),
    (D.ROUTES_BY_LEGACY_ERROR, "typed-500-query-failed"),
    (D.DRAFT_BLOCKS, "disabled"),
    (D.DRAFT_BLOCKS, "junk-page"),
    (D.DRAFT_BLOCKS, "wrong-shape"),
    (D.DRAFT_BLOCKS, "typed-500-query-failed"),
}
DEFECTS = [
    D.DRAFT_BLOCKS,
    D.MALFORMED_CRASHES_DRAFT,
    D.ROUTES_BY_LEGACY_ERROR,
    D.DISABLED_FLAG_IGNORED,
]


def run_session(mode: str, engine: FakeEngine, names: list[str] = NAMES) -> MutantsSession:
    drills = [CATALOG[n] for n in names]
    session = MutantsSession(
        drills, DEFECTS, mode, DrillOrder([d.drill for d in drills]),  # type: ignore[arg-type]
        lambda c, caught: None, lambda d: None,
    )  # fmt: skip
    session.driver(engine)(engine.run_drill)  # type: ignore[arg-type]
    return session


def matrix_of(session: MutantsSession) -> Matrix:
    facts = [
        DrillFacts(name=d.drill.name, file=str(d.path), control=d.drill.control)
        for d in session.drills
    ]
    return Matrix(facts, session.defects, session.cells)


def test_full_mode_runs_every_drill_against_every_mutant() -> None:
    engine = FakeEngine(lambda d, n: (d, n) in TRUTH)
    session = run_session("full", engine)
    mutant_runs = [r for r in engine.runs if r[0] is not D.NONE]
    assert len(mutant_runs) == len(NAMES) * len(DEFECTS)
    assert engine.switches == DEFECTS  # one consumer restart per mutant
    assert matrix_of(session).verdict().passed


def test_quick_mode_settles_the_same_verdict_with_fewer_runs() -> None:
    engine = FakeEngine(lambda d, n: (d, n) in TRUTH)
    session = run_session("quick", engine)
    matrix = matrix_of(session)
    assert matrix.verdict().passed, matrix.verdict().reason
    mutant_runs = [r for r in engine.runs if r[0] is not D.NONE]
    assert len(mutant_runs) < len(NAMES) * len(DEFECTS)
    assert "latency-below-timeout" not in {n for _, n in mutant_runs}  # a control needs no catch
    # each mutant stops at its first catch in its own pass
    assert mutant_runs[:1] == [
        (D.DRAFT_BLOCKS, "disabled")
    ]  # reason:offline absent: fault:disabled
    assert (D.DISABLED_FLAG_IGNORED, "disabled") in mutant_runs
    # every drill with no catch yet got mutants until one caught it
    rows = {r.name: r for r in matrix.drill_rows()}
    assert rows["wrong-shape"].catches and rows["typed-500-query-failed"].catches


def test_quick_mode_finds_a_surviving_mutant_and_a_drill_without_teeth() -> None:
    truth = (
        TRUTH
        - {(D.ROUTES_BY_LEGACY_ERROR, "typed-500-query-failed")}
        - {(D.DRAFT_BLOCKS, "typed-500-query-failed")}
    )
    engine = FakeEngine(lambda d, n: (d, n) in truth)
    verdict = matrix_of(run_session("quick", engine)).verdict()
    assert verdict.survivors == ["routes-by-legacy-error"]
    assert verdict.no_teeth == ["typed-500-query-failed"]
    # quick mode gave the toothless drill every mutant before saying so
    tried = {d for d, n in engine.runs if n == "typed-500-query-failed" and d is not D.NONE}
    assert tried == set(DEFECTS)


def test_a_drill_red_on_the_healthy_consumer_is_run_again_and_then_never_against_mutants() -> None:
    engine = FakeEngine(lambda d, n: (d, n) in TRUTH, healthy_red={"junk-page"})
    session = run_session("quick", engine)
    assert session.reruns == ["junk-page"]
    assert engine.runs.count((D.NONE, "junk-page")) == 2
    assert all(n != "junk-page" for d, n in engine.runs if d is not D.NONE)
    assert matrix_of(session).verdict().red_on_healthy == ["junk-page"]


def test_mutant_names_are_checked_against_the_catalog_only() -> None:
    from runner.mutants.command import chosen_defects

    assert chosen_defects(["stale-preflight", "draft-blocks"]) == (
        D.DRAFT_BLOCKS,
        D.STALE_PREFLIGHT,
    )
    with pytest.raises(
        DefinitionError, match="--mutant: unknown mutant 'bogus'; use one of draft-blocks,"
    ) as bad:
        chosen_defects(["bogus"])
    assert "none" not in str(bad.value).split("use one of", 1)[1]
    with pytest.raises(DefinitionError, match="none is the healthy consumer"):
        chosen_defects(["none"])
