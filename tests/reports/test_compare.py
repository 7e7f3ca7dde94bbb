"""What counts as a regression between two runs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.record import DrillResult, Verdict
from runner.reports.compare import compare_runs
from tests.reports.factory import make_drill, make_record, make_samples


def _drill(
    verdict: Verdict = Verdict.PASSED, ttr_s: float | None = 1.0, p95_ms: float = 100.0
) -> DrillResult:
    samples = make_samples(count=80, fault_latency_ms=p95_ms, jitter=False)
    return make_drill("mk-d", verdict, samples=samples, ttr_s=ttr_s)


def _regressions(before: DrillResult, after: DrillResult) -> list[str]:
    (only,) = compare_runs(make_record([before]), make_record([after]))
    return only.regressions


def test_identical_runs_have_no_regression() -> None:
    assert _regressions(_drill(), _drill()) == []


@pytest.mark.parametrize(
    ("before", "after", "regressed"),
    [
        (Verdict.PASSED, Verdict.FAILED, True),
        (Verdict.PASSED, Verdict.ERROR, True),
        (Verdict.FAILED, Verdict.PASSED, False),
        (Verdict.FAILED, Verdict.FAILED, False),
        (Verdict.PASSED, Verdict.SKIPPED, False),
    ],
)
def test_verdict(before: Verdict, after: Verdict, regressed: bool) -> None:
    found = _regressions(_drill(before), _drill(after))
    assert bool(found) is regressed
    if regressed:
        assert found == [f"verdict {before.value} → {after.value}"]


@pytest.mark.parametrize(
    ("before", "after", "regressed"),
    [
        (1.0, 1.19, False),  # +19%: under 20%
        (1.0, 1.21, True),  # +21%, +210 ms
        (0.1, 0.19, False),  # +90% but only +90 ms
        (0.1, 0.21, True),  # +110 ms and +110%
        (2.0, 1.0, False),  # faster
    ],
)
def test_time_to_restore(before: float, after: float, regressed: bool) -> None:
    found = _regressions(_drill(ttr_s=before), _drill(ttr_s=after))
    assert bool(found) is regressed
    if regressed:
        assert found[0].startswith(f"time to restore {before:.2f} s → {after:.2f} s")


def test_never_restored_is_a_regression() -> None:
    assert _regressions(_drill(ttr_s=1.0), _drill(ttr_s=None)) == ["time to restore 1.00 s → never"]


@pytest.mark.parametrize(
    ("before", "after", "regressed"),
    [
        (100.0, 149.0, False),  # +49 ms: under 50 ms although +49%
        (100.0, 151.0, True),
        (1000.0, 1240.0, False),  # +24%
        (1000.0, 1260.0, True),
        (10.0, 55.0, False),  # +450% but +45 ms
    ],
)
def test_fault_p95_latency(before: float, after: float, regressed: bool) -> None:
    found = _regressions(_drill(p95_ms=before), _drill(p95_ms=after))
    assert bool(found) is regressed
    if regressed:
        assert found[0].startswith(f"fault p95 latency {before:.0f} ms → {after:.0f} ms")


def test_disappeared_drill_regresses_and_new_drill_does_not() -> None:
    before = make_record([make_drill("mk-a"), make_drill("mk-b")])
    after = make_record([make_drill("mk-a"), make_drill("mk-c")])
    items = {i.drill: i for i in compare_runs(before, after)}
    assert list(items) == ["mk-a", "mk-b", "mk-c"]
    assert items["mk-b"].regressions == ["drill disappeared"]
    assert items["mk-c"].regressions == [] and items["mk-c"].before is None
    assert not items["mk-a"].regressed


@settings(max_examples=60, deadline=None)
@given(
    ttr=st.floats(min_value=0.001, max_value=100.0),
    p95=st.floats(min_value=0.5, max_value=10_000.0),
    verdict=st.sampled_from(list(Verdict)),
)
def test_a_run_never_regresses_against_itself(ttr: float, p95: float, verdict: Verdict) -> None:
    drill = _drill(verdict, ttr, p95)
    assert _regressions(drill, drill) == []


@settings(max_examples=60, deadline=None)
@given(ttr=st.floats(min_value=0.001, max_value=100.0), factor=st.floats(1.0, 10.0))
def test_slower_restore_regresses_exactly_past_both_margins(ttr: float, factor: float) -> None:
    after = ttr * factor
    found = _regressions(_drill(ttr_s=ttr), _drill(ttr_s=after))
    assert bool(found) is (after - ttr > max(0.2 * ttr, 0.1))
