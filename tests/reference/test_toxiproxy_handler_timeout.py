"""The embedded Toxiproxy's copy of http.TimeoutHandler: a request still running is answered 503.

Toxiproxy wraps its routes in a 25 s TimeoutHandler; a proxy stop waiting for a hung dial runs
into it (and the stop carries on). The real server's 25 s is too long for the conformance suite,
so this runs the embedded API with a short handler timeout.
"""

from __future__ import annotations

import asyncio
import json
import socket

from runner.reference.toxiproxy.api import TIMEOUT_BODY, ToxiproxyApi
from runner.reference.toxiproxy.http_server import Request
from runner.reference.toxiproxy.proxies import ProxyCollection
from tests.conformance.netutil import StalledListener


def request(method: str, path: str, body: object = None) -> Request:
    data = json.dumps(body).encode() if body is not None else b""
    return Request(method, path, {}, data, keep_alive=True)


def test_a_stop_waiting_for_a_hung_dial_is_answered_503_and_completes_later() -> None:
    async def scenario(stalled: StalledListener) -> None:
        proxies = ProxyCollection("127.0.0.1")
        api = ToxiproxyApi(proxies, handler_timeout_s=0.5)
        created = await api.handle(
            request("POST", "/proxies", {"name": "p", "listen": "127.0.0.1:0",
                                         "upstream": stalled.address})
        )  # fmt: skip
        assert created.status == 201
        host, port = json.loads(created.body)["listen"].rsplit(":", 1)
        client = socket.create_connection((host, int(port)))  # its dial hangs
        await asyncio.sleep(0.3)
        answer = await api.handle(request("POST", "/proxies/p", {"enabled": False}))
        assert (answer.status, answer.body) == (503, TIMEOUT_BODY)
        assert answer.content_type == "text/html; charset=utf-8"
        stalled.serve()  # the dial completes at the kernel's next SYN retry; the stop with it
        for _ in range(10):  # the API is held by the stop until it ends, as Toxiproxy's lock is
            shown = await api.handle(request("GET", "/proxies/p"))
            if shown.status == 200:
                break
        assert shown.status == 200
        assert json.loads(shown.body)["enabled"] is False
        client.close()
        proxies.close()

    stalled = StalledListener()
    try:
        asyncio.run(scenario(stalled))
    finally:
        stalled.close()
