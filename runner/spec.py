"""Drill definitions: frozen pydantic models of the drill files in `drills/`.

A drill file is YAML (loaded by `runner.loader`) holding one drill:

    name: latency-above-timeout
    description: Every MemoryKernel answer delayed past the consumer timeout
    suites: [nightly, rehearsal]
    fault: {kind: latency, latency_ms: 900}
    window_s: 3
    expect:
      during: fallback
      fallback_reasons: [offline]
    recover: {kind: remove_fault, budget_s: 5}
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runner.contract import FallbackReason

# Bounds that keep a drill from hanging a CI job: a window of an hour is a typo, not a drill.
MAX_WINDOW_S = 600.0
MAX_BUDGET_S = 900.0
MAX_DELAY_MS = 120_000

KNOWN_SUITES = ("nightly", "quarterly", "rehearsal", "contract")


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


Stream = Literal["upstream", "downstream"]
ReleaseRef = Annotated[
    str,
    Field(
        pattern=r"^(baseline|candidate|v\d+\.\d+\.\d+)$",
        description="baseline (the last green pin), candidate (the other release) or a tag vX.Y.Z",
    ),
]
DelayMs = Annotated[int, Field(gt=0, le=MAX_DELAY_MS)]


class DisabledFault(_Spec):
    """The consumer's feature flag is off (ASSISTSUPPORT_ENABLE_MEMORY_KERNEL)."""

    kind: Literal["disabled"]
    value: str = Field(
        default="0", description="flag value to set; anything but 1/true/yes/on disables"
    )


class StopFault(_Spec):
    """MemoryKernel is stopped gracefully (SIGTERM / docker stop)."""

    kind: Literal["stop"]


class KillFault(_Spec):
    """MemoryKernel is killed (SIGKILL / docker kill)."""

    kind: Literal["kill"]


class PauseFault(_Spec):
    """MemoryKernel is frozen (SIGSTOP / docker pause): connections hang."""

    kind: Literal["pause"]


class ProxyDownFault(_Spec):
    """The Toxiproxy proxy in front of MemoryKernel is disabled: connections refused."""

    kind: Literal["proxy_down"]


class NetworkCutFault(_Spec):
    """MemoryKernel is cut off the network (docker network disconnect; a blackhole locally)."""

    kind: Literal["network_cut"]


class LatencyFault(_Spec):
    """A Toxiproxy latency toxic on MemoryKernel's traffic."""

    kind: Literal["latency"]
    latency_ms: DelayMs
    jitter_ms: Annotated[int, Field(ge=0, le=MAX_DELAY_MS)] = 0
    stream: Stream = "downstream"


class HangFault(_Spec):
    """A Toxiproxy timeout toxic: data stops; with timeout_ms 0 the connection is held until removed."""

    kind: Literal["hang"]
    timeout_ms: Annotated[int, Field(ge=0, le=MAX_DELAY_MS)] = 0
    stream: Stream = "downstream"


class BandwidthFault(_Spec):
    """A Toxiproxy bandwidth toxic: small answers pass in time, large ones (ask) are too slow."""

    kind: Literal["bandwidth"]
    rate_kb_s: Annotated[int, Field(gt=0, le=1_000_000)]
    stream: Stream = "downstream"


class TruncateFault(_Spec):
    """A Toxiproxy limit_data toxic: each connection is closed after `bytes` bytes."""

    kind: Literal["truncate"]
    bytes: Annotated[int, Field(ge=0, le=10_000_000)]
    stream: Stream = "downstream"


_RESPONDER_ENTRY = (
    r"(passthrough|junk-page|wrong-shape|degraded|empty-context|truncate|hang|status:[1-5]\d\d|typed:[a-z_]+(:[1-5]\d\d)?)"
    r"(@/[A-Za-z0-9/_.-]+)?"
)
ResponderMode = Annotated[
    str,
    Field(
        pattern=rf"^{_RESPONDER_ENTRY}(,{_RESPONDER_ENTRY})*$",
        description="what the fault responder in front of MemoryKernel answers; MODE or MODE@/route, comma-separated",
    ),
]


class ResponderFault(_Spec):
    """The proxy upstream is switched to a fault responder (junk page, wrong shape, degraded, ...)."""

    kind: Literal["responder"]
    mode: ResponderMode


class DeployReleaseFault(_Spec):
    """Another MemoryKernel release is deployed on the same database (version mismatch)."""

    kind: Literal["deploy_release"]
    release: ReleaseRef = "candidate"


class ConsumerPinFault(_Spec):
    """The consumer is rebuilt with another release's pin while MemoryKernel stays (mismatch the other way)."""

    kind: Literal["consumer_pin"]
    release: ReleaseRef = "candidate"


class SchemaFault(_Spec):
    """MemoryKernel restarts on a broken database: a directory, a corrupt file, or a missing parent."""

    kind: Literal["schema"]
    database: Literal["directory", "corrupt", "missing-parent"] = "corrupt"


class FutureSchemaRowFault(_Spec):
    """A `schema_migrations` row newer than the service knows: preflight passes, ask answers a typed 503."""

    kind: Literal["future_schema_row"]
    version: Annotated[int, Field(ge=3, le=1_000_000)] = 3


class FlappingFault(_Spec):
    """MemoryKernel is stopped and started again and again during the window."""

    kind: Literal["flapping"]
    down_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    up_s: Annotated[float, Field(gt=0, le=60)] = 0.5


class NoFault(_Spec):
    """Nothing is injected: the drill checks the steady state itself (contract drills)."""

    kind: Literal["none"]


Fault = Annotated[
    DisabledFault
    | StopFault
    | KillFault
    | PauseFault
    | ProxyDownFault
    | NetworkCutFault
    | LatencyFault
    | HangFault
    | BandwidthFault
    | TruncateFault
    | ResponderFault
    | DeployReleaseFault
    | ConsumerPinFault
    | SchemaFault
    | FutureSchemaRowFault
    | FlappingFault
    | NoFault,
    Field(discriminator="kind"),
]

FAULT_KINDS = [
    "disabled",
    "stop",
    "kill",
    "pause",
    "proxy_down",
    "network_cut",
    "latency",
    "hang",
    "bandwidth",
    "truncate",
    "responder",
    "deploy_release",
    "consumer_pin",
    "schema",
    "future_schema_row",
    "flapping",
    "none",
]


class DuringFault(StrEnum):
    """What the Draft flow must show while the fault is on."""

    ENRICHED = "enriched"
    FALLBACK = "fallback"
    EITHER = "either"


class Expectations(_Spec):
    """What the Draft flow must show before, during and after the fault."""

    during: DuringFault = DuringFault.FALLBACK
    fallback_reasons: list[FallbackReason] = Field(default_factory=list)
    machine_error_codes: list[str] | None = None
    min_availability: Annotated[float, Field(ge=0, le=1)] = 1.0
    latency_bound_ms: Annotated[float, Field(gt=0, le=600_000)] | Literal["auto"] = "auto"
    steady: Literal["enriched"] = "enriched"

    @model_validator(mode="after")
    def _reasons_match_mode(self) -> Expectations:
        if self.during is DuringFault.FALLBACK and not self.fallback_reasons:
            raise ValueError("fallback_reasons: list at least one reason when during is 'fallback'")
        if self.during is DuringFault.ENRICHED and self.fallback_reasons:
            raise ValueError("fallback_reasons: must be empty when during is 'enriched'")
        return self


class Recovery(_Spec):
    """How the drill recovers: remove the fault, or roll back to the last green pin."""

    kind: Literal["remove_fault", "rollback"] = "remove_fault"
    budget_s: Annotated[float, Field(gt=0, le=MAX_BUDGET_S)] = 10.0


class ConsumerOverrides(_Spec):
    """Consumer settings for this drill (the consumer is restarted with them, and back afterwards)."""

    ask_body: Literal["shipped", "patched"] | None = None
    timeout_ms: Annotated[int, Field(ge=1, le=60_000)] | None = None


class Drill(_Spec):
    """One drill: a fault, a window, what the Draft flow must show, and how it recovers."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    description: Annotated[str, Field(min_length=1, max_length=500)]
    suites: Annotated[list[str], Field(min_length=1)]
    fault: Fault
    window_s: Annotated[float, Field(gt=0, le=MAX_WINDOW_S)] = 3.0
    expect: Expectations
    recover: Recovery = Recovery()
    consumer: ConsumerOverrides = ConsumerOverrides()

    @model_validator(mode="after")
    def _known_suites(self) -> Drill:
        unknown = sorted(set(self.suites) - set(KNOWN_SUITES))
        if unknown:
            raise ValueError(f"suites: unknown suite {unknown[0]!r}; use {', '.join(KNOWN_SUITES)}")
        if len(set(self.suites)) != len(self.suites):
            raise ValueError("suites: a suite is listed twice")
        if self.fault.kind == "deploy_release" and self.recover.kind != "rollback":
            raise ValueError("recover.kind: a deploy_release drill recovers by 'rollback'")
        return self


def describe_fault(fault: Fault) -> str:
    """One line naming the fault and its parameters, e.g. `latency(latency_ms=800, jitter_ms=0, ...)`."""
    params = {k: v for k, v in fault.model_dump().items() if k != "kind"}
    inner = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{fault.kind}({inner})" if inner else fault.kind
