"""A client's first bytes, sent before the proxy has dialled the upstream, reach the upstream."""

from __future__ import annotations

import contextlib

from tests.conformance.conftest import Proxies
from tests.conformance.netutil import Recorder, connect, recv_exactly


def test_first_bytes_sent_at_once_are_proxied(proxies: Proxies, recorder: Recorder) -> None:
    """Real: the proxy reads a client only after its upstream is dialled (proxy.go server, then
    link.go read); what the client sent meanwhile waits in the socket and is forwarded whole."""
    proxy = proxies.create(recorder.address)
    for index in range(20):
        payload = b"hello %d" % index
        with connect(str(proxy["listen"]), timeout=3) as client:
            client.sendall(payload)
            assert recv_exactly(client, len(payload)) == payload
            with contextlib.suppress(OSError):
                client.shutdown(2)
    assert recorder.received[:20] == [b"hello %d" % i for i in range(20)]
