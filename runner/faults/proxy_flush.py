"""Flushing the proxy: drop the connections it queued while MemoryKernel could not answer.

A Toxiproxy accepts one client at a time and dials the upstream before accepting the next, with
no dial timeout. Behind a frozen MemoryKernel one dial hangs and every later client waits in the
proxy's listen queue; when MemoryKernel is back the proxy still dials for each of those clients,
long gone, one by one. Disabling the proxy closes its listener, which drops that queue (a real
Toxiproxy first finishes the dial in progress); it is enabled again once MemoryKernel answers.
"""

from __future__ import annotations

import logging

from runner.faults.catalog import FaultContext, wait_memorykernel_health
from runner.faults.toxiproxy import ToxiproxyControl

log = logging.getLogger(__name__)

# Stopping a real Toxiproxy's proxy waits for its dial in progress; its handler answers 503 at 25 s.
FLUSH_API_TIMEOUT_S = 30.0


def flush_proxy(ctx: FaultContext) -> None:
    """Disable the run's proxy, wait until MemoryKernel answers directly, enable it again."""
    control = ToxiproxyControl(ctx.endpoints.toxiproxy_url, timeout=FLUSH_API_TIMEOUT_S)
    enable_again = control.disable(ctx.endpoints.proxy_name)
    try:
        wait_memorykernel_health(ctx, after="the proxy was disabled to flush it")
    finally:
        enable_again()
    log.info("proxy %s flushed", ctx.endpoints.proxy_name)
