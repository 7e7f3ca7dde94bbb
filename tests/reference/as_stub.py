"""A scriptable stub MemoryKernel for the consumer unit tests: canned replies, requests recorded."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from runner.http11.server import BackgroundServer, Exchange, Request, Response

V3 = "service.v3"
V2 = "service.v2"
API = "api.v1"
HEALTH = ("GET", "/v1/health")
SCHEMA = ("POST", "/v1/db/schema-version")
ASK = ("POST", "/v1/query/ask")


def envelope(data: Any, service: str = V3, api: str = API) -> dict[str, Any]:
    """A success envelope."""
    return {"service_contract_version": service, "api_contract_version": api, "data": data}


def context_package(result: str = "deny", items: int = 1) -> dict[str, Any]:
    """A ContextPackage shaped like the real service's."""
    return {
        "context_package_id": "cpkg_2026-02-08T12:00:00Z_txn_0123456789abcdef",
        "answer": {
            "result": result,
            "why": "Highest-precedence active constraint denies the action",
        },
        "selected_items": [
            {
                "rank": i + 1,
                "record_type": "constraint",
                "memory_id": f"01J0000000000000000000000{i}",
                "why": {"included": True, "reasons": [f"reason {i}", "second"]},
            }
            for i in range(items)
        ],
    }


@dataclass
class Reply:
    """One canned answer. `hang` holds the request open until the stub stops; `drip_s` sends the
    body a byte at a time with that pause; `truncate` declares the full length and sends half."""

    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    hang: bool = False
    delay_s: float = 0.0
    drip_s: float = 0.0
    truncate: bool = False
    close_without_answer: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


@dataclass
class _StubState:
    replies: dict[tuple[str, str], Reply]
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


def healthy_replies(service: str = V3) -> dict[tuple[str, str], Reply]:
    """Health ok, schema migrated, an ask answered with one constraint."""
    return {
        HEALTH: Reply(body=envelope({"status": "ok"}, service)),
        SCHEMA: Reply(
            body=envelope(
                {
                    "current_version": 2,
                    "target_version": 2,
                    "pending_versions": [],
                    "inferred_from_legacy": False,
                },
                service,
            )
        ),
        ASK: Reply(body=envelope(context_package(), service)),
    }


def _stub_handler(state: _StubState) -> Any:
    def answer(request: Request, exchange: Exchange) -> Response | None:
        body = request.body or b""
        with state.lock:
            state.requests.append((request.method, request.path, body))
            reply = state.replies.get((request.method, request.path))
        if reply is None:
            return Response(404)
        if reply.hang:
            state.stopping.wait(60)
            return None
        if reply.delay_s:
            state.stopping.wait(reply.delay_s)
        if reply.close_without_answer:
            return None
        payload = reply.payload()
        if reply.truncate:
            half = payload[: len(payload) // 2]
            return Response.of(
                reply.status, half, reply.content_type, content_length=len(payload), close=True
            )
        if reply.drip_s:
            exchange.send(
                Response.of(reply.status, b"", reply.content_type, content_length=len(payload))
            )
            sock = exchange.socket
            for i in range(len(payload)):
                if state.stopping.wait(reply.drip_s):
                    break
                sock.sendall(payload[i : i + 1])
            return None
        return Response.of(reply.status, payload, reply.content_type, headers=reply.headers)

    return answer


class StubMemoryKernel:
    """A stub MemoryKernel on 127.0.0.1; `.requests` lists (method, path, body)."""

    def __init__(self, replies: dict[tuple[str, str], Reply] | None = None) -> None:
        self._state = _StubState(replies=healthy_replies() if replies is None else replies)
        self._server = BackgroundServer(
            "stub-memorykernel",
            "127.0.0.1",
            0,
            _stub_handler(self._state),
            on_stop=self._state.stopping.set,
        )

    @property
    def url(self) -> str:
        return self._server.url

    def set(self, route: tuple[str, str], reply: Reply) -> None:
        with self._state.lock:
            self._state.replies[route] = reply

    @property
    def requests(self) -> list[tuple[str, str, bytes]]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def routes_called(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests]

    def __enter__(self) -> StubMemoryKernel:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()
