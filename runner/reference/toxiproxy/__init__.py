"""Embedded Toxiproxy-compatible server: the Toxiproxy HTTP API and real TCP proxies with toxics.

For hosts with no Toxiproxy binary. Copies Shopify Toxiproxy 2.12 (2.9 answers alike) where a
drill or a client can tell: each proxy accepts one client, dials its upstream with no timeout and
only then accepts the next (so a frozen upstream jams it as it jams Toxiproxy), and stopping a
proxy waits for that dial; the timeout toxic drops what it holds and its removal closes the
connection; proxy JSON carries `"Logger":{}` in Go's field order, GET /proxies is keyed in name
order; errors are Go's encoding/json texts; a request still running after 25 s is answered 503
(http.TimeoutHandler). Modules: api (routes and answers), http_server (HTTP/1.1), proxies (proxy
lifecycle, the accept loop), links (connections), stages (toxic behaviour), toxics (definitions
and JSON), gojson and gosyntax (Go-style decoding), addresses (listen and dial), errors, server.

Known differences from Toxiproxy, all on purpose (tests/conformance/test_known_differences.py):
- A listen address with no host (":0" or "") binds to the API's host, not every interface.
- /version says "2.12.0+mkdrill.embedded".
- `mkdrill serve toxiproxy` exits 3 on a port in use and 2 on a bad --config, one line each,
  where toxiproxy-server logs the error and keeps running.
- Adding a toxic does not cut short the delay of data already held by an earlier latency toxic,
  and does not re-roll the toxicity of the toxics before it (Toxiproxy interrupts them).
- reset_peer sends RST also when added to a live connection (Toxiproxy only for connections that
  started with it present).
- slicer with size_variation 0 halves chunks down to the average size (Toxiproxy would panic).
Like Toxiproxy, the end of either direction closes both sockets (no half-close).
"""

from runner.reference.toxiproxy.server import EmbeddedToxiproxy, serve

__all__ = ["EmbeddedToxiproxy", "serve"]
