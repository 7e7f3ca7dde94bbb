"""The fault responder: every mode, route scoping, run-time switching, admin routes, clean stops."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from runner.errors import DefinitionError
from runner.faults.responder import FaultResponder, parse_mode
from tests.reference.as_stub import (
    ASK,
    HEALTH,
    V2,
    Reply,
    StubMemoryKernel,
    envelope,
    healthy_replies,
)

ASK_BODY = b'{"text":"t","actor":"a","action":"b","resource":"c","as_of":null}'


@pytest.fixture
def upstream() -> Iterator[StubMemoryKernel]:
    with StubMemoryKernel() as stub:
        yield stub


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


def _ask(client: httpx.Client, base: str) -> httpx.Response:
    return client.post(
        f"{base}/v1/query/ask", content=ASK_BODY, headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize(
    ("spec", "default", "routes"),
    [
        ("passthrough", "passthrough", {}),
        ("status:502", "status:502", {}),
        ("typed:query_failed", "typed:query_failed:500", {}),
        ("typed:schema_unavailable", "typed:schema_unavailable:503", {}),
        ("typed:timeout:504", "typed:timeout:504", {}),
        ("hang@/v1/query/ask", "passthrough", {"/v1/query/ask": "hang"}),
        (
            " typed:query_failed@/v1/query/ask , degraded ",
            "degraded",
            {"/v1/query/ask": "typed:query_failed:500"},
        ),
    ],
)
def test_mode_specs_parse(spec: str, default: str, routes: dict[str, str]) -> None:
    parsed = parse_mode(spec)
    assert parsed.default.text == default
    assert {route: mode.text for route, mode in parsed.routes} == routes


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "explode",
        "status:200",
        "status:abc",
        "status",
        "typed:",
        "typed:x:200",
        "hang:5",
        "hang@v1/query/ask",
        "hang,junk-page",
        "hang,,junk-page",
    ],
)
def test_bad_mode_specs_are_one_line_definition_errors(spec: str) -> None:
    with pytest.raises(DefinitionError) as exc:
        parse_mode(spec)
    assert "\n" not in str(exc.value)
    assert str(exc.value).startswith(f"responder mode {spec!r}: ")


def test_forwarding_modes_need_an_upstream() -> None:
    with pytest.raises(DefinitionError, match="no upstream URL"):
        FaultResponder(None, "degraded")
    with FaultResponder(None, "junk-page") as responder, pytest.raises(DefinitionError):
        responder.set_mode("passthrough")


def test_passthrough_forwards_verbatim(upstream: StubMemoryKernel, client: httpx.Client) -> None:
    upstream.set(
        ("GET", "/v1/context/x"),
        Reply(status=404, body={"error": {"code": "context_package_not_found"}}),
    )
    with FaultResponder(upstream.url, "passthrough") as responder:
        health = client.get(f"{responder.url}/v1/health")
        assert health.status_code == 200
        assert health.json() == envelope({"status": "ok"})
        assert health.headers["content-type"] == "application/json"
        assert _ask(client, responder.url).json()["data"]["answer"]["result"] == "deny"
        missing = client.get(f"{responder.url}/v1/context/x?verbose=1")
        assert missing.status_code == 404
        assert missing.json() == {"error": {"code": "context_package_not_found"}}
    assert upstream.requests[1] == ("POST", "/v1/query/ask", ASK_BODY)
    assert [r.mode for r in responder.requests] == ["passthrough"] * 3


def test_junk_page_and_wrong_shape_on_every_route(
    upstream: StubMemoryKernel, client: httpx.Client
) -> None:
    with FaultResponder(upstream.url, "junk-page") as responder:
        for response in (client.get(f"{responder.url}/v1/health"), _ask(client, responder.url)):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/html")
            with pytest.raises(ValueError):
                json.loads(response.content)
        responder.set_mode("wrong-shape")
        shaped = client.post(f"{responder.url}/v1/db/schema-version").json()
        assert "service_contract_version" not in shaped and "data" not in shaped
    assert upstream.requests == []


def test_degraded_rewrites_only_health_status(
    upstream: StubMemoryKernel, client: httpx.Client
) -> None:
    with FaultResponder(upstream.url, "degraded") as responder:
        assert client.get(f"{responder.url}/v1/health").json()["data"] == {"status": "degraded"}
        assert _ask(client, responder.url).json()["data"]["answer"]["result"] == "deny"


def test_empty_context_strips_answer_and_items_from_ask(
    upstream: StubMemoryKernel, client: httpx.Client
) -> None:
    with FaultResponder(upstream.url, "empty-context") as responder:
        data = _ask(client, responder.url).json()["data"]
        assert "answer" not in data and "selected_items" not in data
        assert data["context_package_id"].startswith("cpkg_")
        assert client.get(f"{responder.url}/v1/health").json()["data"] == {"status": "ok"}


@pytest.mark.parametrize("status", [502, 504, 422, 500, 429, 408])
def test_untyped_status(status: int, client: httpx.Client) -> None:
    with FaultResponder(None, f"status:{status}") as responder:
        response = client.get(f"{responder.url}/v1/health")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/plain")
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_typed_error_follows_the_upstream_contract_version(client: httpx.Client) -> None:
    with (
        StubMemoryKernel(healthy_replies(V2)) as v2,
        FaultResponder(v2.url, "typed:query_failed@/v1/query/ask") as r,
    ):
        response = _ask(client, r.url)
        assert response.status_code == 500
        body = response.json()
        assert body["service_contract_version"] == "service.v2"
        assert body["error"]["code"] == "query_failed"
        assert body["legacy_error"] == body["error"]["message"]
        assert "api_contract_version" not in body and "data" not in body
        assert client.get(f"{r.url}/v1/health").status_code == 200  # other routes pass through


def test_typed_error_v3_has_no_legacy_error(
    upstream: StubMemoryKernel, client: httpx.Client
) -> None:
    with FaultResponder(upstream.url, "typed:schema_unavailable") as responder:
        response = _ask(client, responder.url)
    assert response.status_code == 503
    assert response.json()["service_contract_version"] == "service.v3"
    assert "legacy_error" not in response.json()
    with FaultResponder(None, "typed:timeout:504", service_contract_version=V2) as fixed:
        response = client.get(f"{fixed.url}/v1/health")
    assert response.status_code == 504
    assert response.json()["legacy_error"]


def test_hang_holds_until_the_mode_changes(upstream: StubMemoryKernel) -> None:
    with FaultResponder(upstream.url, "hang") as responder, httpx.Client(timeout=0.3) as quick:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            quick.get(f"{responder.url}/v1/health")
        assert time.monotonic() - started >= 0.29
        responder.set_mode("passthrough")
        assert quick.get(f"{responder.url}/v1/health").status_code == 200
    assert [r.mode for r in responder.requests] == ["hang", "passthrough"]


def test_stop_releases_held_requests_promptly(upstream: StubMemoryKernel) -> None:
    responder = FaultResponder(upstream.url, "hang")
    responder.start()
    with httpx.Client(timeout=0.2) as quick:
        for _ in range(3):
            with pytest.raises(httpx.ReadTimeout):
                quick.get(f"{responder.url}/v1/health")
    started = time.monotonic()
    responder.stop()
    assert time.monotonic() - started < 2.0


def test_route_scoped_hang(upstream: StubMemoryKernel) -> None:
    with (
        FaultResponder(upstream.url, "hang@/v1/query/ask") as responder,
        httpx.Client(timeout=0.3) as quick,
    ):
        assert quick.get(f"{responder.url}/v1/health").status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            _ask(quick, responder.url)


def test_truncate_declares_more_than_it_sends(
    upstream: StubMemoryKernel, client: httpx.Client
) -> None:
    with FaultResponder(upstream.url, "truncate@/v1/health") as responder:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(f"{responder.url}/v1/health")
        with client.stream("GET", f"{responder.url}/v1/health") as response:
            assert int(response.headers["content-length"]) > 0
            with pytest.raises(httpx.RemoteProtocolError):
                response.read()
    with FaultResponder(None, "truncate") as canned, pytest.raises(httpx.RemoteProtocolError):
        client.get(f"{canned.url}/v1/health")


def test_upstream_down_gives_an_untyped_502(client: httpx.Client) -> None:
    with StubMemoryKernel() as stub:
        url = stub.url
    with FaultResponder(url, "passthrough") as responder:
        response = client.get(f"{responder.url}/v1/health")
    assert response.status_code == 502
    assert response.content == b""


def test_admin_routes(upstream: StubMemoryKernel, client: httpx.Client) -> None:
    with FaultResponder(upstream.url, "passthrough") as responder:
        base = f"{responder.url}/__responder"
        assert client.get(f"{base}/mode").json() == {"mode": "passthrough"}
        changed = client.post(f"{base}/mode", json={"mode": "status:503@/v1/query/ask"})
        assert changed.json() == {"mode": "status:503@/v1/query/ask"}
        assert responder.mode == "status:503@/v1/query/ask"
        assert _ask(client, responder.url).status_code == 503
        bad = client.post(f"{base}/mode", json={"mode": "explode"})
        assert bad.status_code == 400 and "unknown mode" in bad.json()["error"]
        assert client.post(f"{base}/mode", json={"nope": 1}).status_code == 400
        assert client.post(f"{base}/mode", content=b"{").status_code == 400
        assert client.get(f"{base}/requests").json() == [
            {"method": "POST", "path": "/v1/query/ask", "mode": "status:503"}
        ]
        responder.clear_requests()
        assert responder.requests == []
        assert client.get(f"{base}/nothing").status_code == 404
    assert upstream.requests == []


def test_responder_in_front_of_health_upstream_counts_requests(
    upstream: StubMemoryKernel, client: httpx.Client
) -> None:
    with FaultResponder(upstream.url, "passthrough") as responder:
        for _ in range(5):
            client.get(f"{responder.url}/v1/health")
    assert [(r.method, r.path) for r in responder.requests] == [HEALTH] * 5
    assert upstream.routes_called == [HEALTH] * 5
    assert ASK not in upstream.routes_called


def test_held_requests_end_when_their_clients_give_up(upstream: StubMemoryKernel) -> None:
    with FaultResponder(upstream.url, "hang") as responder:
        baseline = threading.active_count()
        for _ in range(5):
            with httpx.Client(timeout=0.1) as quick, pytest.raises(httpx.ReadTimeout):
                quick.get(f"{responder.url}/v1/health")
        deadline = time.monotonic() + 3.0
        while threading.active_count() > baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= baseline
        assert len(responder.requests) == 5
