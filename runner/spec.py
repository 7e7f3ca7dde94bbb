"""Drill definitions: frozen pydantic models of the drill files in `drills/`.

A drill file is YAML (loaded by `runner.loader`) holding one drill:

    name: latency-above-timeout
    description: Every MemoryKernel answer delayed past the consumer timeout
    suites: [nightly, rehearsal]
    fault: {kind: latency, latency_ms: timeout + 300ms}   # relative to the consumer timeout
    window_s: 2 * timeout + 1s
    expect:
      during: fallback
      fallback_reasons: [offline]
    recover: {kind: remove_fault, budget_s: 5}
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

from runner.contract import TIMEOUT_MS_MAX, TIMEOUT_MS_MIN, FallbackReason
from runner.relative import check_relative, number_or_relative, parse_relative

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
# `timeout + 300ms`: resolved against the consumer timeout before a drill runs (runner.relative).
Relative = Annotated[str, AfterValidator(check_relative)]
DelayMsOrRelative = Annotated[
    int | str, PlainValidator(number_or_relative(int, gt=0, le=MAX_DELAY_MS))
]
HoldMsOrRelative = Annotated[
    int | str, PlainValidator(number_or_relative(int, ge=0, le=MAX_DELAY_MS))
]
WindowS = Annotated[float | str, PlainValidator(number_or_relative(float, gt=0, le=MAX_WINDOW_S))]
BudgetS = Annotated[float | str, PlainValidator(number_or_relative(float, gt=0, le=MAX_BUDGET_S))]


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
    latency_ms: DelayMsOrRelative
    jitter_ms: Annotated[int, Field(ge=0, le=MAX_DELAY_MS)] = 0
    stream: Stream = "downstream"


class HangFault(_Spec):
    """A Toxiproxy timeout toxic: data stops; with timeout_ms 0 the connection is held until removed."""

    kind: Literal["hang"]
    timeout_ms: HoldMsOrRelative = 0
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
    r"(passthrough|junk-page|wrong-shape|degraded|empty-context|truncate|stall|hang|status:[1-5]\d\d|typed:[a-z_]+(:[1-5]\d\d)?)"
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


_check_bound = number_or_relative(float, gt=0, le=600_000)


def _bound_or_auto(value: object) -> float | str:
    return "auto" if value == "auto" else _check_bound(value)


class Expectations(_Spec):
    """What the Draft flow must show before, during and after the fault."""

    during: DuringFault = DuringFault.FALLBACK
    fallback_reasons: list[FallbackReason] = Field(default_factory=list)
    machine_error_codes: list[str] | None = None
    min_availability: Annotated[float, Field(ge=0, le=1)] = 1.0
    # "auto": 3 calls × the consumer timeout + 250 ms
    latency_bound_ms: Annotated[float | str, PlainValidator(_bound_or_auto)] = "auto"
    steady: Literal["enriched"] = "enriched"

    @model_validator(mode="after")
    def _reasons_match_mode(self) -> Expectations:
        # Each of these can never pass: the fallback assertion needs an expected reason to be seen,
        # and the machine_error_code assertion needs fallbacks to read codes from.
        if self.during is not DuringFault.ENRICHED and not self.fallback_reasons:
            raise ValueError(
                f"fallback_reasons: list at least one reason when during is '{self.during.value}'"
            )
        if self.during is DuringFault.ENRICHED and self.fallback_reasons:
            raise ValueError("fallback_reasons: must be empty when during is 'enriched'")
        if self.during is DuringFault.ENRICHED and self.machine_error_codes is not None:
            raise ValueError(
                "machine_error_codes: an enriched Draft has no machine_error_code; "
                "remove it or expect a fallback"
            )
        return self


class Recovery(_Spec):
    """How the drill recovers: remove the fault, or roll back to the last green pin."""

    kind: Literal["remove_fault", "rollback"] = "remove_fault"
    budget_s: BudgetS = 10.0
    # baseline: back to the release the consumer's pin names (undo a bad deploy); last-green: the
    # last green pin trio before the one under drill, the consumer re-pinned when its contract differs.
    to: Literal["baseline", "last-green"] = "baseline"

    # After removing the fault, drop the connections the proxy queued meanwhile (disable it,
    # wait for MemoryKernel to answer directly, enable it): for faults that freeze MemoryKernel
    # behind the proxy, whose clients are long gone when it comes back. Timed as a milestone.
    flush_proxy: bool = False

    @model_validator(mode="after")
    def _target_needs_rollback(self) -> Recovery:
        if self.to != "baseline" and self.kind != "rollback":
            raise ValueError("to: only a rollback has a target; use kind: rollback")
        return self


class ConsumerOverrides(_Spec):
    """Consumer settings for this drill (the consumer is restarted with them, and back afterwards)."""

    ask_body: Literal["shipped", "patched"] | None = None
    # AssistSupport clamps its timeout to 100..=30000 ms: a value outside would not be the one it uses.
    timeout_ms: Annotated[int, Field(ge=TIMEOUT_MS_MIN, le=TIMEOUT_MS_MAX)] | None = None


class Drill(_Spec):
    """One drill: a fault, a window, what the Draft flow must show, and how it recovers."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    description: Annotated[str, Field(min_length=1, max_length=500)]
    suites: Annotated[list[str], Field(min_length=1)]
    fault: Fault
    window_s: WindowS = 3.0
    expect: Expectations
    recover: Recovery = Recovery()
    consumer: ConsumerOverrides = ConsumerOverrides()
    expected_red: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    """Why this drill is red today by design (a finding, not a test to make green); labelled so."""
    control: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    """Why this drill is a control: it must stay green under every consumer defect, so
    `mkdrill mutants` requires no catch of it (e.g. enrichment survives slowness below the timeout)."""

    @model_validator(mode="after")
    def _known_suites(self) -> Drill:
        unknown = sorted(set(self.suites) - set(KNOWN_SUITES))
        if unknown:
            raise ValueError(f"suites: unknown suite {unknown[0]!r}; use {', '.join(KNOWN_SUITES)}")
        if len(set(self.suites)) != len(self.suites):
            raise ValueError("suites: a suite is listed twice")
        if self.fault.kind == "deploy_release" and self.recover.kind != "rollback":
            raise ValueError("recover.kind: a deploy_release drill recovers by 'rollback'")
        for timeout_ms in possible_timeouts(self):
            _check_resolves(self, timeout_ms)
        return self


def describe_fault(fault: Fault) -> str:
    """One line naming the fault and its parameters, e.g. `latency(latency_ms=800, jitter_ms=0, ...)`."""
    params = {k: v for k, v in fault.model_dump().items() if k != "kind"}
    inner = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{fault.kind}({inner})" if inner else fault.kind


# Fields that may be written relative to the consumer timeout, and the unit of their numbers.
RELATIVE_FIELDS: dict[tuple[str, ...], str] = {
    ("fault", "latency_ms"): "ms",
    ("fault", "timeout_ms"): "ms",
    ("window_s",): "s",
    ("recover", "budget_s"): "s",
    ("expect", "latency_bound_ms"): "ms",
}


def possible_timeouts(drill: Drill) -> tuple[int, ...]:
    """The consumer timeouts a drill can run with: its own, else both ends of AssistSupport's clamp.

    Every relative field is linear in the timeout, so a bound that holds at both ends holds between.
    """
    if drill.consumer.timeout_ms is not None:
        return (drill.consumer.timeout_ms,)
    return (TIMEOUT_MS_MIN, TIMEOUT_MS_MAX)


def relative_fields(drill: Drill) -> dict[str, str]:
    """`field.path -> expression` for each field the drill file writes relative to the timeout."""
    found: dict[str, str] = {}
    data = drill.model_dump(mode="python")
    for path in RELATIVE_FIELDS:
        value = _get(data, path)
        if isinstance(value, str) and value != "auto":
            found[".".join(path)] = value
    return found


def _get(data: dict[str, Any], path: tuple[str, ...]) -> object:
    holder: object = data
    for key in path:
        if not isinstance(holder, dict):
            return None
        holder = holder.get(key)
    return holder


def resolve_timeouts(drill: Drill, timeout_ms: int) -> Drill:
    """The drill with every relative field turned into its number for a `timeout_ms` consumer."""
    relative = relative_fields(drill)
    if not relative:
        return drill
    data = drill.model_dump(mode="python")
    for path, unit in RELATIVE_FIELDS.items():
        text = relative.get(".".join(path))
        if text is None:
            continue
        holder = data
        for key in path[:-1]:
            holder = holder[key]
        ms = parse_relative(text).ms(timeout_ms)
        holder[path[-1]] = (
            round(ms) if path[-1] in _INTEGER_FIELDS else (ms / 1000 if unit == "s" else ms)
        )
    return Drill.model_validate(data)


def retime(drill: Drill, relative: dict[str, str], timeout_ms: int) -> Drill:
    """A resolved drill resolved again for another consumer timeout, from its fields as written."""
    if not relative:
        return drill
    data = drill.model_dump(mode="python")
    for dotted, text in relative.items():
        path = tuple(dotted.split("."))
        holder = data
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = text
    return resolve_timeouts(Drill.model_validate(data), timeout_ms)


_INTEGER_FIELDS = frozenset({"latency_ms", "timeout_ms"})


def _check_resolves(drill: Drill, timeout_ms: int) -> None:
    try:
        resolve_timeouts(drill, timeout_ms)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(p) for p in error["loc"] if not (isinstance(p, str) and p[:1].isupper())]
        if len(loc) >= 2 and loc[0] == "fault":  # drop the discriminator tag
            loc = [loc[0], *loc[2:]]
        field = ".".join(loc)
        written = relative_fields(drill).get(field, "")
        message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        message = message.split(" (got ")[0]
        unit = RELATIVE_FIELDS.get(tuple(loc), "")
        value = error.get("input")
        shown = f"{value:g} {unit}" if isinstance(value, int | float) else repr(value)
        raise ValueError(
            f"{field}: {written} is {shown} at a {timeout_ms} ms consumer timeout; {message}"
        ) from None


def number(value: float | str) -> float:
    """A drill number once the plan resolved it (`resolve_timeouts`); an expression here is a bug."""
    if isinstance(value, str):
        raise TypeError(f"{value!r} was not resolved against the consumer timeout")
    return float(value)
