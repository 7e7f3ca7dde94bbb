"""Synthetic run records: realistic drills without running anything."""

from __future__ import annotations

import random
from typing import Any

from runner.record import (
    Assertion,
    DrillResult,
    FaultWindow,
    LatencyStats,
    MemoryKernelIdentity,
    Milestone,
    MilestoneName,
    Phase,
    PhaseSpan,
    PhaseSummary,
    PinInfo,
    RunRecord,
    Sample,
    TimeToRestore,
    Verdict,
)

PIN = PinInfo(
    source="runner/data/pins/v0.3.2.json",
    release_tag="v0.3.2",
    commit_sha="cf331449e1589581a5dcbb3adecd3e9ae4509277",
    expected_service_contract_version="service.v2",
    expected_api_contract_version="api.v1",
    expected_producer_manifest_sha256="67408e0bcf7d9e88c27c9e54c996c32d23aa915eb572ede46dd5ee6e3728c6f6",
    pin_file_sha256="a" * 64,
)

# Phase layout of a synthetic drill, seconds since its start.
_PHASES = (
    (Phase.PREPARE, 0.0, 0.4),
    (Phase.STEADY, 0.4, 2.0),
    (Phase.INJECT, 2.0, 2.2),
    (Phase.OBSERVE, 2.2, 8.0),
    (Phase.RECOVER, 8.0, 11.0),
    (Phase.VERIFY, 11.0, 12.0),
)
FAULT_START_S = 2.0
FAULT_END_S = 8.0


def _phase_at(t: float) -> Phase:
    for phase, start, end in _PHASES:
        if start <= t < end:
            return phase
    return Phase.VERIFY


def make_samples(
    count: int = 300,
    reason: str = "offline",
    fault_latency_ms: float = 4.0,
    restored_at_s: float = 9.5,
    error: str | None = None,
    seed: int = 7,
    jitter: bool = True,
) -> list[Sample]:
    """`count` samples over 12 s: enriched, then `reason` fallbacks during the fault, enriched."""
    rng = random.Random(seed)
    samples: list[Sample] = []
    for i in range(count):
        t = 0.4 + 11.5 * i / max(count - 1, 1)
        phase = _phase_at(t)
        faulted = FAULT_START_S <= t <= FAULT_END_S or FAULT_END_S < t < restored_at_s
        spread = rng.uniform(0.8, 1.3) if jitter else 1.0
        latency = fault_latency_ms * spread if faulted else 10.0 * spread
        samples.append(
            Sample(
                t_s=round(t, 4),
                phase=phase,
                http_status=200,
                ok=True,
                applied=not faulted,
                fallback_reason=reason if faulted else None,
                machine_error_code=None,
                preflight_status=reason if faulted else "ready",
                latency_ms=round(latency, 3),
                error=error if faulted else None,
            )
        )
    return samples


def _summaries(samples: list[Sample]) -> list[PhaseSummary]:
    out = []
    for phase, _start, _end in _PHASES:
        mine = [s for s in samples if s.phase == phase]
        latencies = sorted(s.latency_ms for s in mine)
        reasons: dict[str, int] = {}
        for s in mine:
            if s.fallback_reason:
                reasons[s.fallback_reason] = reasons.get(s.fallback_reason, 0) + 1
        answered = sum(1 for s in mine if s.ok)
        out.append(
            PhaseSummary(
                phase=phase,
                samples=len(mine),
                answered=answered,
                availability=answered / len(mine) if mine else 1.0,
                enriched=sum(1 for s in mine if s.applied),
                latency=LatencyStats(
                    p50_ms=latencies[len(latencies) // 2],
                    p95_ms=latencies[int(0.95 * (len(latencies) - 1))],
                    max_ms=latencies[-1],
                )
                if latencies
                else None,
                fallback_reasons=reasons,
                machine_error_codes={},
            )
        )
    return out


def make_drill(
    name: str = "mk-offline-stop",
    verdict: Verdict = Verdict.PASSED,
    *,
    samples: list[Sample] | None = None,
    ttr_s: float | None = 1.5,
    budget_s: float = 10.0,
    restore: bool = True,
    failed_assertion: tuple[str, str] | None = None,
    fault_kind: str = "stop",
    consumer: dict[str, str] | None = None,
    fault: dict[str, Any] | None = None,
) -> DrillResult:
    """One drill; `failed_assertion=(expected, observed)` adds a failing check."""
    samples = make_samples() if samples is None else samples
    reasons: dict[str, int] = {}
    for s in samples:
        if s.fallback_reason and FAULT_START_S <= s.t_s <= FAULT_END_S:
            reasons[s.fallback_reason] = reasons.get(s.fallback_reason, 0) + 1
    assertions = [
        Assertion(
            name="every Draft answered",
            phase=Phase.OBSERVE,
            expected="100% answered",
            observed="100% answered",
            passed=True,
        )
    ]
    if failed_assertion is not None:
        assertions.append(
            Assertion(
                name="fallback reason",
                phase=Phase.OBSERVE,
                expected=failed_assertion[0],
                observed=failed_assertion[1],
                passed=False,
            )
        )
    ttr = None
    if restore:
        milestones = [
            Milestone(name=MilestoneName.SERVICE_UP, at_s=None if ttr_s is None else ttr_s * 0.3),
            Milestone(
                name=MilestoneName.HEALTH_VERSIONS, at_s=None if ttr_s is None else ttr_s * 0.5
            ),
            Milestone(name=MilestoneName.SCHEMA_READY, at_s=None if ttr_s is None else ttr_s * 0.6),
            Milestone(
                name=MilestoneName.PREFLIGHT_READY, at_s=None if ttr_s is None else ttr_s * 0.8
            ),
            Milestone(name=MilestoneName.FIRST_ENRICHED_DRAFT, at_s=ttr_s),
        ]
        ttr = TimeToRestore(
            kind="rollback",
            target_release="v0.3.2",
            started_s=FAULT_END_S,
            total_s=ttr_s,
            budget_s=budget_s,
            within_budget=ttr_s is not None and ttr_s <= budget_s,
            milestones=milestones,
        )
    return DrillResult(
        name=name,
        description=f"MemoryKernel {fault_kind}: the Draft flow falls back and recovers",
        suites=["nightly"],
        file=f"drills/{name}.yaml",
        verdict=verdict,
        reason=f"{name} {verdict.value}",
        started_at="2026-01-05T02:00:00+00:00",
        duration_s=12.0,
        fault=fault if fault is not None else {"kind": fault_kind},
        fault_window=FaultWindow(
            kind=fault_kind,
            description=f"MemoryKernel {fault_kind}",
            start_s=FAULT_START_S,
            end_s=FAULT_END_S,
        ),
        consumer=consumer if consumer is not None else {"ask_body": "patched"},
        phases=[PhaseSpan(phase=p, start_s=a, end_s=b) for p, a, b in _PHASES],
        probe=_summaries(samples),
        fallback_reasons=reasons,
        latency_bound_ms=7500.0,
        assertions=assertions,
        time_to_restore=ttr,
        samples=samples,
    )


def make_record(
    drills: list[DrillResult] | None = None,
    *,
    run_id: str = "20260105T020000Z-ab12",
    verdict: Verdict | None = None,
    suite: str | None = "nightly",
    settings: dict[str, str] | None = None,
    pin: PinInfo = PIN,
    started_at: str = "2026-01-05T02:00:00+00:00",
    partial: str | None = None,
    memorykernel: dict[str, MemoryKernelIdentity] | None = None,
) -> RunRecord:
    """A run of `drills`; the verdict defaults to failed if any drill failed, else passed."""
    drills = [make_drill()] if drills is None else drills
    if verdict is None:
        verdict = (
            Verdict.FAILED if any(d.verdict == Verdict.FAILED for d in drills) else Verdict.PASSED
        )
    return RunRecord(
        run_id=run_id,
        tool_version="0.1.0",
        started_at=started_at,
        finished_at=None if verdict == Verdict.INTERRUPTED else "2026-01-05T02:01:00+00:00",
        host={"hostname": "ci-runner-1", "platform": "linux"},
        backend="local",
        toxiproxy="embedded",
        suite=suite,
        verdict=verdict,
        reason=f"run {verdict.value}",
        pin=pin,
        releases={"baseline": "v0.3.2", "candidate": "v0.4.0"},
        settings=settings if settings is not None else {"ask_body": "patched"},
        partial=partial,
        memorykernel=memorykernel or {},
        drills=drills,
    )
