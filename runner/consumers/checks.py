"""Before the first drill: your consumer calls through mkdrill's proxy, and it is fast enough to drill."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from runner.consumers.target import BASE_URL_VAR, ConsumerTarget
from runner.drill_run import DrillSettings, latency_bound_ms
from runner.errors import DefinitionError, EnvironmentProblem
from runner.pins import Pin, default_pin_path, load_pin
from runner.probes.draft import DraftOutcome
from runner.probes.pace import CAPACITY_SHARE, MIN_WINDOW_DRAFTS, window_drafts
from runner.record import ConsumerInfo, Phase
from runner.spec import number

if TYPE_CHECKING:
    from runner.engine import RunPlan

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_WILDCARD = {"0.0.0.0", "::", ""}
STEADY_SHARE = 0.5  # the steady state must fit its enriched streak in half its wait


class ConsumerTooSlow(EnvironmentProblem):
    """The consumer under test cannot answer the Drafts a drill needs to judge anything (exit 3)."""


def check_calls_through_proxy(
    target: ConsumerTarget, outcomes: Sequence[DraftOutcome], proxy_listen: str
) -> None:
    """Your consumer says (in its preflight answer) where it calls MemoryKernel: it must be the proxy."""
    said = next((o.base_url for o in outcomes if o.base_url), None)
    if said is None or _same_address(said, proxy_listen):
        return
    raise EnvironmentProblem(
        f"{target.describe()} calls MemoryKernel at {said}, not through mkdrill's proxy at "
        f"http://{proxy_listen}, so no fault would reach it: set its {BASE_URL_VAR} to "
        f"http://{proxy_listen}, or give --proxy-listen the address it calls"
    )


def _same_address(base_url: str, proxy_listen: str) -> bool:
    parts = urlsplit(base_url)
    host, _, port = proxy_listen.rpartition(":")
    host = host.strip("[]")
    if parts.port is None or str(parts.port) != port:
        return False
    called = parts.hostname or ""
    return called == host or host in _WILDCARD or (called in _LOOPBACK and host in _LOOPBACK)


def pin_from_preflight(said: str) -> Pin | None:
    """The embedded pin of the release a consumer's preflight answer names (`v0.4.0 service.v3/api.v1`)."""
    tag = said.split(" ", 1)[0]
    with contextlib.suppress(DefinitionError):
        pin = load_pin(default_pin_path(tag))
        if said.endswith(
            f"{pin.expected_service_contract_version}/{pin.expected_api_contract_version}"
        ):
            return pin
    return None


def check_fast_enough(
    plan: RunPlan,
    settings: DrillSettings,
    consumer: ConsumerInfo,
    outcomes: Sequence[DraftOutcome] = (),
) -> None:
    """Raise ConsumerTooSlow, with the figures, when the drills could not judge this consumer."""
    capacity = consumer.capacity
    if capacity is None:
        return
    who = consumer.target if consumer.kind != "reference" else "the reference consumer"
    if capacity.drafts == 0:
        failure = next((o.error for o in outcomes if o.error), None) or "no answer"
        seconds = sum(level.seconds for level in capacity.levels)
        raise ConsumerTooSlow(
            f"consumer too slow to drill: {who} answered no Draft in {seconds:.1f} s with "
            f"MemoryKernel healthy ({failure[:200]})"
        )
    figures = (
        f"{who} answers {capacity.describe()} with MemoryKernel healthy ({machine_load()}); the "
        f"probe takes at most {CAPACITY_SHARE:.0%} of that "
        f"({settings.pace(Phase.OBSERVE, 1000.0).rate_hz:.3g}/s)"
    )
    single = capacity.levels[0].latency if capacity.levels else None
    short: list[str] = []
    slow: list[str] = []
    for loaded in plan.drills:
        drill = loaded.drill
        if plan.not_applicable(drill) is not None:
            continue
        window_s = number(drill.window_s)
        expected = window_drafts(settings.pace(Phase.OBSERVE, 1000.0).rate_hz, window_s)
        if expected < MIN_WINDOW_DRAFTS:
            short.append(f"{drill.name} ({expected} in its {window_s:g} s window)")
        bound = latency_bound_ms(loaded, settings)
        if single is not None and single.p95_ms > bound:
            slow.append(f"{drill.name} (bound {bound:.0f} ms)")
    if slow:
        assert single is not None
        raise ConsumerTooSlow(
            f"consumer too slow to drill: {who}'s Drafts take p95 {single.p95_ms:.0f} ms one at a "
            f"time with MemoryKernel healthy, over the latency bound of {_listed(slow)}; make each "
            "Draft cheaper, or give a longer --consumer-timeout-ms if your consumer runs with one"
        )
    if short:
        raise ConsumerTooSlow(
            f"consumer too slow to drill: {figures}; a drill needs at least {MIN_WINDOW_DRAFTS} "
            f"Drafts in a fault window: {_listed(short)}; make each Draft cheaper, run on a less "
            "loaded machine, or lengthen the drills' window_s"
        )
    steady_rate = settings.pace(Phase.STEADY, 1000.0).rate_hz
    if steady_rate * settings.steady_timeout_s * STEADY_SHARE < settings.steady_needed:
        raise ConsumerTooSlow(
            f"consumer too slow to drill: {figures}; the steady state needs "
            f"{settings.steady_needed} enriched Drafts in a row within {settings.steady_timeout_s:g} s"
        )


def machine_load() -> str:
    """`load average 7.3 on 2 CPUs`: a consumer measured on a busy machine answers less."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return "load average unknown"
    return f"load average {load:.1f} on {os.cpu_count() or '?'} CPUs"


def _listed(items: Sequence[str]) -> str:
    return ", ".join(items[:4]) + (f" and {len(items) - 4} more" if len(items) > 4 else "")
