"""The verdict logic on synthetic sample streams: which Drafts are judged, streaks, load, rates."""

from __future__ import annotations

from runner.evaluate import (
    enriched_streak,
    fault_assertions,
    load_assertions,
    split_fallback_reasons,
    window_samples,
)
from runner.loader import parse_drill_text
from runner.record import Phase, Sample

DRILL = """\
name: synthetic
description: synthetic
suites: [nightly]
fault: {kind: stop}
window_s: 2
expect:
  during: DURING
  fallback_reasons: [offline]
"""


def _drill(during: str = "fallback"):  # type: ignore[no-untyped-def]
    return parse_drill_text(DRILL.replace("DURING", during), "synthetic.yaml")


def s(t: float, phase: Phase, reason: str | None = "offline", latency_ms: float = 5.0,
      ok: bool = True) -> Sample:  # fmt: skip
    return Sample(
        t_s=t, phase=phase, http_status=200 if ok else None, ok=ok, applied=reason is None,
        fallback_reason=reason, machine_error_code=None, preflight_status=None,
        latency_ms=latency_ms, error=None if ok else "ReadTimeout",
    )  # fmt: skip


def _window(n: int = 50, reason: str = "offline") -> list[Sample]:
    """n Drafts started over the 2 s window (fault on from 1.0 s to 3.0 s), each answered quickly."""
    return [s(1.0 + i * 2.0 / n, Phase.OBSERVE, reason) for i in range(n)]


def _checks(samples: list[Sample], during: str = "fallback", bound: float = 1000.0):  # type: ignore[no-untyped-def]
    return {a.name: a for a in fault_assertions(_drill(during), samples, 2.0, bound, 3.0)}


def test_a_draft_in_flight_at_the_removal_is_not_judged_for_its_reason() -> None:
    # slow-ask-timeout: the hang is released by the removal and the last Drafts end query-error.
    samples = [*_window(), s(2.9, Phase.OBSERVE, "query-error", latency_ms=400)]
    assert len(window_samples(samples, 3.0)) == 50
    checks = _checks(samples)
    assert checks["fallback_reason"].passed, checks["fallback_reason"].observed
    judged, others = split_fallback_reasons(samples, 3.0)
    assert judged == {"offline": 50} and others == {"query-error": 1}


def test_a_draft_in_flight_still_counts_for_availability_and_latency() -> None:
    samples = [*_window(), s(2.9, Phase.OBSERVE, None, latency_ms=2000, ok=False)]
    checks = _checks(samples)
    assert not checks["draft_availability"].passed
    assert not checks["draft_latency"].passed and "max 2000 ms" in checks["draft_latency"].observed


def test_other_phases_fallbacks_are_shown_apart_never_judged() -> None:
    samples = [s(0.1, Phase.STEADY, "timeout"), *_window(), s(3.5, Phase.VERIFY, "query-error")]
    judged, others = split_fallback_reasons(samples, 3.0)
    assert judged == {"offline": 50} and others == {"timeout": 1, "query-error": 1}
    # no fault window (the steady state failed): the steady state's reasons are the judged ones
    assert split_fallback_reasons(samples, None)[0] == {"timeout": 1}


def test_an_unexpected_reason_or_an_enriched_draft_fails_fallback_but_not_either() -> None:
    mixed = [*_window(40), *[s(2.7 + i * 0.01, Phase.OBSERVE, None) for i in range(10)]]
    assert not _checks(mixed)["fallback_reason"].passed
    either = _drill("either")
    checks = {a.name: a for a in fault_assertions(either, mixed, 2.0, 1000.0, 3.0)}
    assert checks["fallback_reason"].passed
    wrong = _window(50, "timeout")
    assert not _checks(wrong)["fallback_reason"].passed


def test_an_either_drill_that_only_ever_enriched_does_not_pass() -> None:
    enriched = [s(1.0 + i * 0.04, Phase.OBSERVE, None) for i in range(50)]
    checks = {a.name: a for a in fault_assertions(_drill("either"), enriched, 2.0, 1000.0, 3.0)}
    assert not checks["fallback_reason"].passed  # the expected fallback was never seen


def test_probe_rate_counts_drafts_started_in_the_window() -> None:
    assert _checks(_window(50))["probe_rate"].passed  # 25/s
    starved = _checks(_window(30))["probe_rate"]
    assert not starved.passed and "15.0 Drafts/s" in starved.observed


def test_streak_needs_consecutive_answered_enriched_drafts_in_start_order() -> None:
    assert enriched_streak([(i, True) for i in range(5)]) == 5
    assert enriched_streak([(0, True), (1, False), (2, True), (3, True)]) == 2
    # answered out of order: start order decides
    assert enriched_streak([(3, True), (1, True), (2, False), (4, True)]) == 2


def test_a_draft_still_in_flight_is_counted_when_it_finishes() -> None:
    done = [(0.0, True), (0.1, True), (0.3, True), (0.4, True), (0.5, True)]
    # 5 answered enriched, but one started before three of them is still out: only 2 count yet
    assert enriched_streak([*done, (0.2, None)]) == 2
    assert enriched_streak([*done, (-1.0, None)]) == 0  # nothing after it counts until it answers
    assert enriched_streak([*done, (0.2, False)]) == 3  # it fell back: the run restarts after it
    assert enriched_streak([*done, (0.2, True)]) == 6
    assert enriched_streak([*done, (0.6, None)]) == 5  # started after the run: the run stands


def test_load_is_judged_on_its_own_drafts_and_drafters() -> None:
    load = [s(1.0 + i * 0.01, Phase.OBSERVE) for i in range(100)]
    drafters = [f"0-{i % 10}" for i in range(100)]
    checks = {a.name: a for a in load_assertions(load, drafters, 10, 1.0, 1000.0)}
    assert checks["load_availability"].passed and checks["load_latency"].passed
    # a Drafter that never got an answer fails the load even if the others did
    starved = {a.name: a for a in load_assertions(load, drafters, 11, 1.0, 1000.0)}
    assert not starved["load_availability"].passed
    lost = [*load[:99], s(1.99, Phase.OBSERVE, None, latency_ms=3000, ok=False)]
    checks = {a.name: a for a in load_assertions(lost, drafters, 10, 1.0, 1000.0)}
    assert not checks["load_availability"].passed and not checks["load_latency"].passed
    assert not {a.name: a for a in load_assertions([], [], 10, 1.0, 1000.0)}[
        "load_availability"
    ].passed
