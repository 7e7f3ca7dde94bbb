"""The shared HTTP/1.1 server and client: what hyper's clients see, slots, limits, stop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from runner.http11.client import ClientError, ClientSession
from runner.http11.server import (
    BackgroundServer,
    Exchange,
    Listener,
    Request,
    Response,
    ServerOptions,
    WorkerSlots,
    json_response,
)
from runner.http11.wire import BadRequest, parse_request_head
from tests.http11.raw import raw_exchange


def echo(request: Request, exchange: Exchange) -> Response:
    body = request.body
    return json_response(
        200,
        {
            "method": request.method,
            "path": request.path,
            "body": None if body is None else body.decode(),
            "error": request.body_error,
        },
    )


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer("test", "127.0.0.1", 0, echo, ServerOptions(body_limit=100)) as running:
        yield running


def test_an_unparsable_request_gets_an_empty_400_and_the_connection_closes(
    server: BackgroundServer,
) -> None:
    for garbage in (b"GARBAGE\r\n\r\n", b"GET /x\r\n\r\n", b"GET /x HTTP/1.1\r\nHost x\r\n\r\n"):
        answer = raw_exchange(server.port, garbage)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n")
        assert b"\r\ncontent-length: 0\r\ndate: <date>\r\n" in answer
        assert answer.endswith(b"\r\n\r\n<EOF>")


def test_http_1_0_is_answered_as_1_0_and_closed_unless_keep_alive(
    server: BackgroundServer,
) -> None:
    closed = raw_exchange(server.port, b"GET /a HTTP/1.0\r\n\r\n")
    assert closed.startswith(b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n")
    assert b"connection:" not in closed and closed.endswith(b"<EOF>")
    kept = raw_exchange(server.port, b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert b"connection: keep-alive\r\n" in kept and not kept.endswith(b"<EOF>")


def test_headers_are_written_in_hypers_order(server: BackgroundServer) -> None:
    answer = raw_exchange(server.port, b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    names = [line.split(b":")[0] for line in answer.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]]
    assert names == [b"content-type", b"content-length", b"connection", b"date"]


def test_a_body_over_the_limit_is_left_unread_then_drained(server: BackgroundServer) -> None:
    big = b"x" * 5000
    answer = raw_exchange(
        server.port,
        b"POST /big HTTP/1.1\r\nHost: x\r\ncontent-length: 5000\r\n\r\n"
        + big
        + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert b'"body":null' in answer and b'"path":"/next"' in answer
    assert b"connection: close" not in answer


def test_a_broken_chunked_body_is_reported_then_the_connection_closes(
    server: BackgroundServer,
) -> None:
    answer = raw_exchange(
        server.port,
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    )
    assert b'"error":"error reading a body from connection"' in answer
    assert answer.endswith(b"<EOF>") and b"connection:" not in answer


def test_expect_100_continue_is_answered_before_the_body(server: BackgroundServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
        sock.sendall(
            b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\ncontent-length: 2\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"ok")
        assert b'"body":"ok"' in sock.recv(1000)


def test_a_burst_of_60_connections_waits_in_the_listen_queue() -> None:
    """Bursts of 40-60 connections are queued as tokio's backlog of 1024 queues them."""
    listener = Listener(("127.0.0.1", 0), socket.AF_INET, echo, ServerOptions())
    port = listener.server_address[1]
    clients: list[socket.socket] = []
    thread = threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.05})
    try:
        for _ in range(60):  # nothing accepts yet: every handshake completes in the queue alone
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
        thread.start()
        for client in clients:
            client.sendall(b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        statuses = [client.recv(64).split(b"\r\n", 1)[0] for client in clients]
        assert statuses == [b"HTTP/1.1 200 OK"] * 60
    finally:
        for client in clients:
            client.close()
        if thread.is_alive():
            listener.shutdown()
        listener.close_connections()
        listener.server_close()


def test_worker_slots_give_a_freed_slot_to_the_newest_waiter_first() -> None:
    slots = WorkerSlots(1)
    order: list[str] = []
    release = threading.Event()

    def hold() -> None:
        with slots.slot():
            release.wait(5)

    def run(name: str) -> None:
        with slots.slot():
            order.append(name)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.05)
    waiters = []
    for name in ("first", "second", "newest"):
        waiters.append(threading.Thread(target=run, args=(name,)))
        waiters[-1].start()
        time.sleep(0.05)
    release.set()
    for thread in [holder, *waiters]:
        thread.join(5)
    assert order == ["newest", "first", "second"]


def test_stop_ends_held_requests_and_idle_connections() -> None:
    released = threading.Event()

    def hang(request: Request, exchange: Exchange) -> Response | None:
        exchange.hold(released)
        return None

    server = BackgroundServer("hang", "127.0.0.1", 0, hang, on_stop=released.set)
    server.start()
    idle = socket.create_connection(("127.0.0.1", server.port))
    held = socket.create_connection(("127.0.0.1", server.port))
    held.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0
    assert held.recv(10) == b"" and idle.recv(10) == b""
    idle.close()
    held.close()
    server.stop()  # idempotent


def test_the_client_deadline_covers_the_whole_request() -> None:
    def drip(request: Request, exchange: Exchange) -> Response | None:
        exchange.send(Response.of(200, b"", "text/plain", content_length=100))
        for _ in range(100):
            time.sleep(0.05)
            exchange.socket.sendall(b"x")
        return None

    with BackgroundServer("drip", "127.0.0.1", 0, drip) as server:
        session = ClientSession(0.5)
        started = time.monotonic()
        response = session.request("GET", "127.0.0.1", server.port, "/", [("host", "x")])
        with pytest.raises(ClientError) as failure:
            response.read_body()
        assert failure.value.phase == "body" and failure.value.timed_out
        assert time.monotonic() - started < 1.5
        session.close()


def test_the_request_head_parser_refuses_what_httparse_refuses() -> None:
    assert parse_request_head(b"\r\nGET /a?b HTTP/1.1\r\nX: 1\r\n\r\n").path == "/a"
    assert parse_request_head(b"GET http://h:1/p?q HTTP/1.1\r\n\r\n").path == "/p"
    for bad in (b"GET  /a HTTP/1.1\r\n", b"GET /a HTTP/2.0\r\n", b"G(T /a HTTP/1.1\r\n"):
        with pytest.raises(BadRequest):
            parse_request_head(bad)
