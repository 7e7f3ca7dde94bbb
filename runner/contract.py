"""Facts of the MemoryKernel service contract and AssistSupport's adapter, shared by every module."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

API_CONTRACT_VERSION = "api.v1"
INTEGRATION_BASELINE = "integration/v1"
LATEST_SCHEMA_VERSION = 2
DEFAULT_BASE_URL = "http://127.0.0.1:4010"
DEFAULT_TIMEOUT_MS = 2500
TIMEOUT_MS_MIN = 100
TIMEOUT_MS_MAX = 30000


@dataclass(frozen=True)
class Release:
    """One MemoryKernel release the reference service can impersonate."""

    tag: str
    commit_sha: str
    service_contract_version: str
    api_contract_version: str = API_CONTRACT_VERSION

    @property
    def keeps_legacy_error(self) -> bool:
        """service.v2 error bodies carry `legacy_error`; service.v3 removed it."""
        return self.service_contract_version == "service.v2"


RELEASES: dict[str, Release] = {
    "v0.3.2": Release("v0.3.2", "cf331449e1589581a5dcbb3adecd3e9ae4509277", "service.v2"),
    "v0.4.0": Release("v0.4.0", "7e4806a34b98e6c06ee33fa9f11499a975e7b922", "service.v3"),
}

# error.code -> HTTP status (contract §2.2). invalid_json follows the axum rejection status.
ERROR_CODE_STATUS: dict[str, int] = {
    "invalid_json": 400,
    "validation_error": 400,
    "context_package_not_found": 404,
    "write_conflict": 409,
    "schema_unavailable": 503,
    "migration_failed": 500,
    "write_failed": 500,
    "query_failed": 500,
    "context_lookup_failed": 500,
    "internal_error": 500,
}


class PreflightState(StrEnum):
    """`MemoryKernelPreflightStatus.status` values AssistSupport can return (contract §3.2)."""

    READY = "ready"
    DISABLED = "disabled"
    OFFLINE = "offline"
    SCHEMA_UNAVAILABLE = "schema-unavailable"
    VERSION_MISMATCH = "version-mismatch"
    MALFORMED_PAYLOAD = "malformed-payload"
    DEGRADED = "degraded"


class FallbackReason(StrEnum):
    """Every `fallback_reason` string a Draft can carry: the adapter's (contract §3.3) and the hook's.

    `adapter-error` comes from the frontend hook: when the adapter command returns an error (blank
    input, a client that cannot be built) the hook falls back with it and the Draft goes on.
    """

    FEATURE_DISABLED = "feature-disabled"
    OFFLINE = "offline"
    TIMEOUT = "timeout"
    MALFORMED_PAYLOAD = "malformed-payload"
    VERSION_MISMATCH = "version-mismatch"
    SCHEMA_UNAVAILABLE = "schema-unavailable"
    DEGRADED = "degraded"
    NON_2XX = "non-2xx"
    NETWORK_ERROR = "network-error"
    QUERY_ERROR = "query-error"
    EMPTY_CONTEXT = "empty-context"
    UNKNOWN = "unknown"
    VALIDATION_ERROR = "validation-error"
    CONTEXT_NOT_FOUND = "context-not-found"
    WRITE_CONFLICT = "write-conflict"
    ADAPTER_ERROR = "adapter-error"
