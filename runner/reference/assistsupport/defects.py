"""How the reference consumer deviates from AssistSupport's rules under each consumer defect.

The catalog (names, bug classes, the rule each breaks) is `runner.consumers.defects`; here is what
each one changes, kept apart from the faithful copy of the adapter so that copy reads as
AssistSupport's: a defect changes the settings read for a call, one of the adapter's checks
(`AdapterRules`), the preflight a call runs, or what the Draft makes of the adapter's result.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from runner.consumers.defects import ConsumerDefect
from runner.contract import TIMEOUT_MS_MAX, FallbackReason
from runner.pins import Pin
from runner.reference.assistsupport.client import HttpSession
from runner.reference.assistsupport.enrichment import EnrichmentResult, PreflightRunner
from runner.reference.assistsupport.preflight import (
    ConsumerSettings,
    PreflightStatus,
    run_preflight,
)
from runner.reference.assistsupport.rules import AS_SHIPPED, AdapterRules

RETRY_DELAY_S = 0.2  # unbounded-retries: a short fixed pause, no cap on the attempts
_RULES = {
    ConsumerDefect.VERSIONS_UNCHECKED: AdapterRules(check_versions=False),
    ConsumerDefect.DEGRADED_IGNORED: AdapterRules(check_health_status=False),
    ConsumerDefect.ROUTES_BY_LEGACY_ERROR: AdapterRules(error_code_from="legacy_error"),
}


class DraftCrash(Exception):
    """The malformed-crashes-draft defect's unhandled payload error: the Draft answers 500."""


class StalePreflight:
    """The stale-preflight defect: the first failed preflight is kept and answered from then on."""

    def __init__(self, rules: AdapterRules) -> None:
        self._rules = rules
        self._lock = threading.Lock()
        self._failed: PreflightStatus | None = None

    def __call__(
        self, session: HttpSession, pin: Pin, enabled: bool, base_url: str
    ) -> PreflightStatus:
        with self._lock:
            failed = self._failed
        if failed is not None and enabled:
            return failed
        status = run_preflight(session, pin, enabled, base_url, self._rules)
        if enabled and not status.ready:
            with self._lock:
                self._failed = self._failed or status
        return status


class Deviation:
    """What one consumer defect changes in the reference consumer (`none`: nothing)."""

    def __init__(self, defect: ConsumerDefect, stopped: threading.Event) -> None:
        self.defect = defect
        self.rules = _RULES.get(defect, AS_SHIPPED)
        self.preflight: PreflightRunner = (
            StalePreflight(self.rules)
            if defect is ConsumerDefect.STALE_PREFLIGHT
            else lambda s, p, enabled, base_url: run_preflight(s, p, enabled, base_url, self.rules)
        )
        self._stopped = stopped

    @property
    def blocks_draft(self) -> bool:
        """draft-blocks: a Draft whose enrichment did not apply is not answered."""
        return self.defect is ConsumerDefect.DRAFT_BLOCKS

    def settings(self, settings: ConsumerSettings) -> ConsumerSettings:
        """The settings a call runs with, after the defect (read fresh per call either way)."""
        if self.defect is ConsumerDefect.NO_CLIENT_TIMEOUT:
            return dataclasses.replace(settings, timeout_ms=None)
        if self.defect is ConsumerDefect.TIMEOUT_FAR_ABOVE_PIN:
            return dataclasses.replace(settings, timeout_ms=TIMEOUT_MS_MAX)
        if self.defect is ConsumerDefect.DISABLED_FLAG_IGNORED:
            return dataclasses.replace(settings, enabled=True)
        return settings

    def enrich(self, attempt: Callable[[], EnrichmentResult]) -> EnrichmentResult:
        """Run the adapter call (again and again under unbounded-retries), then apply the defect."""
        result = attempt()
        if self.defect is ConsumerDefect.UNBOUNDED_RETRIES:
            while _retryable(result) and not self._stopped.wait(RETRY_DELAY_S):
                result = attempt()
        return self.outcome(result)

    def outcome(self, result: EnrichmentResult) -> EnrichmentResult:
        """What the Draft makes of the adapter's result; raises DraftCrash under malformed-crashes-draft."""
        reason = result.fallback_reason
        if result.applied or reason is None:
            return result
        defect = self.defect
        if (
            defect is ConsumerDefect.MALFORMED_CRASHES_DRAFT
            and reason == FallbackReason.MALFORMED_PAYLOAD
        ):
            raise DraftCrash(f"unhandled MemoryKernel payload error: {result.message}")
        if (
            defect is ConsumerDefect.EVERY_FAILURE_OFFLINE
            and reason != FallbackReason.FEATURE_DISABLED
        ):
            return dataclasses.replace(result, fallback_reason=FallbackReason.OFFLINE.value)
        if defect is ConsumerDefect.TYPED_ERROR_AS_EMPTY_SUCCESS and result.machine_error_code:
            return dataclasses.replace(
                result,
                message="MemoryKernel returned no actionable context items",
                fallback_reason=FallbackReason.EMPTY_CONTEXT.value,
                machine_error_code=None,
            )
        if (
            defect is ConsumerDefect.EMPTY_CONTEXT_APPLIED
            and reason == FallbackReason.EMPTY_CONTEXT
        ):
            return dataclasses.replace(
                result,
                applied=True,
                status="applied",
                message="MemoryKernel enrichment applied",
                fallback_reason=None,
                enrichment_text="",
            )
        return result


def _retryable(result: EnrichmentResult) -> bool:
    return not result.applied and result.fallback_reason != FallbackReason.FEATURE_DISABLED
