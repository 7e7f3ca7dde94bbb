"""Turn probe samples into phase summaries and the drill's assertions (pure functions, no I/O)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from runner.percentile import percentile
from runner.probes.pace import MIN_RATE_SHARE, MIN_WINDOW_DRAFTS
from runner.record import Assertion, LatencyStats, Phase, PhaseSummary, Sample, TimeToRestore
from runner.spec import Drill, DuringFault


def latency_stats(samples: Sequence[Sample]) -> LatencyStats | None:
    """p50/p95/max latency of the samples, or None when there are none."""
    if not samples:
        return None
    values = [s.latency_ms for s in samples]
    return LatencyStats(
        p50_ms=round(percentile(values, 0.50), 3),
        p95_ms=round(percentile(values, 0.95), 3),
        max_ms=round(max(values), 3),
    )


def summarize(samples: Sequence[Sample]) -> list[PhaseSummary]:
    """One summary per phase that has samples, in phase order."""
    summaries = []
    for phase in Phase:
        in_phase = [s for s in samples if s.phase is phase]
        if not in_phase:
            continue
        answered = sum(s.ok for s in in_phase)
        summaries.append(
            PhaseSummary(
                phase=phase,
                samples=len(in_phase),
                answered=answered,
                availability=round(answered / len(in_phase), 4),
                enriched=sum(s.applied for s in in_phase),
                latency=latency_stats(in_phase),
                fallback_reasons=dict(
                    Counter(
                        s.fallback_reason for s in in_phase if s.fallback_reason and not s.applied
                    )
                ),
                machine_error_codes=dict(
                    Counter(s.machine_error_code for s in in_phase if s.machine_error_code)
                ),
            )
        )
    return summaries


def window_samples(samples: Sequence[Sample], fault_removed_s: float) -> list[Sample]:
    """The Drafts the verdict judges: started while the fault was on and answered before its removal.

    One still in flight when the fault is removed may legitimately come back enriched (or with the
    removal's own error): it counts for availability and latency, not for the fallback reason.
    """
    return [
        s
        for s in samples
        if s.phase is Phase.OBSERVE and s.t_s + s.latency_ms / 1000 <= fault_removed_s
    ]


def fallback_counts(samples: Sequence[Sample]) -> dict[str, int]:
    """`reason -> Drafts` of the samples that fell back."""
    return dict(Counter(s.fallback_reason for s in samples if s.fallback_reason and not s.applied))


def split_fallback_reasons(
    samples: Sequence[Sample], fault_removed_s: float | None
) -> tuple[dict[str, int], dict[str, int]]:
    """(reasons the verdict judged, every other fallback of the drill), kept apart for the tables.

    With no fault window (the steady state failed) the steady state's reasons are the judged ones.
    """
    if fault_removed_s is None:
        judged = [s for s in samples if s.phase is Phase.STEADY]
    else:
        judged = window_samples(samples, fault_removed_s)
    chosen = {id(s) for s in judged}
    return fallback_counts(judged), fallback_counts([s for s in samples if id(s) not in chosen])


def enriched_streak(drafts: Sequence[tuple[float, bool | None]]) -> int:
    """Enriched Drafts in a row at the end, by start time: `(started, enriched)`, None in flight.

    A Draft in flight is counted when it finishes: until then only the Drafts started before it
    can make the run, since it may yet fall back (a hang the restore left behind, for one).
    """
    streak = 0
    for _, enriched in sorted(drafts, key=lambda d: d[0]):
        if enriched is None:
            break
        streak = streak + 1 if enriched else 0
    return streak


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k}×{v}" for k, v in sorted(counter.items())) or "none"


def fault_assertions(
    drill: Drill,
    samples: Sequence[Sample],
    window_s: float,
    bound_ms: float,
    fault_removed_s: float,
    paced_hz: float = 25.0,
) -> list[Assertion]:
    """Checks on the fault window and on every Draft of the drill.

    Fallback reasons are judged on Drafts that started and ended while the fault was on: one still in
    flight when the fault is removed may legitimately come back enriched.
    """
    expect = drill.expect
    started_during = [s for s in samples if s.phase is Phase.OBSERVE]
    during = window_samples(samples, fault_removed_s)
    results: list[Assertion] = []
    reasons = Counter(s.fallback_reason or "none" for s in during if not s.applied)
    enriched = sum(s.applied for s in during)
    rate = len(started_during) / window_s if window_s > 0 else 0.0
    needed_rate = paced_hz * MIN_RATE_SHARE
    results.append(
        Assertion(
            name="probe_rate",
            phase=Phase.OBSERVE,
            expected=f"≥ {needed_rate:.3g} Drafts/s ({MIN_RATE_SHARE:.0%} of the {paced_hz:.3g}/s pace)"
            f" and ≥ {MIN_WINDOW_DRAFTS} Drafts",
            observed=f"{rate:.1f} Drafts/s ({len(started_during)} in {window_s:.1f} s)",
            passed=rate >= needed_rate and len(started_during) >= MIN_WINDOW_DRAFTS,
        )
    )
    wanted = {r.value for r in expect.fallback_reasons}
    if expect.during is DuringFault.ENRICHED:
        results.append(
            Assertion(
                name="enriched_during_fault",
                phase=Phase.OBSERVE,
                expected="every Draft enriched",
                observed=f"{enriched}/{len(during)} enriched; fallbacks: {_counts(dict(reasons))}",
                passed=bool(during) and enriched == len(during),
            )
        )
    else:
        unexpected = {k: v for k, v in reasons.items() if k not in wanted}
        allow_enriched = expect.during is DuringFault.EITHER
        bit = sum(v for k, v in reasons.items() if k in wanted)
        results.append(
            Assertion(
                name="fallback_reason",
                phase=Phase.OBSERVE,
                expected=f"fallback {' or '.join(sorted(wanted))}"
                + (" (enriched allowed)" if allow_enriched else ""),
                observed=f"fallbacks: {_counts(dict(reasons))}; enriched: {enriched}",
                passed=bit > 0 and not unexpected and (allow_enriched or enriched == 0),
            )
        )
    if expect.machine_error_codes is not None:
        codes = Counter(s.machine_error_code or "none" for s in during if not s.applied)
        wanted_codes = set(expect.machine_error_codes)
        results.append(
            Assertion(
                name="machine_error_code",
                phase=Phase.OBSERVE,
                expected=f"machine_error_code {' or '.join(sorted(wanted_codes))}",
                observed=f"codes: {_counts(dict(codes))}",
                passed=bool(codes) and set(codes) <= wanted_codes,
            )
        )
    drafting = [s for s in samples if s.phase is not Phase.PREPARE]
    answered = sum(s.ok for s in drafting)
    availability = answered / len(drafting) if drafting else 0.0
    failures = Counter((s.error or f"HTTP {s.http_status}")[:80] for s in drafting if not s.ok)
    results.append(
        Assertion(
            name="draft_availability",
            phase=Phase.OBSERVE,
            expected=f"≥ {expect.min_availability:.0%} of Drafts answered (200, non-empty)",
            observed=f"{answered}/{len(drafting)} answered"
            + (f"; failures: {_counts(dict(failures))}" if failures else ""),
            passed=bool(drafting) and availability >= expect.min_availability,
        )
    )
    worst = max((s.latency_ms for s in drafting), default=0.0)
    results.append(
        Assertion(
            name="draft_latency",
            phase=Phase.OBSERVE,
            expected=f"every Draft ≤ {bound_ms:.0f} ms",
            observed=f"max {worst:.0f} ms",
            passed=worst <= bound_ms,
        )
    )
    return results


def load_assertions(
    load: Sequence[Sample], drafters: Sequence[str], workers: int, min_availability: float,
    bound_ms: float,
) -> list[Assertion]:  # fmt: skip
    """The --load Drafters judged apart from the probe: their own availability, bound and reach."""
    answered = sum(s.ok for s in load)
    availability = answered / len(load) if load else 0.0
    failures = Counter((s.error or f"HTTP {s.http_status}")[:80] for s in load if not s.ok)
    reached = len({d for d, s in zip(drafters, load, strict=True) if s.ok})
    worst = max((s.latency_ms for s in load), default=0.0)
    return [
        Assertion(
            name="load_availability",
            phase=Phase.OBSERVE,
            expected=f"≥ {min_availability:.0%} of the {workers} load Drafters' Drafts answered, "
            "each Drafter answered at least once",
            observed=f"{answered}/{len(load)} answered by {reached} Drafters"
            + (f"; failures: {_counts(dict(failures))}" if failures else ""),
            passed=bool(load) and availability >= min_availability and reached >= workers,
        ),
        Assertion(
            name="load_latency",
            phase=Phase.OBSERVE,
            expected=f"every load Draft ≤ {bound_ms:.0f} ms",
            observed=f"max {worst:.0f} ms",
            passed=bool(load) and worst <= bound_ms,
        ),
    ]


def restore_assertion(ttr: TimeToRestore) -> Assertion:
    """The restore reached its first enriched Draft within budget."""
    observed = (
        f"{ttr.total_s:.3f} s"
        if ttr.total_s is not None
        else "no enriched Draft before the deadline"
    )
    reached = [m.name.value for m in ttr.milestones if m.at_s is not None]
    if ttr.total_s is None:
        observed += f" (milestones reached: {', '.join(reached) or 'none'})"
    return Assertion(
        name="time_to_restore",
        phase=Phase.RECOVER,
        expected=f"first enriched Draft ≤ {ttr.budget_s:g} s after {ttr.kind}",
        observed=observed,
        passed=ttr.within_budget,
    )


def steady_assertion(
    phase: Phase, samples: Sequence[Sample], needed: int, reached: bool, note: str | None = None
) -> Assertion:
    """Steady state (before or after the fault): `needed` enriched Drafts in a row; `note` says why it stopped."""
    in_phase = [s for s in samples if s.phase is phase]
    reasons = Counter(
        f"{s.fallback_reason}" + (f" [{s.machine_error_code}]" if s.machine_error_code else "")
        for s in in_phase
        if not s.applied
    )
    observed = f"{sum(s.applied for s in in_phase)}/{len(in_phase)} enriched"
    if reasons:
        observed += f"; fallbacks: {_counts(dict(reasons))}"
    if note:
        observed += f"; {note}"
    return Assertion(
        name=f"{phase.value}_enriched",
        phase=phase,
        expected=f"{needed} enriched Drafts in a row",
        observed=observed,
        passed=reached,
    )
