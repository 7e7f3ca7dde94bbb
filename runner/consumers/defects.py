"""The catalog of consumer defects (mutants): each a small named deviation from AssistSupport's rules.

A defect switches one rule of AssistSupport's adapter (`memory_kernel.rs`, the
`useMemoryKernelEnrichment` hook; contract §3) off or the wrong way round in the reference
consumer, the way a real bug would. `mkdrill mutants` runs the drill catalog against each one:
a drill exists to catch the defect its fault provokes, so every defect must make some drill red.
How the reference consumer deviates lives beside it (`reference/assistsupport/defects.py`); this
module holds what the product needs to know: names, the bug class, the rule broken, and the
drill traits most likely to catch each one (the order quick mode tries drills in).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from runner.errors import DefinitionError


class ConsumerDefect(StrEnum):
    """A defect the reference consumer can run with (`none`: AssistSupport's rules as shipped)."""

    NONE = "none"
    DRAFT_BLOCKS = "draft-blocks"
    NO_CLIENT_TIMEOUT = "no-client-timeout"
    TIMEOUT_FAR_ABOVE_PIN = "timeout-far-above-pin"
    VERSIONS_UNCHECKED = "versions-unchecked"
    DEGRADED_IGNORED = "degraded-ignored"
    TYPED_ERROR_AS_EMPTY_SUCCESS = "typed-error-as-empty-success"
    MALFORMED_CRASHES_DRAFT = "malformed-crashes-draft"
    EVERY_FAILURE_OFFLINE = "every-failure-offline"
    ROUTES_BY_LEGACY_ERROR = "routes-by-legacy-error"
    DISABLED_FLAG_IGNORED = "disabled-flag-ignored"
    STALE_PREFLIGHT = "stale-preflight"
    UNBOUNDED_RETRIES = "unbounded-retries"
    EMPTY_CONTEXT_APPLIED = "empty-context-applied"


# A drill's traits, matched against a defect's `likely` hints (runner.mutants.order):
# `during:<enriched|fallback|either>`, `fault:<kind>`, `mode:<responder mode kind>`,
# `reason:<expected fallback reason>`, `codes` (the drill checks machine_error_code).
ANY_FALLBACK = "during:fallback"


@dataclass(frozen=True)
class DefectInfo:
    """One defect: what the consumer does wrong, the real bug class, the rule it breaks."""

    defect: ConsumerDefect
    does: str  # what the mutant consumer does differently, one line
    bug_class: str  # the real bug it stands for, one line
    rule: str  # AssistSupport's rule it breaks, with the contract section
    likely: tuple[str, ...]  # drill traits most likely to catch it, best first

    @property
    def name(self) -> str:
        """The defect's name, as `--consumer-defect` and `--mutant` take it."""
        return self.defect.value


_TIMEOUT_TRAITS = (
    "fault:hang",
    "mode:hang",
    "mode:stall",
    "fault:latency",
    "fault:pause",
    "fault:network_cut",
)

CATALOG: tuple[DefectInfo, ...] = (
    DefectInfo(
        ConsumerDefect.DRAFT_BLOCKS,
        "the Draft waits on enrichment and fails (503, no reply) whenever it falls back",
        "enrichment wired in as a hard dependency of the reply: a MemoryKernel outage takes "
        "the Draft flow down (a blocked Draft is release-blocking, §4.4)",
        "enrichDiagnosticNotes never throws: every failure becomes a fallback and the Draft "
        "proceeds (§3.5)",
        ("reason:offline", "fault:disabled", ANY_FALLBACK),
    ),
    DefectInfo(
        ConsumerDefect.NO_CLIENT_TIMEOUT,
        "builds its HTTP client with no timeout: a call waits as long as MemoryKernel does",
        "a reqwest::Client built without .timeout(): one hung peer hangs every Draft behind it",
        "every request is bounded by ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS, else the pin's "
        "default_timeout_ms (§3.1)",
        _TIMEOUT_TRAITS,
    ),
    DefectInfo(
        ConsumerDefect.TIMEOUT_FAR_ABOVE_PIN,
        "uses a 30000 ms client timeout whatever the pin and the variable say",
        "a timeout copied from a server-side budget or the clamp's ceiling instead of the pin: "
        "a slow MemoryKernel stalls each Draft for up to 3 × 30 s",
        "the timeout is the variable's value, else the pin's default_timeout_ms (2500 ms) (§3.1)",
        _TIMEOUT_TRAITS,
    ),
    DefectInfo(
        ConsumerDefect.VERSIONS_UNCHECKED,
        "never compares the contract versions of health, schema and ask with its pin",
        "an envelope parsed but its service_contract_version never checked: a producer deploy "
        "across a contract change goes unnoticed and enriches",
        "both versions must equal the pin's, exactly, on health, schema-version and ask "
        "(§3.2 steps 5 and 10, §3.3 step 7)",
        ("reason:version-mismatch", "fault:deploy_release", "fault:consumer_pin"),
    ),
    DefectInfo(
        ConsumerDefect.DEGRADED_IGNORED,
        "takes a 200 health answer as healthy without reading data.status",
        "a health check that looks only at the HTTP status: a degraded service keeps enriching",
        "health data.status other than ok (lowercased) is preflight degraded (§3.2 step 6)",
        ("reason:degraded", "mode:degraded"),
    ),
    DefectInfo(
        ConsumerDefect.TYPED_ERROR_AS_EMPTY_SUCCESS,
        "reads a typed non-2xx answer as a 200 with an empty context package: empty-context, "
        "its machine_error_code lost",
        "a missing status check before the body is read as a context package: every producer "
        "error looks like 'no context for this ticket'",
        "a non-2xx with error.code gives that code as machine_error_code and the reason from "
        "the code table (§3.3 step 5)",
        ("codes", "mode:typed", "fault:future_schema_row", "reason:non-2xx"),
    ),
    DefectInfo(
        ConsumerDefect.MALFORMED_CRASHES_DRAFT,
        "crashes the Draft (500) on a MemoryKernel body that does not parse",
        "serde_json::from_str(..).unwrap() (or an unchecked response.json()) on a producer "
        "payload: a junk page panics the command",
        "a body that is not the envelope is the malformed-payload fallback, never an error "
        "(§3.2 steps 4 and 9, §3.3 step 6)",
        ("reason:malformed-payload", "mode:junk-page", "mode:wrong-shape", "mode:truncate"),
    ),
    DefectInfo(
        ConsumerDefect.EVERY_FAILURE_OFFLINE,
        "reports every failure as fallback offline, whatever went wrong",
        "one catch-all error branch: operators read 'offline' for a schema, contract or "
        "payload fault and follow the wrong runbook",
        "each failure names its own reason: preflight state, code table, HTTP status or "
        "transport error (§3.2, §3.3)",
        (
            "reason:malformed-payload",
            "reason:version-mismatch",
            "reason:schema-unavailable",
            "reason:degraded",
            "reason:non-2xx",
            "reason:timeout",
            "reason:empty-context",
        ),
    ),
    DefectInfo(
        ConsumerDefect.ROUTES_BY_LEGACY_ERROR,
        "routes a non-2xx by legacy_error instead of error.code: on service.v3 (no "
        "legacy_error) every typed error loses its code and is routed by HTTP status",
        "a consumer written against service.v2's legacy_error and re-pinned to service.v3 "
        "without moving its error routing to error.code",
        "error.code decides machine_error_code and the reason; legacy_error only adds to the "
        "message, and service.v3 removed it (§2.1, §3.3 step 5)",
        ("codes", "mode:typed", "fault:future_schema_row"),
    ),
    DefectInfo(
        ConsumerDefect.DISABLED_FLAG_IGNORED,
        "calls MemoryKernel whatever ASSISTSUPPORT_ENABLE_MEMORY_KERNEL says",
        "a feature flag read once at start-up or not at all: switching MemoryKernel off does "
        "not stop the calls",
        "flag off: preflight disabled, fallback feature-disabled, no HTTP call (§3.1, §3.2 step 1)",
        ("fault:disabled", "reason:feature-disabled"),
    ),
    DefectInfo(
        ConsumerDefect.STALE_PREFLIGHT,
        "caches a failed preflight and answers every later Draft from it: enrichment never "
        "comes back until the consumer restarts",
        "the start-up preflight's failure kept in app state: after MemoryKernel recovers the "
        "fallback stays on, missing every restore budget",
        "preflight runs again inside every enrichment call and nothing is cached (§3.1, §3.2)",
        (
            "fault:stop",
            "fault:kill",
            "fault:proxy_down",
            "reason:offline",
            "reason:schema-unavailable",
        ),
    ),
    DefectInfo(
        ConsumerDefect.UNBOUNDED_RETRIES,
        "retries a failed enrichment again and again (every 200 ms) until it succeeds",
        "a retry loop with no cap or budget: a MemoryKernel outage holds every Draft until it "
        "comes back, then meets a retry storm",
        "one attempt per command: at most health, schema-version and ask, then the Draft goes "
        "on with the fallback (§3.5)",
        ("reason:offline", ANY_FALLBACK, "during:either"),
    ),
    DefectInfo(
        ConsumerDefect.EMPTY_CONTEXT_APPLIED,
        "counts a context package with no answer and no items as applied enrichment",
        "an empty MemoryKernel answer passed on as enrichment: the Draft claims policy context "
        "it does not have",
        "no lines from the package is the empty-context fallback (§3.3 step 8)",
        ("reason:empty-context", "mode:empty-context"),
    ),
)

DEFECTS: dict[ConsumerDefect, DefectInfo] = {info.defect: info for info in CATALOG}
MUTANTS: tuple[ConsumerDefect, ...] = tuple(info.defect for info in CATALOG)


def parse_defect(value: str, what: str = "--consumer-defect") -> ConsumerDefect:
    """A defect by name; DefinitionError (exit 2) naming every known one otherwise."""
    try:
        return ConsumerDefect(value.strip())
    except ValueError:
        names = ", ".join(d.value for d in ConsumerDefect)
        raise DefinitionError(
            f"{what}: unknown consumer defect {value!r}; use one of {names}"
        ) from None
