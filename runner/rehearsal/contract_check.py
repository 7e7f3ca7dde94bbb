"""Re-run contract and CI verification against what is deployed: the checklist's third step.

What AssistSupport's gates check, done against the live environment in a second or two:

- CI, pin sync: the consumer's deployed pin, matrix and mirrored manifest pass AssistSupport's
  pin-sync check (manifest SHA-256 equal to the pin's, fields equal, error_code_enum set-equal to
  the contract's ten codes, the matrix's tag/SHA lines) — `runner.trio.load_trio`.
- Contract, on MemoryKernel directly: health names the pin's contract versions; schema-version
  answers enveloped; an ask with `as_of` answers a ContextPackage; an unknown context package
  answers the typed 404 with the envelope of its contract version (`legacy_error` only in v2,
  never `api_contract_version`).
- CI, deterministic Draft flow: through the consumer, 5 enriched Drafts in a row (as a drill's
  steady state), every Draft answered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from runner.contract import RELEASES
from runner.errors import DrillError
from runner.probes.draft import DraftOutcome
from runner.probes.seed import PROBE_ASK
from runner.rehearsal.record import ContractCheckResult, ContractRun
from runner.tls import shared_ssl_context
from runner.trio import PinTrio, load_trio

CALL_TIMEOUT_S = 2.0
DRAFTS = 5  # enriched in a row, as every drill's steady state
MAX_DRAFTS = 25
MISSING_PACKAGE = "cpkg_2000-01-01T00:00:00Z_mkdrill-missing"


def run_contract_suite(
    memorykernel_url: str,
    deployed: PinTrio,
    draft: Callable[[], DraftOutcome],
    started_s: float,
) -> ContractRun:
    """Run every check; the run passes when all do. `started_s`: incident time it began."""
    began = time.perf_counter()
    checks = [_pin_sync(deployed)]
    pin = deployed.pin
    expected = (pin.expected_service_contract_version, pin.expected_api_contract_version)
    base = memorykernel_url.rstrip("/")
    with httpx.Client(timeout=CALL_TIMEOUT_S, verify=shared_ssl_context()) as client:
        checks.append(_health(client, base, expected))
        checks.append(_schema(client, base, expected[0]))
        checks.append(_ask(client, base, expected[0]))
        checks.append(_error_envelope(client, base, expected[0]))
    checks.append(_drafts(draft))
    return ContractRun(
        started_s=started_s,
        duration_s=round(time.perf_counter() - began, 4),
        passed=all(c.passed for c in checks),
        target=f"{pin.release_tag} ({pin.expected_service_contract_version})",
        checks=checks,
    )


def _result(name: str, passed: bool, observed: str) -> ContractCheckResult:
    return ContractCheckResult(name=name, passed=passed, observed=observed)


def _pin_sync(deployed: PinTrio) -> ContractCheckResult:
    try:
        checked = load_trio(deployed.pin_path, deployed.manifest_path, deployed.matrix_path)
    except DrillError as exc:
        return _result("ci_pin_sync", False, str(exc))
    return _result("ci_pin_sync", True, f"pin, matrix and manifest in sync: {checked.describe()}")


def _call(client: httpx.Client, method: str, url: str, body: object = None) -> tuple[int, Any, str]:
    """(status, parsed JSON or None, error text) of one call; status 0 when nothing answered."""
    try:
        response = (
            client.request(method, url, json=body)
            if body is not None
            else client.request(method, url)
        )
    except httpx.HTTPError as exc:
        return 0, None, f"{type(exc).__name__}: {exc}"
    try:
        return response.status_code, json.loads(response.content), ""
    except ValueError:
        return response.status_code, None, f"not JSON: {response.content[:80]!r}"


def _health(client: httpx.Client, base: str, expected: tuple[str, str]) -> ContractCheckResult:
    status, data, error = _call(client, "GET", f"{base}/v1/health")
    if status != 200 or not isinstance(data, dict):
        return _result("health_contract", False, f"HTTP {status} {error}".strip())
    seen = (data.get("service_contract_version"), data.get("api_contract_version"))
    ok = seen == expected
    return _result(
        "health_contract",
        ok,
        f"health names {seen[0]}/{seen[1]}, the pin expects {expected[0]}/{expected[1]}",
    )


def _enveloped(data: object, service: str) -> bool:
    return (
        isinstance(data, dict)
        and data.get("service_contract_version") == service
        and "data" in data
    )


def _schema(client: httpx.Client, base: str, service: str) -> ContractCheckResult:
    status, data, error = _call(client, "POST", f"{base}/v1/db/schema-version")
    ok = status == 200 and _enveloped(data, service)
    inner = data.get("data") if isinstance(data, dict) else None
    shown = (
        f"current {inner.get('current_version')} target {inner.get('target_version')}"
        if isinstance(inner, dict)
        else error
    )
    return _result("schema_version", ok, f"HTTP {status}, {shown}")


def _ask(client: httpx.Client, base: str, service: str) -> ContractCheckResult:
    status, data, error = _call(client, "POST", f"{base}/v1/query/ask", PROBE_ASK)
    package = data.get("data") if isinstance(data, dict) else None
    answer = package.get("answer") if isinstance(package, dict) else None
    result = answer.get("result") if isinstance(answer, dict) else None
    ok = (
        status == 200
        and _enveloped(data, service)
        and isinstance(package, dict)
        and str(package.get("context_package_id", "")).startswith("cpkg_")
        and result in ("allow", "deny", "inconclusive")
        and isinstance(package.get("selected_items"), list)
    )
    observed = f"HTTP {status}, answer {result}" if status else error
    return _result("ask_context_package", ok, observed)


def _error_envelope(client: httpx.Client, base: str, service: str) -> ContractCheckResult:
    status, data, error = _call(client, "GET", f"{base}/v1/context/{MISSING_PACKAGE}")
    if not isinstance(data, dict):
        return _result("error_envelope", False, f"HTTP {status} {error}".strip())
    code = data.get("error", {}).get("code") if isinstance(data.get("error"), dict) else None
    keeps_legacy = any(
        r.keeps_legacy_error for r in RELEASES.values() if r.service_contract_version == service
    )
    problems = []
    if status != 404 or code != "context_package_not_found":
        problems.append(f"HTTP {status} code {code}, not 404 context_package_not_found")
    if data.get("service_contract_version") != service:
        problems.append(f"service_contract_version {data.get('service_contract_version')}")
    if ("legacy_error" in data) != keeps_legacy:
        problems.append(
            "legacy_error "
            + (
                "missing (service.v2 keeps it)"
                if keeps_legacy
                else "present (service.v3 removed it)"
            )
        )
    if "api_contract_version" in data:
        problems.append("api_contract_version in a non-2xx body")
    observed = "; ".join(problems) or f"404 context_package_not_found, {service} envelope"
    return _result("error_envelope", not problems, observed)


def _drafts(draft: Callable[[], DraftOutcome]) -> ContractCheckResult:
    """DRAFTS enriched Drafts in a row within MAX_DRAFTS, every one answered (the steady-state rule)."""
    streak = answered = made = 0
    reasons: dict[str, int] = {}
    while made < MAX_DRAFTS and streak < DRAFTS:
        outcome = draft()
        made += 1
        answered += outcome.ok
        streak = streak + 1 if outcome.ok and outcome.applied else 0
        if not outcome.applied:
            reason = outcome.fallback_reason or outcome.error or "not enriched"
            reasons[reason] = reasons.get(reason, 0) + 1
    observed = f"{streak} enriched in a row after {made} Drafts, {answered}/{made} answered"
    if reasons:
        observed += "; fallbacks: " + ", ".join(f"{r}×{n}" for r, n in sorted(reasons.items()))
    return _result("ci_draft_flow", streak >= DRAFTS and answered == made, observed)
