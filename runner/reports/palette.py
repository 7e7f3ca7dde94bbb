"""Colours of sample statuses, fixed so the same fallback reason looks the same on every chart."""

from __future__ import annotations

import hashlib

from runner.contract import FallbackReason

ENRICHED = "enriched"
NOT_ANSWERED = "not answered"

STATUS_COLOURS: dict[str, str] = {
    ENRICHED: "#3a9e4f",
    NOT_ANSWERED: "#d62728",
    FallbackReason.FEATURE_DISABLED.value: "#8c8c8c",
    FallbackReason.OFFLINE.value: "#4e79a7",
    FallbackReason.TIMEOUT.value: "#f28e2b",
    FallbackReason.MALFORMED_PAYLOAD.value: "#b07aa1",
    FallbackReason.VERSION_MISMATCH.value: "#9c755f",
    FallbackReason.SCHEMA_UNAVAILABLE.value: "#2ca3a0",
    FallbackReason.DEGRADED.value: "#d4b21f",
    FallbackReason.NON_2XX.value: "#ff7f9f",
    FallbackReason.NETWORK_ERROR.value: "#1f3f6e",
    FallbackReason.QUERY_ERROR.value: "#8a3f8f",
    FallbackReason.EMPTY_CONTEXT.value: "#a6a614",
    FallbackReason.UNKNOWN.value: "#5c5c5c",
    FallbackReason.VALIDATION_ERROR.value: "#e377c2",
    FallbackReason.CONTEXT_NOT_FOUND.value: "#17a5b8",
    FallbackReason.WRITE_CONFLICT.value: "#7fa7d9",
}
_EXTRA = ("#6b4c9a", "#c17d11", "#3d7f6e", "#a33d3d", "#556b2f", "#7a5c3e")


def status_colour(status: str) -> str:
    """The colour of a status; unknown statuses get a stable colour from a small extra palette."""
    known = STATUS_COLOURS.get(status)
    if known is not None:
        return known
    digest = hashlib.sha256(status.encode("utf-8")).digest()
    return _EXTRA[digest[0] % len(_EXTRA)]
