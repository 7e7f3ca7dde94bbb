"""The HTTP Draft probe: its connections stay pooled however many Drafts are in flight."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from runner.http11.server import BackgroundServer, Exchange, Request, Response, json_response
from runner.probes.draft import HttpDraftProbe
from runner.probes.sampler import MAX_SLOTS

DRAFT = {"draft": "reply", "enrichment": {"applied": True}}


def test_no_connection_is_closed_as_surplus_while_drafts_wait() -> None:
    """Closing "surplus" idle connections races with threads they were handed to (httpcore#1110:
    `ReadError: [Errno 9] Bad file descriptor` on the probe); the probe keeps all of them."""
    accepted: set[int] = set()
    lock = threading.Lock()

    def slow_draft(request: Request, exchange: Exchange) -> Response:
        with lock:
            accepted.add(exchange.socket.getpeername()[1])  # one client port per connection
        time.sleep(0.2)
        return json_response(200, DRAFT)

    in_flight = min(MAX_SLOTS, 60)
    with BackgroundServer("drafts", "127.0.0.1", 0, slow_draft) as server:
        probe = HttpDraftProbe(f"{server.url}/v1/draft", timeout_s=10.0)
        try:
            with ThreadPoolExecutor(in_flight) as pool:
                for _ in range(3):
                    outcomes = list(pool.map(lambda _: probe.draft(), range(in_flight)))
                    assert all(outcome.ok for outcome in outcomes), outcomes[:3]
        finally:
            probe.close()
    # Rounds 2 and 3 reuse round 1's connections: none was closed and reopened.
    assert len(accepted) <= in_flight
