"""Seed a MemoryKernel with the support policy AssistSupport's ask needs, through its public API.

AssistSupport asks as actor `support_agent`, action `resolve`, resource `support_ticket`; with no
matching constraint the answer is `inconclusive` with no selected items, and the consumer treats
that as enrichment without evidence. `seed_policy` writes one allow constraint under a fixed
memory id (and a decision summary for recall), so running it twice, or against a service seeded
earlier, is harmless: the service's 409 `write_conflict` means "already there". It speaks only
the documented HTTP contract, so it works against users' real MemoryKernel images as well.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from runner.errors import EnvironmentProblem

logger = logging.getLogger(__name__)

SUPPORT_ACTOR = "support_agent"
SUPPORT_ACTION = "resolve"
SUPPORT_RESOURCE = "support_ticket"

# Fixed ULIDs (Crockford base32; MemoryKernel rejects memory ids that are not ULIDs).
POLICY_MEMORY_ID = "01JMKDR1FT5EED0C0NSTRA1NT0"
DECISION_MEMORY_ID = "01JMKDR1FT5EED0DEC1S10N000"

_PROVENANCE: dict[str, Any] = {
    "memory_id": None,
    "version": 1,
    "writer": "mkdrill",
    "justification": "drill steady-state seed",
    "source_uri": "file:///mkdrill/seed-policy.md",
    "source_hash": None,
    "evidence": [],
    "confidence": 0.9,
    "truth_status": "asserted",
    "authority": "authoritative",
    "created_at": None,
    "effective_at": None,
    "supersedes": [],
    "contradicts": [],
}

POLICY_CONSTRAINT: dict[str, Any] = {
    **_PROVENANCE,
    "actor": SUPPORT_ACTOR,
    "action": SUPPORT_ACTION,
    "resource": SUPPORT_RESOURCE,
    "effect": "allow",
    "note": "Support agents may resolve support tickets using the knowledge base.",
    "memory_id": POLICY_MEMORY_ID,
}

DECISION_SUMMARY: dict[str, Any] = {
    **_PROVENANCE,
    "record_type": "decision",
    "summary": "Decision: support tickets are resolved with knowledge-base citations",
    "memory_id": DECISION_MEMORY_ID,
}

# The probe ask carries `as_of` (contract §3.4: without it v0.3.2/v0.4.0 answer 422).
PROBE_ASK: dict[str, Any] = {
    "text": "Can a support agent resolve this ticket?",
    "actor": SUPPORT_ACTOR,
    "action": SUPPORT_ACTION,
    "resource": SUPPORT_RESOURCE,
    "as_of": None,
}


def seed_policy(base_url: str, timeout_s: float = 5.0) -> None:
    """Write the support policy (idempotent) and check an ask now selects it."""
    base = base_url.rstrip("/")
    try:
        with httpx.Client(base_url=base, timeout=timeout_s) as client:
            _write(client, base, "/v1/memory/add/constraint", POLICY_CONSTRAINT)
            _write(client, base, "/v1/memory/add/summary", DECISION_SUMMARY)
            _check_ask(client, base)
    except httpx.TransportError as exc:
        raise EnvironmentProblem(
            f"seeding MemoryKernel at {base} failed: {type(exc).__name__}: {exc or 'no detail'}; "
            "is the service running and reachable?"
        ) from exc


def _write(client: httpx.Client, base: str, path: str, body: dict[str, Any]) -> None:
    response = client.post(path, json=body)
    if response.status_code == 409 and _error_code(response) == "write_conflict":
        logger.debug("%s%s: %s already seeded", base, path, body["memory_id"])
        return
    if response.status_code != 200:
        raise EnvironmentProblem(
            f"seeding MemoryKernel at {base}{path} failed: HTTP {response.status_code} "
            f"{_error_code(response) or ''} {response.text[:300]}".rstrip()
        )
    logger.info("seeded %s%s memory_id=%s", base, path, body["memory_id"])


def _check_ask(client: httpx.Client, base: str) -> None:
    response = client.post("/v1/query/ask", json=PROBE_ASK)
    selected: list[Any] = []
    if response.status_code == 200:
        try:
            selected = response.json()["data"]["selected_items"]
        except (ValueError, KeyError, TypeError):
            selected = []
    if not selected:
        raise EnvironmentProblem(
            f"MemoryKernel at {base} was seeded but its ask selects nothing "
            f"(HTTP {response.status_code}: {response.text[:300]}); check the database it serves"
        )


def _error_code(response: httpx.Response) -> str | None:
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None
