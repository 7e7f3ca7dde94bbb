"""Reference AssistSupport Draft consumer: AssistSupport's MemoryKernel adapter behind HTTP.

The adapter logic (env settings, preflight, enrichment) is a faithful copy of
`src-tauri/src/commands/memory_kernel.rs` and the `useMemoryKernelEnrichment` hook (contract §3);
it lives in `preflight` and `enrichment`. This module adds the Draft itself and the server.

Routes: `POST /v1/draft`, `GET /v1/preflight`, `GET /v1/health`, `GET /v1/pin`,
`GET|POST /v1/admin/env` (run-time env overrides; env is read fresh on every call, as in the app).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Mapping
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import Any

from runner.backends.admin_token import ADMIN_TOKEN_ENV, token_matches
from runner.consumers.defects import ConsumerDefect
from runner.errors import DefinitionError
from runner.http11.server import (
    BackgroundServer,
    Exchange,
    Request,
    Response,
    ServerOptions,
    json_response,
    serve_until_signalled,
)
from runner.pins import Pin, load_pin
from runner.reference.assistsupport import serde_json
from runner.reference.assistsupport.client import HttpSession
from runner.reference.assistsupport.defects import Deviation, DraftCrash
from runner.reference.assistsupport.enrichment import (
    AdapterError,
    AskBody,
    EnrichmentResult,
    build_enrichment_text,
    query_ask,
)
from runner.reference.assistsupport.preflight import (
    ADAPTER_ENV_NAMES,
    ConsumerSettings,
    PreflightStatus,
    read_settings,
    run_preflight,
)

__all__ = [
    "ADAPTER_ENV_NAMES",
    "AdapterError",
    "AskBody",
    "AssistSupportServer",
    "ConsumerDefect",
    "EnrichmentResult",
    "PreflightStatus",
    "adapter_error_enrichment",
    "adapter_error_outcome",
    "build_draft",
    "build_enrichment_text",
    "hook_outcome",
    "query_ask",
    "read_settings",
    "run_preflight",
    "serve",
]

ENRICHMENT_SECTION_HEADING = "MemoryKernel Policy Context"
_ENV_NAME = re.compile(r"ASSISTSUPPORT_[A-Z0-9_]+")
# The hook's hints (useMemoryKernelEnrichment.ts); any other reason gets the generic one.
_FALLBACK_HINTS = {
    "offline": "MemoryKernel service is offline. Start the local service and retry.",
    "timeout": "MemoryKernel query timed out. Retry or increase the integration timeout.",
    "version-mismatch": (
        "MemoryKernel contract mismatch. Align pin/manifest versions before retrying."
    ),
    "schema-unavailable": "MemoryKernel schema is unavailable. Run migration checks and retry.",
    "malformed-payload": (
        "MemoryKernel returned malformed payload. Verify producer contract alignment."
    ),
    "non-2xx": (
        "MemoryKernel returned a non-success status. Inspect producer logs and handoff payload."
    ),
    "network-error": "MemoryKernel network call failed. Validate localhost connectivity and retry.",
    "query-error": "MemoryKernel query failed. Inspect machine error code and provider logs.",
    "degraded": "MemoryKernel is degraded. Continue in fallback mode until preflight recovers.",
    "feature-disabled": "MemoryKernel enrichment is disabled by configuration.",
    "adapter-error": "MemoryKernel adapter encountered an error. Check consumer logs and retry.",
}
_GENERIC_HINT = "MemoryKernel fallback is active. Draft flow remains available."


def _join_notes(existing: str | None, enrichment_text: str) -> str:
    trimmed = serde_json.rust_trim(existing or "")
    section = f"{ENRICHMENT_SECTION_HEADING}\n{enrichment_text}"
    return f"{trimmed}\n\n{section}" if trimmed else section


def _fallback_message(base: str, reason: str | None, machine_error_code: str | None) -> str:
    hint = _FALLBACK_HINTS.get(serde_json.ascii_lower((reason or "").strip()), _GENERIC_HINT)
    code = f" | code={machine_error_code}" if machine_error_code else ""
    return f"{base.strip()}{code} | {hint}"


def hook_outcome(result: EnrichmentResult, notes: str | None = None) -> dict[str, Any]:
    """What `enrichDiagnosticNotes` hands the Draft tab (`MemoryKernelEnrichmentOutcome`)."""
    if result.applied and result.enrichment_text:
        return {
            "diagnosticNotes": _join_notes(notes, result.enrichment_text),
            "enrichmentApplied": True,
            "status": result.status,
            "message": result.message,
            "fallbackReason": None,
            "machineErrorCode": None,
        }
    return {
        "diagnosticNotes": notes if notes and notes.strip() else None,
        "enrichmentApplied": False,
        "status": result.status,
        "message": _fallback_message(
            result.message, result.fallback_reason, result.machine_error_code
        ),
        "fallbackReason": result.fallback_reason,
        "machineErrorCode": result.machine_error_code,
    }


def adapter_error_outcome(error: Exception, notes: str | None = None) -> dict[str, Any]:
    """The hook's `catch` branch: the command's Err becomes an `adapter-error` fallback outcome."""
    return {
        "diagnosticNotes": notes if notes and notes.strip() else None,
        "enrichmentApplied": False,
        "status": "fallback",
        "message": _fallback_message(
            f"MemoryKernel enrichment unavailable: {error}", "adapter-error", None
        ),
        "fallbackReason": "adapter-error",
        "machineErrorCode": None,
    }


def adapter_error_enrichment(outcome: dict[str, Any]) -> dict[str, Any]:
    """The Draft answer's `enrichment` when the command returned Err: no command result exists, so
    it carries the hook's outcome in the result's field names (no preflight ran)."""
    return {
        "applied": False,
        "status": "fallback",
        "message": outcome["message"],
        "fallback_reason": outcome["fallbackReason"],
        "machine_error_code": None,
        "context_package_id": None,
        "enrichment_text": None,
        "preflight": None,
    }


def build_draft(ticket: str, enrichment: EnrichmentResult | None, notes: str | None = None) -> str:
    """A deterministic reply for the ticket, then any notes under `## Diagnostic Notes`.

    When enrichment applied, the notes are the user's notes (if any), a blank line, then
    `MemoryKernel Policy Context` and the enrichment text, exactly as the hook joins them.
    """
    lines = [line.strip() for line in ticket.splitlines() if line.strip()]
    subject = lines[0] if lines else ticket.strip()
    if len(subject) > 120:
        subject = subject[:117] + "..."
    draft = (
        "Hi,\n\n"
        f"Thanks for reaching out about: {subject}\n\n"
        "We have reviewed your request and will follow up with the next steps shortly.\n\n"
        "Best regards,\nSupport"
    )
    if enrichment is not None and enrichment.applied and enrichment.enrichment_text:
        diagnostic_notes: str | None = _join_notes(notes, enrichment.enrichment_text)
    else:
        diagnostic_notes = notes if notes and notes.strip() else None
    if diagnostic_notes:
        draft += f"\n\n## Diagnostic Notes\n{diagnostic_notes}"
    return draft


class _ConsumerApp:
    """State shared by the handler threads of one consumer server."""

    def __init__(
        self,
        pin: Pin,
        ask_body: AskBody,
        defect: ConsumerDefect,
        env: Mapping[str, str] | None,
        admin_token: str = "",
    ) -> None:
        self.pin = pin
        self.ask_body = ask_body
        self.defect = defect
        self.admin_token = admin_token
        self.stopped = threading.Event()
        self.deviation = Deviation(defect, self.stopped)
        self._base_env = dict(env) if env is not None else None
        self._overrides: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._sessions: set[HttpSession] = set()
        self._stopping = False

    def env(self) -> dict[str, str]:
        """The adapter's environment now: overrides over the given mapping (or os.environ)."""
        base: Mapping[str, str] = os.environ if self._base_env is None else self._base_env
        with self._lock:
            overrides = dict(self._overrides)
        names = set(ADAPTER_ENV_NAMES) | set(overrides)
        merged = {name: base[name] for name in names if name in base}
        for name, value in overrides.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        return merged

    def set_overrides(self, changes: Mapping[str, str | None]) -> None:
        """Apply env overrides (None unsets a name) for every later call."""
        with self._lock:
            self._overrides.update(changes)

    def settings(self) -> ConsumerSettings:
        """Settings read fresh, as every command call does (a defect may change them)."""
        return self.deviation.settings(read_settings(self.pin, self.env()))

    def open_session(self, settings: ConsumerSettings) -> HttpSession:
        """A per-call client, registered so stop() can break its requests."""
        session = HttpSession(settings.timeout_ms)
        with self._lock:
            self._sessions.add(session)
            stopping = self._stopping
        if stopping:
            session.abort()
        return session

    def close_session(self, session: HttpSession) -> None:
        """Close a per-call client."""
        with self._lock:
            self._sessions.discard(session)
        session.close()

    def abort_all(self) -> None:
        """Break every outbound request in flight (server stopping)."""
        with self._lock:
            self._stopping = True
            sessions = list(self._sessions)
        self.stopped.set()
        for session in sessions:
            session.abort()


_IDLE_CONNECTION_S = 300.0


class _ConsumerRoutes:
    """HTTP routes of the reference consumer: one request in, one Response out."""

    def __init__(self, app: _ConsumerApp) -> None:
        self.app = app

    def __call__(self, request: Request, exchange: Exchange) -> Response:
        path = request.path
        body = request.body or b""
        if request.method == "GET":
            if path == "/v1/health":
                return json_response(200, {"status": "ok", "defect": self.app.defect.value})
            if path == "/v1/preflight":
                return self._preflight()
            if path == "/v1/pin":
                return json_response(200, self.app.pin.assistsupport_view())
            if path == "/v1/admin/env":
                return self._admin_refusal(request) or self._env_state(200)
            if path == "/v1/draft":
                return self._method_not_allowed(request)
        elif request.method == "POST":
            if path == "/v1/draft":
                return self._draft(body)
            if path == "/v1/admin/env":
                return self._admin_refusal(request) or self._set_env(body)
            if path in ("/v1/health", "/v1/preflight", "/v1/pin"):
                return self._method_not_allowed(request)
        else:
            return self._method_not_allowed(request)
        return json_response(404, {"error": f"no route {path}"})

    def _admin_refusal(self, request: Request) -> Response | None:
        """The admin route repoints the consumer: only with the environment's token (401 otherwise)."""
        if not self.app.admin_token:
            return json_response(
                403, {"error": f"admin route off: start the consumer with {ADMIN_TOKEN_ENV} set"}
            )
        if token_matches(self.app.admin_token, request.headers.get("Authorization")):
            return None
        return json_response(
            401,
            {"error": "admin route needs the environment's token: Authorization: Bearer <token>"},
        )

    @staticmethod
    def _method_not_allowed(request: Request) -> Response:
        return json_response(
            405, {"error": f"method {request.method} not allowed on {request.target}"}
        )

    def _preflight(self) -> Response:
        app = self.app
        settings = app.settings()
        session = app.open_session(settings)
        try:
            status = app.deviation.preflight(session, app.pin, settings.enabled, settings.base_url)
        finally:
            app.close_session(session)
        return json_response(200, {**status.to_dict(), "ask_body": app.ask_body.value})

    def _draft(self, raw: bytes) -> Response:
        started = time.perf_counter()
        app = self.app
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        ticket = request.get("ticket") if isinstance(request, dict) else None
        notes = request.get("notes") if isinstance(request, dict) else None
        if not isinstance(ticket, str) or not (notes is None or isinstance(notes, str)):
            return json_response(
                400,
                {
                    "error": 'body must be a JSON object {"ticket": "<text>"} '
                    'with an optional string "notes"'
                },
            )
        try:
            ticket.encode("utf-8")
        except UnicodeEncodeError:
            return json_response(
                400, {"error": "ticket must be valid Unicode text (no lone surrogates)"}
            )
        settings = app.settings()
        session = app.open_session(settings)
        deviation = app.deviation
        try:
            result: EnrichmentResult | None = deviation.enrich(
                lambda: query_ask(
                    ticket,
                    app.pin,
                    settings,
                    app.ask_body,
                    session=session,
                    rules=deviation.rules,
                    preflight=deviation.preflight,
                )
            )
            assert result is not None
            enrichment = result.to_dict()
            outcome = hook_outcome(result, notes)
        except DraftCrash as exc:
            return json_response(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                {"error": f"Draft failed: {exc}", "defect": app.defect.value},
            )
        except AdapterError as exc:
            # The command returned Err: the hook falls back with `adapter-error` and the Draft goes on.
            result = None
            outcome = adapter_error_outcome(exc, notes)
            enrichment = adapter_error_enrichment(outcome)
        finally:
            app.close_session(session)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        applied = result is not None and result.applied
        if deviation.blocks_draft and not applied:
            return json_response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                {
                    "error": f"Draft blocked: MemoryKernel enrichment failed: {enrichment['message']}",
                    "fallback_reason": enrichment["fallback_reason"],
                    "enrichment": enrichment,
                    "elapsed_ms": elapsed_ms,
                    "ask_body": app.ask_body.value,
                    "defect": app.defect.value,
                },
            )
        return json_response(
            200,
            {
                "draft": build_draft(ticket, result, notes),
                "enrichment": enrichment,
                "outcome": outcome,
                "elapsed_ms": elapsed_ms,
                "ask_body": app.ask_body.value,
            },
        )

    def _set_env(self, raw: bytes) -> Response:
        try:
            changes = json.loads(raw)
        except ValueError:
            changes = None
        if not isinstance(changes, dict):
            return json_response(
                400, {"error": "body must be a JSON object of ASSISTSUPPORT_* names"}
            )
        for name, value in changes.items():
            if not _ENV_NAME.fullmatch(name):
                return json_response(
                    400, {"error": f"{name}: only ASSISTSUPPORT_* variables can be set"}
                )
            if value is not None and not isinstance(value, str):
                return json_response(
                    400, {"error": f"{name}: value must be a string or null (to unset)"}
                )
        self.app.set_overrides(changes)
        return self._env_state(200)

    def _env_state(self, status: int) -> Response:
        app = self.app
        env = app.env()
        settings = app.settings()
        return json_response(
            status,
            {
                "env": {name: env.get(name) for name in sorted(set(ADAPTER_ENV_NAMES) | set(env))},
                "settings": {
                    "enabled": settings.enabled,
                    "base_url": settings.base_url,
                    "timeout_ms": settings.timeout_ms,
                },
            },
        )


def _mode(value: str, enum: type[StrEnum], what: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        choices = "|".join(member.value for member in enum)
        raise DefinitionError(f"{what}: must be one of {choices} (got {value!r})") from None


class AssistSupportServer:
    """The reference consumer in-process: context manager with `.url`, `.port`, start(), stop().

    `env`, when given, replaces os.environ as the adapter's environment (hermetic tests);
    `POST /v1/admin/env` layers overrides on top either way, for a caller holding `admin_token`
    (default: the MKDRILL_ADMIN_TOKEN variable; empty turns the admin route off).
    """

    def __init__(
        self,
        pin: Pin,
        host: str = "127.0.0.1",
        port: int = 0,
        ask_body: str = "patched",
        defect: str = "none",
        env: Mapping[str, str] | None = None,
        admin_token: str | None = None,
    ) -> None:
        self.pin = pin
        self.ask_body: AskBody = _mode(ask_body, AskBody, "ask_body")
        self.defect: ConsumerDefect = _mode(defect, ConsumerDefect, "defect")
        token = os.environ.get(ADMIN_TOKEN_ENV, "") if admin_token is None else admin_token
        self._app = _ConsumerApp(pin, self.ask_body, self.defect, env, token)
        self._server = BackgroundServer(
            "assistsupport",
            host,
            port,
            _ConsumerRoutes(self._app),
            ServerOptions(idle_timeout_s=_IDLE_CONNECTION_S, backlog=128),
            on_stop=self._app.abort_all,
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:40123`."""
        return self._server.url

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.port

    def set_env(self, changes: Mapping[str, str | None]) -> None:
        """Same as `POST /v1/admin/env`, in-process."""
        self._app.set_overrides(changes)

    def start(self) -> None:
        """Bind and serve; EnvironmentProblem if the port is taken."""
        self._server.start()

    def stop(self) -> None:
        """Break outbound requests, close connections, join threads."""
        self._server.stop()

    def __enter__(self) -> AssistSupportServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(pin: Path, host: str, port: int, ask_body: str, defect: str = "none") -> None:
    """`mkdrill serve assistsupport`: serve until SIGTERM/SIGINT, after one ready line on stdout."""
    loaded = load_pin(pin)
    server = AssistSupportServer(loaded, host=host, port=port, ask_body=ask_body, defect=defect)
    shown = "" if server.defect is ConsumerDefect.NONE else f", defect {server.defect.value}"
    serve_until_signalled(
        server,
        lambda: (
            f"assistsupport ({server.ask_body.value}, pin {loaded.release_tag}{shown}) "
            f"listening on {server.url}"
        ),
    )
