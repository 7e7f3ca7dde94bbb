"""Embedded Toxiproxy-compatible server: the Toxiproxy HTTP API and real TCP proxies with toxics.

For hosts with no Toxiproxy binary. Clients (toxiproxy-python, mkdrill's fault controller) see a
Toxiproxy 2.8 server; /version says "2.8.0+mkdrill.embedded". Modules: api (routes and answers),
http_server (HTTP/1.1), proxies (proxy lifecycle), links (connections), stages (toxic behaviour),
toxics (definitions and JSON), gojson (Go-style decoding), addresses, errors, server (lifecycle).

Known differences from Toxiproxy, all on purpose:
- A listen address with no host (":0" or "") binds to the API's host, not every interface.
- Adding a toxic does not cut short the delay of data already held by an earlier latency toxic,
  and does not re-roll the toxicity of the toxics before it (Toxiproxy interrupts them).
- reset_peer sends RST also when added to a live connection (Toxiproxy only for connections that
  started with it present).
- slicer with size_variation 0 halves chunks down to the average size (Toxiproxy would panic).
Like Toxiproxy, the end of either direction closes both sockets (no half-close).
"""

from runner.reference.toxiproxy.server import EmbeddedToxiproxy, serve

__all__ = ["EmbeddedToxiproxy", "serve"]
