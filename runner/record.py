"""Typed run records: what a drill run observed, the single input of every report writer."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REPORT_SCHEMA_VERSION = "1.2"


class Verdict(StrEnum):
    """Outcome of a drill or a whole run."""

    PASSED = "passed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ERROR = "error"  # the environment, not the Draft flow, broke; the run exits 3
    # not run: --fail-fast after a failure, or the backend cannot inject this drill's fault (the
    # run goes on with the next drill; the reason names the backend and the fault)
    SKIPPED = "skipped"
    # Not run: the fault or a consumer override cannot be applied to the consumer under test (your
    # own, probed by URL or command); never applied to another consumer instead. Not a failure.
    NOT_APPLICABLE = "not_applicable"


class Phase(StrEnum):
    """Phases of one drill, in order."""

    PREPARE = "prepare"
    STEADY = "steady"
    INJECT = "inject"
    OBSERVE = "observe"
    RECOVER = "recover"
    VERIFY = "verify"


class MilestoneName(StrEnum):
    """Restore milestones, in the order they are expected."""

    SERVICE_UP = "service_up"
    HEALTH_VERSIONS = "health_versions"
    SCHEMA_READY = "schema_ready"
    CONSUMER_REPINNED = "consumer_repinned"  # only when a rollback re-pins the consumer
    # Only in restores that flush the proxy (`recover.flush_proxy`): connections it queued dropped.
    PROXY_FLUSHED = "proxy_flushed"
    PREFLIGHT_READY = "preflight_ready"
    FIRST_ENRICHED_DRAFT = "first_enriched_draft"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Sample(_Record):
    """One Draft request made by the probe."""

    t_s: float = Field(description="seconds since the drill started (monotonic)")
    phase: Phase
    http_status: int | None
    ok: bool = Field(description="the Draft was answered: HTTP 200 with a non-empty draft")
    applied: bool = Field(description="enrichment.applied")
    fallback_reason: str | None
    machine_error_code: str | None
    preflight_status: str | None
    latency_ms: float
    error: str | None = None
    message: str | None = Field(
        default=None, description="the enrichment message when it fell back"
    )


class PhaseSpan(_Record):
    """When a phase ran, in seconds since the drill started."""

    phase: Phase
    start_s: float
    end_s: float


class LatencyStats(_Record):
    """Latency of Draft samples in milliseconds."""

    p50_ms: float
    p95_ms: float
    max_ms: float


class PhaseSummary(_Record):
    """What the probe saw during one phase."""

    phase: Phase
    samples: int
    answered: int
    availability: float = Field(description="answered / samples, 1.0 when there were no samples")
    enriched: int
    latency: LatencyStats | None
    fallback_reasons: dict[str, int]
    machine_error_codes: dict[str, int]


class LoadSummary(_Record):
    """What the --load Drafters saw during the fault window, judged apart from the probe."""

    workers: int
    drafts: int
    answered: int
    enriched: int
    drafters_answered: int = Field(description="Drafters with at least one answered Draft")
    latency: LatencyStats | None
    fallback_reasons: dict[str, int]


class Assertion(_Record):
    """One check of the drill, with what was expected and what was observed."""

    name: str
    phase: Phase
    expected: str
    observed: str
    passed: bool


class Milestone(_Record):
    """A restore milestone: seconds after the restore started, or None if never reached."""

    name: MilestoneName
    at_s: float | None
    resolution_s: float | None = Field(
        default=None,
        description="the watcher's resolution here: at_s is when the check that reached it was "
        "sent; the check sent this many seconds before found it not reached yet (or, reached on "
        "its first check, the milestone before it was this long before)",
    )


class TimeToRestore(_Record):
    """Restore timing: from the rollback (or fault removal) to the first enriched Draft."""

    kind: str = Field(description="rollback or remove_fault")
    target_release: str
    started_s: float = Field(description="seconds since the drill started")
    total_s: float | None
    resolution_s: float | None = Field(
        default=None,
        description="the restore clock's resolution at total_s: the restore took effect within "
        "this many seconds before it (a Draft asked for that long before total_s was not "
        "enriched; a drill's watch times the first enriched Draft when it was asked for)",
    )
    budget_s: float
    within_budget: bool
    milestones: list[Milestone]
    target_pin: str | None = Field(
        default=None, description="the pin the consumer carries after the restore: tag (contract)"
    )
    repinned: bool = Field(
        default=False, description="the consumer was re-pinned: a rollback across a contract change"
    )
    trio: dict[str, str] = Field(
        default_factory=dict,
        description="the restored pin trio: why it was chosen and each file's SHA-256",
    )


class PathRepair(_Record):
    """One repair made after a drill to bring the path back, and how long it took."""

    action: str = Field(description="what was done, e.g. flush the proxy memorykernel")
    seconds: float
    outcome: str = Field(description="what the path answered afterwards, or why the repair failed")


class PathCheck(_Record):
    """After the drill: whether consumer → proxy → MemoryKernel answered promptly, with evidence."""

    healthy: bool = Field(description="the path answered promptly as the drill left it")
    problem: str | None = Field(default=None, description="one line: what was wrong")
    evidence: dict[str, str] = Field(
        default_factory=dict,
        description="drafts, memorykernel (direct), through_proxy, proxy (API state), sockets",
    )
    repairs: list[PathRepair] = Field(default_factory=list)
    repaired: bool = Field(description="the path answered after the repairs (true when healthy)")
    seconds: float = Field(description="time the check and its repairs took")


class FaultWindow(_Record):
    """The injected fault and when it was active, seconds since the drill started."""

    kind: str
    description: str
    start_s: float
    end_s: float


class DrillResult(_Record):
    """Everything one drill observed and decided."""

    name: str
    description: str
    suites: list[str]
    file: str
    verdict: Verdict
    reason: str = Field(description="one line: why it passed, failed or was skipped")
    started_at: str = Field(description="UTC, ISO 8601")
    duration_s: float
    fault: dict[str, Any]
    fault_window: FaultWindow | None
    consumer: dict[str, str] = Field(
        description="what the consumer ran with: pin, timeout_ms (and its source), ask_body, defect"
    )
    timeout_relative: dict[str, str] = Field(
        default_factory=dict,
        description="drill fields written relative to the consumer timeout, as written",
    )
    expected_red: str | None = Field(
        default=None,
        description="why this drill is red by design today (a known finding), from its drill file",
    )
    phases: list[PhaseSpan]
    probe: list[PhaseSummary]
    fallback_reasons: dict[str, int] = Field(
        description="fallback reasons the verdict judged: Drafts started while the fault was on "
        "and answered before its removal (the steady state's when no fault was injected)"
    )
    other_fallback_reasons: dict[str, int] = Field(
        default_factory=dict,
        description="every other fallback of the drill (steady, in flight at the removal, "
        "recover, verify), not judged against the expected reasons",
    )
    load: LoadSummary | None = Field(
        default=None, description="--load Drafters during the window, judged apart from the probe"
    )
    latency_bound_ms: float
    assertions: list[Assertion]
    time_to_restore: TimeToRestore | None
    samples: list[Sample]
    path_check: PathCheck | None = Field(
        default=None,
        description="the path as this drill left it, checked before the next drill; repairs made",
    )

    @property
    def time_to_restore_s(self) -> float | None:
        """Seconds to the first enriched Draft after the restore started, if measured."""
        return self.time_to_restore.total_s if self.time_to_restore else None


class PinInfo(_Record):
    """The pin a run used as its baseline."""

    source: str
    release_tag: str
    commit_sha: str
    expected_service_contract_version: str
    expected_api_contract_version: str
    expected_producer_manifest_sha256: str | None
    pin_file_sha256: str
    manifest_source: str | None = Field(default=None, description="the pin's mirrored manifest")
    manifest_file_sha256: str | None = None
    matrix_source: str | None = Field(default=None, description="the pin's compatibility matrix")
    matrix_sha256: str | None = None


class MemoryKernelIdentity(_Record):
    """Which MemoryKernel served one release: the reference, a binary of one's own, or an image."""

    release: str = Field(description="the release tag it was run as")
    kind: str = Field(description="reference, binary or image")
    name: str = Field(description="binary path, image reference, or the reference's command")
    digest: str = Field(
        description="sha256:<hex> of the binary file, the image ID, or the reference's source"
    )
    service_contract_version: str | None = Field(
        default=None, description="what its /v1/health answered; null if never asked"
    )

    @property
    def key(self) -> str:
        """One string naming it, for the ledger: `kind:release@digest`."""
        return f"{self.kind}:{self.release}@{self.digest}"


class CapacityLevel(_Record):
    """Drafts answered back to back with `in_flight` at once, MemoryKernel healthy."""

    in_flight: int
    drafts: int
    seconds: float
    drafts_per_s: float
    enriched: int
    latency: LatencyStats | None


class ConsumerCapacity(_Record):
    """What the consumer under test sustains with MemoryKernel healthy: the level with most Drafts/s."""

    drafts_per_s: float
    in_flight: int = Field(description="Drafts in flight at the best level")
    p50_ms: float
    p95_ms: float
    enriched: int = Field(description="enriched Drafts of the measurement (all should be)")
    drafts: int
    levels: list[CapacityLevel]

    def describe(self) -> str:
        """One line: `17.9 Drafts/s (2 in flight), p50 104 ms, p95 131 ms`."""
        return (
            f"{self.drafts_per_s:.1f} Drafts/s ({self.in_flight} in flight), "
            f"p50 {self.p50_ms:.0f} ms, p95 {self.p95_ms:.0f} ms"
        )


class ConsumerInfo(_Record):
    """The consumer under test: which one, how mkdrill reaches it, and what it could apply to it."""

    kind: str = Field(description="reference (started by mkdrill), url or command (yours)")
    target: str = Field(description="its Draft URL, or the command run per Draft")
    restart_command: str | None = None
    pin: str = Field(description="the pin the consumer carries: release tag and contract")
    pin_from: str = Field(description="where that pin comes from")
    timeout_ms: int
    applied: dict[str, str] = Field(
        default_factory=dict, description="setting -> value mkdrill applies to this consumer"
    )
    not_applied: dict[str, str] = Field(
        default_factory=dict, description="setting -> why mkdrill cannot apply it here"
    )
    capacity: ConsumerCapacity | None = None
    pace: dict[str, str] = Field(
        default_factory=dict, description="phase -> Drafts/s the probe was paced at"
    )


class RunRecord(_Record):
    """One invocation of `mkdrill run`: the evidence bundle every report is rendered from."""

    schema_version: str = REPORT_SCHEMA_VERSION
    run_id: str
    tool_version: str
    started_at: str
    finished_at: str | None
    host: dict[str, str]
    backend: str
    toxiproxy: str
    suite: str | None
    verdict: Verdict
    reason: str
    pin: PinInfo
    releases: dict[str, str] = Field(description="role -> release tag: baseline, candidate")
    images: dict[str, str] = Field(
        default_factory=dict, description="compose: every image the run used -> its image ID"
    )
    memorykernel: dict[str, MemoryKernelIdentity] = Field(
        default_factory=dict, description="release tag -> the MemoryKernel that served it"
    )
    settings: dict[str, str] = Field(default_factory=dict)
    partial: str | None = Field(
        default=None,
        description="why this run does not decide its pin's state (drills named, --fail-fast "
        "stopped it, not every drill ran); null for a whole suite",
    )
    consumer: ConsumerInfo | None = None
    drills: list[DrillResult]
