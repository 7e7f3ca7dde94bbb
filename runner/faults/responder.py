"""An HTTP fault responder drills put in front of MemoryKernel: forward, rewrite or break answers.

A mode spec is one entry or several separated by commas. An entry is `MODE` (every route) or
`MODE@/route` (that path only; other paths use the plain entry, else passthrough):

    passthrough          forward verbatim
    junk-page            200 text/html that is not JSON, on every route
    wrong-shape          200 JSON without the envelope keys
    degraded             forward, but health `data.status` becomes "degraded"
    empty-context        forward, but ask `data` loses `answer` and `selected_items`
    status:<code>        a plain untyped non-2xx (300..599) with a short text body
    typed:<code>[:<n>]   a typed error envelope (HTTP n, else the code's contract status, else 500)
    hang                 read the request, never answer (until the mode changes or the stop)
    truncate             declare Content-Length, send half the body, close
    stall                declare Content-Length, send half the body, then nothing (like hang)

Example: `hang@/v1/query/ask` hangs only the ask; `typed:query_failed@/v1/query/ask,degraded`.
Admin routes (never forwarded): `GET|POST /__responder/mode`, `GET /__responder/requests`.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from runner.contract import ERROR_CODE_STATUS
from runner.errors import DefinitionError
from runner.http11.client import ClientError, ClientSession
from runner.http11.server import (
    BackgroundServer,
    Exchange,
    Request,
    Response,
    ServerOptions,
    json_response,
    serve_until_signalled,
)
from runner.http11.wire import reason

logger = logging.getLogger(__name__)

MODE_KINDS = (
    "passthrough",
    "junk-page",
    "wrong-shape",
    "degraded",
    "empty-context",
    "status",
    "typed",
    "hang",
    "truncate",
    "stall",
)
_FORWARDING = frozenset({"passthrough", "degraded", "empty-context"})
_ADMIN_PREFIX = "/__responder/"
_FORWARD_TIMEOUT_S = 30.0
_IDLE_CONNECTION_S = 300.0
_HEALTH = "/v1/health"
_ASK = "/v1/query/ask"
_JUNK_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The upstream service is under maintenance.</p></body></html>"
)
_WRONG_SHAPE = {"status": "ok", "result": {"note": "no service_contract_version, no data"}}
_CANNED_BODY = {
    "service_contract_version": "service.v3",
    "api_contract_version": "api.v1",
    "data": {"status": "ok"},
}


@dataclass(frozen=True)
class FaultMode:
    """One parsed mode entry."""

    kind: str
    status: int | None = None
    code: str | None = None

    @property
    def text(self) -> str:
        """The entry as written in a spec."""
        if self.kind == "status":
            return f"status:{self.status}"
        if self.kind == "typed":
            return f"typed:{self.code}:{self.status}"
        return self.kind


@dataclass(frozen=True)
class ModeSpec:
    """A whole spec: a default mode and per-route overrides."""

    default: FaultMode
    routes: tuple[tuple[str, FaultMode], ...]
    text: str

    def for_path(self, path: str) -> FaultMode:
        """The mode that applies to a request path."""
        for route, mode in self.routes:
            if route == path:
                return mode
        return self.default

    @property
    def needs_upstream(self) -> bool:
        """True when some entry forwards to MemoryKernel."""
        modes = [self.default, *(mode for _, mode in self.routes)]
        return any(mode.kind in _FORWARDING for mode in modes)


def _bad(spec: str, message: str) -> DefinitionError:
    return DefinitionError(
        f"responder mode {spec!r}: {message}; "
        f"modes: {', '.join(MODE_KINDS)} (optionally MODE@/route)"
    )


def _parse_entry(spec: str, entry: str) -> FaultMode:
    kind, _, argument = entry.partition(":")
    if kind not in MODE_KINDS:
        raise _bad(spec, f"unknown mode {kind!r}")
    if kind == "status":
        if not argument.isdigit() or not 300 <= int(argument) <= 599:
            raise _bad(spec, f"status needs a non-2xx HTTP code 300..599 (got {argument!r})")
        return FaultMode("status", status=int(argument))
    if kind == "typed":
        code, _, status_text = argument.partition(":")
        if not code:
            raise _bad(spec, "typed needs an error code, e.g. typed:query_failed")
        if status_text and (not status_text.isdigit() or not 400 <= int(status_text) <= 599):
            raise _bad(spec, f"typed status must be 400..599 (got {status_text!r})")
        status = int(status_text) if status_text else ERROR_CODE_STATUS.get(code, 500)
        return FaultMode("typed", status=status, code=code)
    if argument:
        raise _bad(spec, f"mode {kind!r} takes no argument")
    return FaultMode(kind)


def parse_mode(spec: str) -> ModeSpec:
    """Parse a mode spec; DefinitionError (one line) when it is not one."""
    default: FaultMode | None = None
    routes: list[tuple[str, FaultMode]] = []
    entries = [entry.strip() for entry in spec.split(",")]
    if not spec.strip() or any(not entry for entry in entries):
        raise _bad(spec, "empty entry")
    for entry in entries:
        mode_text, at, route = entry.partition("@")
        mode = _parse_entry(spec, mode_text.strip())
        if at:
            route = route.strip()
            if not route.startswith("/"):
                raise _bad(spec, f"route must be a path like /v1/query/ask (got {route!r})")
            routes.append((route, mode))
        elif default is not None:
            raise _bad(spec, "more than one entry without a route")
        else:
            default = mode
    return ModeSpec(default or FaultMode("passthrough"), tuple(routes), spec.strip())


@dataclass(frozen=True)
class RecordedRequest:
    """A request the responder saw and the mode it applied."""

    method: str
    path: str
    mode: str


class _ResponderApp:
    """State shared by the handler threads of one responder."""

    def __init__(
        self, upstream_url: str | None, spec: ModeSpec, service_version: str | None
    ) -> None:
        self.upstream_url = upstream_url.rstrip("/") if upstream_url else None
        self._spec = spec
        self._service_version = service_version
        self._learned_version: str | None = None
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._release = threading.Event()  # ends held (hang) requests: set on mode change and stop
        self._stopping = False
        self._sessions: set[ClientSession] = set()

    def check(self, spec: ModeSpec) -> None:
        if spec.needs_upstream and self.upstream_url is None:
            raise _bad(
                spec.text, "this mode forwards to MemoryKernel but no upstream URL was given"
            )

    @property
    def spec(self) -> ModeSpec:
        with self._lock:
            return self._spec

    def set_spec(self, spec: ModeSpec) -> None:
        self.check(spec)
        with self._lock:
            self._spec = spec
            self._learned_version = None  # the upstream may have been swapped meanwhile
            released, self._release = self._release, threading.Event()
        released.set()
        logger.info("responder mode is now %s", spec.text)

    def hold_event(self) -> threading.Event:
        with self._lock:
            return self._release

    def record(self, method: str, path: str, mode: FaultMode) -> None:
        with self._lock:
            self._requests.append(RecordedRequest(method, path, mode.text))

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            sessions = list(self._sessions)
            release = self._release
        release.set()
        for session in sessions:
            session.abort()

    def forward(
        self, method: str, path_and_query: str, body: bytes, content_type: str | None
    ) -> tuple[int, str, bytes] | None:
        """Forward to MemoryKernel: (status, content type, body), or None if unreachable."""
        assert self.upstream_url is not None
        upstream = urlsplit(self.upstream_url)
        host, port = upstream.hostname or "127.0.0.1", upstream.port or 80
        headers = [("host", upstream.netloc), ("accept", "*/*")]
        if content_type is not None:
            headers.append(("content-type", content_type))
        if body or method in ("POST", "PUT", "PATCH"):
            headers.append(("content-length", str(len(body))))
        session = ClientSession(_FORWARD_TIMEOUT_S)
        with self._lock:
            self._sessions.add(session)
            if self._stopping:
                session.abort()
        try:
            response = session.request(
                method, host, port, f"{upstream.path}{path_and_query}", headers, body or None
            )
            payload = response.read_body()
            return response.status, response.header("content-type") or "", payload
        except ClientError as exc:
            logger.info("responder: upstream %s unreachable: %s", self.upstream_url, exc)
            return None
        finally:
            with self._lock:
                self._sessions.discard(session)
            session.close()

    def service_version(self) -> str:
        """The service contract version for typed errors: given, else the upstream's, else v3."""
        if self._service_version is not None:
            return self._service_version
        if self._learned_version is not None:
            return self._learned_version
        if self.upstream_url is not None:
            answer = self.forward("GET", _HEALTH, b"", None)
            if answer is not None:
                try:
                    version = json.loads(answer[2]).get("service_contract_version")
                except (ValueError, AttributeError):
                    version = None
                if isinstance(version, str):
                    self._learned_version = version
                    return version
        return "service.v3"


def _rewrite_data(body: bytes, rewrite: Any) -> bytes:
    """Apply `rewrite(data)` to an envelope's `data` object; anything else passes unchanged."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        return body
    rewrite(document["data"])
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def _set_degraded(data: dict[str, Any]) -> None:
    data["status"] = "degraded"


def _strip_context(data: dict[str, Any]) -> None:
    data.pop("answer", None)
    data.pop("selected_items", None)


class _ResponderRoutes:
    """Applies the current mode to each request."""

    def __init__(self, app: _ResponderApp) -> None:
        self.app = app

    def __call__(self, request: Request, exchange: Exchange) -> Response | None:
        path = request.path
        body = request.body or b""
        if path.startswith(_ADMIN_PREFIX):
            return self._admin(request.method, path, body)
        app = self.app
        mode = app.spec.for_path(path)
        app.record(request.method, path, mode)
        kind = mode.kind
        if kind == "hang":
            exchange.hold(app.hold_event())
            return None
        if kind == "junk-page":
            return Response.of(200, _JUNK_PAGE, "text/html; charset=utf-8")
        if kind == "wrong-shape":
            return json_response(200, _WRONG_SHAPE)
        if kind == "status":
            status = mode.status or 502
            text = f"{status} {reason(status) or 'Error'}\n".encode()
            return Response.of(status, text, "text/plain; charset=utf-8")
        if kind == "typed":
            return self._typed(mode)
        if kind in ("truncate", "stall"):
            return self._half_answer(request, body, exchange, stall=kind == "stall")
        return self._forward(kind, request, body)

    def _typed(self, mode: FaultMode) -> Response:
        version = self.app.service_version()
        message = f"{mode.code}: injected by the fault responder"
        payload: dict[str, Any] = {
            "service_contract_version": version,
            "error": {"code": mode.code, "message": message},
        }
        if version == "service.v2":
            payload["legacy_error"] = message
        return json_response(mode.status or 500, payload)

    def _half_answer(
        self, request: Request, body: bytes, exchange: Exchange, *, stall: bool
    ) -> Response | None:
        """Headers and half the body; then close (truncate) or hold until the client gives up (stall)."""
        answer = None
        if self.app.upstream_url is not None:
            answer = self.app.forward(request.method, request.target, body, request.content_type)
        if answer is None:
            answer = (200, "application/json", json.dumps(_CANNED_BODY).encode())
        status, content_type, payload = answer
        half = Response.of(
            status,
            payload[: len(payload) // 2],
            content_type,
            content_length=len(payload),
            close=True,
        )
        if not stall:
            return half
        exchange.send(half)
        exchange.hold(self.app.hold_event())
        return None

    def _forward(self, kind: str, request: Request, body: bytes) -> Response:
        path = request.path
        answer = self.app.forward(request.method, request.target, body, request.content_type)
        if answer is None:
            # A reverse proxy whose upstream is down answers 502 with no typed body.
            return Response(502)
        status, content_type, payload = answer
        if 200 <= status <= 299:
            if kind == "degraded" and path == _HEALTH:
                payload = _rewrite_data(payload, _set_degraded)
            elif kind == "empty-context" and path == _ASK:
                payload = _rewrite_data(payload, _strip_context)
        return Response.of(status, payload, content_type)

    def _admin(self, method: str, path: str, body: bytes) -> Response:
        app = self.app
        if path == "/__responder/mode" and method == "GET":
            return json_response(200, {"mode": app.spec.text})
        if path == "/__responder/mode" and method == "POST":
            try:
                request = json.loads(body)
                spec_text = request["mode"] if isinstance(request, dict) else None
                if not isinstance(spec_text, str):
                    raise DefinitionError('body must be {"mode": "<spec>"}')
                app.set_spec(parse_mode(spec_text))
            except (ValueError, KeyError, DefinitionError) as exc:
                return json_response(400, {"error": str(exc)})
            return json_response(200, {"mode": app.spec.text})
        if path == "/__responder/requests" and method == "GET":
            return json_response(
                200, [{"method": r.method, "path": r.path, "mode": r.mode} for r in app.requests()]
            )
        return json_response(404, {"error": f"no admin route {method} {path}"})


class FaultResponder:
    """The fault responder in-process: a context manager with `.url`, `.port`, `set_mode()`.

    `service_contract_version` fixes the version typed errors carry; by default it is read
    from the upstream's health (service.v3 without an upstream).
    """

    def __init__(
        self,
        upstream_url: str | None,
        mode: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        service_contract_version: str | None = None,
    ) -> None:
        spec = parse_mode(mode)
        self._app = _ResponderApp(upstream_url, spec, service_contract_version)
        self._app.check(spec)
        self._server = BackgroundServer(
            "responder",
            host,
            port,
            _ResponderRoutes(self._app),
            ServerOptions(idle_timeout_s=_IDLE_CONNECTION_S, backlog=128),
            on_stop=self._app.stop,
        )

    @property
    def url(self) -> str:
        """Base URL to give the consumer instead of MemoryKernel's."""
        return self._server.url

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.port

    @property
    def mode(self) -> str:
        """The current mode spec."""
        return self._app.spec.text

    def set_mode(self, mode: str) -> None:
        """Switch the mode at run time (held requests are released and closed)."""
        self._app.set_spec(parse_mode(mode))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request seen so far, with the mode applied to it."""
        return self._app.requests()

    def clear_requests(self) -> None:
        """Forget the requests seen so far."""
        self._app.clear_requests()

    def start(self) -> None:
        """Bind and serve; EnvironmentProblem if the port is taken."""
        self._server.start()

    def stop(self) -> None:
        """Release held requests, close connections, join threads."""
        self._server.stop()

    def __enter__(self) -> FaultResponder:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_responder(
    upstream_url: str | None,
    mode: str,
    host: str = "127.0.0.1",
    port: int = 0,
) -> None:
    """Serve in the foreground until SIGTERM/SIGINT, after one ready line on stdout."""
    responder = FaultResponder(upstream_url, mode, host, port)
    upstream = upstream_url or "no upstream"
    serve_until_signalled(
        responder,
        lambda: f"responder ({responder.mode}) listening on {responder.url} -> {upstream}",
    )
