"""Draft probes: ask a Draft consumer for a reply and read what its enrichment did."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from runner.tls import shared_ssl_context

# Connections the probe may hold: one per Draft in flight (the sampler's MAX_SLOTS) and then
# some. Every one stays pooled: with fewer keep-alive slots than connections, httpcore 1.0's
# pool closes a "surplus" idle connection it has just handed to a waiting thread, which then
# reads from a closed socket (`ReadError: [Errno 9] Bad file descriptor`, encode/httpcore#1110);
# slow faults (hang, a schema restart) hold enough Drafts in flight to meet it.
PROBE_CONNECTIONS = 128
TICKET = "Customer cannot sync the desktop client after the update; asks whether to reinstall."


@dataclass(frozen=True)
class DraftOutcome:
    """One Draft request as the Draft flow's user would see it."""

    http_status: int | None
    ok: bool
    applied: bool
    fallback_reason: str | None
    machine_error_code: str | None
    preflight_status: str | None
    latency_ms: float
    error: str | None = None
    message: str | None = None
    # From the Draft answer's enrichment.preflight: where the consumer called MemoryKernel and
    # which pin it carries (`v0.4.0 service.v3/api.v1`), when it says.
    base_url: str | None = None
    consumer_pin: str | None = None


class Probe(Protocol):
    """Something that produces one Draft and reports how it went."""

    def draft(self) -> DraftOutcome: ...

    def close(self) -> None: ...


def outcome_from_response(status: int, body: bytes, latency_ms: float) -> DraftOutcome:
    """Read AssistSupport's Draft answer: `{"draft": ..., "enrichment": {...}}`."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return DraftOutcome(
            status, False, False, None, None, None, latency_ms, "answer is not a JSON object"
        )
    draft = data.get("draft")
    enrichment: dict[str, Any] = _object(data.get("enrichment"))
    preflight: dict[str, Any] = _object(enrichment.get("preflight"))
    ok = status == 200 and isinstance(draft, str) and bool(draft.strip())
    return DraftOutcome(
        http_status=status,
        ok=ok,
        applied=enrichment.get("applied") is True,
        fallback_reason=_str_or_none(
            enrichment.get("fallback_reason") or data.get("fallback_reason")
        ),
        machine_error_code=_str_or_none(enrichment.get("machine_error_code")),
        preflight_status=_str_or_none(preflight.get("status")),
        latency_ms=latency_ms,
        error=None if ok else f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}",
        message=None
        if enrichment.get("applied") is True
        else _str_or_none(enrichment.get("message")),
        base_url=_str_or_none(preflight.get("base_url")),
        consumer_pin=_pin_of(preflight),
    )


def _pin_of(preflight: dict[str, Any]) -> str | None:
    service = preflight.get("expected_service_contract_version")
    api = preflight.get("expected_api_contract_version")
    if not isinstance(service, str) or not isinstance(api, str):
        return None
    tag = preflight.get("release_tag")
    return f"{tag} {service}/{api}" if isinstance(tag, str) else f"{service}/{api}"


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


class HttpDraftProbe:
    """POSTs `{"ticket": ...}` to a Draft endpoint (the reference consumer's `/v1/draft`, or yours)."""

    def __init__(self, draft_url: str, timeout_s: float, ticket: str = TICKET) -> None:
        self._url = draft_url
        self._body = json.dumps({"ticket": ticket}).encode()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(
                max_connections=PROBE_CONNECTIONS, max_keepalive_connections=PROBE_CONNECTIONS
            ),
            verify=shared_ssl_context(),
        )

    def draft(self) -> DraftOutcome:
        started = time.perf_counter()
        try:
            response = self._client.post(
                self._url, content=self._body, headers={"content-type": "application/json"}
            )
            body = response.content
        except httpx.HTTPError as exc:
            latency = (time.perf_counter() - started) * 1000
            return DraftOutcome(
                None, False, False, None, None, None, latency, f"{type(exc).__name__}: {exc}"
            )
        latency = (time.perf_counter() - started) * 1000
        return outcome_from_response(response.status_code, body, latency)

    def close(self) -> None:
        self._client.close()


class CommandProbe:
    """Runs a command that prints the Draft answer as JSON (`{"draft", "enrichment"}`); exit 0 means answered.

    Only used when the command line allows it explicitly (`--allow-command-probe`).
    """

    def __init__(
        self,
        command: str,
        timeout_s: float,
        env: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        """`env`: the environment of each call, read fresh per Draft (default: this process's)."""
        self._argv = shlex.split(command)
        self._timeout_s = timeout_s
        self._env = env

    def draft(self) -> DraftOutcome:
        started = time.perf_counter()
        env = dict(self._env()) if self._env is not None else None
        try:
            done = subprocess.run(
                self._argv,
                capture_output=True,
                timeout=self._timeout_s,
                check=False,
                shell=False,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            latency = (time.perf_counter() - started) * 1000
            return DraftOutcome(
                None, False, False, None, None, None, latency, f"{type(exc).__name__}: {exc}"
            )
        latency = (time.perf_counter() - started) * 1000
        return outcome_from_response(200 if done.returncode == 0 else 500, done.stdout, latency)

    def close(self) -> None:
        return None


class RecordingProbe:
    """Another probe whose every outcome is also appended to `outcomes` (thread-safe append)."""

    def __init__(self, probe: Probe, outcomes: list[DraftOutcome]) -> None:
        self._probe = probe
        self._outcomes = outcomes

    def draft(self) -> DraftOutcome:
        outcome = self._probe.draft()
        self._outcomes.append(outcome)
        return outcome

    def close(self) -> None:
        self._probe.close()
