"""Embedded Toxiproxy-compatible server: the Toxiproxy HTTP API and real TCP proxies with toxics.

For hosts with no Toxiproxy binary; clients (toxiproxy-python, mkdrill's fault controller) cannot
tell it from a Toxiproxy 2.8 server except by its /version string.
"""

from runner.reference.toxiproxy.server import EmbeddedToxiproxy, serve

__all__ = ["EmbeddedToxiproxy", "serve"]
