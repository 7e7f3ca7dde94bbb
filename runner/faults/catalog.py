"""Apply each fault kind of a drill to an Environment; every injection returns its idempotent undo."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace

import httpx

from runner.backends.base import ConsumerSettings, Endpoints, Environment
from runner.clock import Clock, wait_until
from runner.consumers.control import ConsumerControl
from runner.errors import EnvironmentProblem, FaultUnsupported, InjectionError
from runner.faults.proof import prove_future_schema, prove_schema_unavailable
from runner.faults.toxiproxy import ToxiproxyControl
from runner.pins import Pin
from runner.spec import (
    BandwidthFault,
    ConsumerPinFault,
    DeployReleaseFault,
    DisabledFault,
    Fault,
    FlappingFault,
    FutureSchemaRowFault,
    HangFault,
    KillFault,
    LatencyFault,
    NetworkCutFault,
    NoFault,
    PauseFault,
    ProxyDownFault,
    ResponderFault,
    SchemaFault,
    StopFault,
    TruncateFault,
    describe_fault,
    number,
)
from runner.tls import shared_ssl_context
from runner.trio import RollbackTarget

describe = describe_fault

log = logging.getLogger(__name__)

Undo = Callable[[], None]
ENABLE_FLAG = "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL"
HEALTH_DEADLINE_S = 15.0


@dataclass
class FaultContext:
    """What an injection may touch: the environment, its Toxiproxy, and the run's releases and pins."""

    env: Environment
    endpoints: Endpoints
    toxiproxy: ToxiproxyControl
    clock: Clock
    baseline: Pin
    consumer: ConsumerSettings
    resolve_release: Callable[[str], str]
    pin_for_release: Callable[[str], Pin]
    # The consumer under test: consumer-side faults act on it, never on another one.
    target: ConsumerControl
    probe_paused: Callable[[], AbstractContextManager[None]] = nullcontext
    rollback_target: RollbackTarget | None = None  # where `recover: {to: last-green}` goes


def once(action: Undo) -> Undo:
    """Make an undo idempotent: the first call acts, later calls do nothing."""
    done = threading.Event()

    def run() -> None:
        if not done.is_set():
            done.set()
            action()

    return run


def wait_memorykernel_health(ctx: FaultContext, after: str = "the deploy") -> None:
    """Wait until MemoryKernel answers its health route directly (not through the proxy)."""
    url = f"{ctx.endpoints.memorykernel_url}/v1/health"
    # One client for the whole wait: httpx.get() would build a client (and TLS context) per poll.
    with httpx.Client(timeout=0.5, verify=shared_ssl_context()) as client:

        def healthy() -> bool:
            try:
                return client.get(url).status_code == 200
            except httpx.HTTPError:
                return False

        answered = wait_until(
            ctx.clock, healthy, timeout_s=HEALTH_DEADLINE_S, interval_s=0.02, what=url
        )
    if not answered:
        raise InjectionError(
            f"MemoryKernel at {url} did not answer within {HEALTH_DEADLINE_S:.0f} s after {after}"
        )


def inject(fault: Fault, ctx: FaultContext) -> Undo:
    """Apply `fault` now; return the undo that removes it (safe to call twice, and after a crash)."""
    env, proxy = ctx.env, ctx.endpoints.proxy_name
    release = env.memorykernel_release
    match fault:
        case DisabledFault(value=value):
            previous = ctx.consumer.env.get(ENABLE_FLAG)
            consumer = ctx.target
            with _paused_if_restarting(ctx):
                consumer.set_env({ENABLE_FLAG: value})

            def undo_flag() -> None:
                with _paused_if_restarting(ctx):
                    consumer.set_env({ENABLE_FLAG: previous})

            return once(undo_flag)
        case StopFault():
            env.stop_memorykernel()
            return once(lambda: env.start_memorykernel(release))
        case KillFault():
            env.kill_memorykernel()
            return once(lambda: env.start_memorykernel(release))
        case PauseFault():
            env.pause_memorykernel()
            return once(env.unpause_memorykernel)
        case ProxyDownFault():
            return once(ctx.toxiproxy.disable(proxy))
        case NetworkCutFault():
            env.disconnect_network()
            return once(env.reconnect_network)
        case LatencyFault(latency_ms=latency, jitter_ms=jitter, stream=stream):
            attributes = {"latency": int(number(latency)), "jitter": jitter}
            return once(ctx.toxiproxy.add_toxic(proxy, "latency", stream, attributes))
        case HangFault(timeout_ms=timeout, stream=stream):
            attributes = {"timeout": int(number(timeout))}
            return once(ctx.toxiproxy.add_toxic(proxy, "timeout", stream, attributes))
        case BandwidthFault(rate_kb_s=rate, stream=stream):
            return once(ctx.toxiproxy.add_toxic(proxy, "bandwidth", stream, {"rate": rate}))
        case TruncateFault(bytes=limit, stream=stream):
            return once(ctx.toxiproxy.add_toxic(proxy, "limit_data", stream, {"bytes": limit}))
        case ResponderFault(mode=mode):
            upstream = env.start_responder(mode)
            restore_upstream = ctx.toxiproxy.set_upstream(proxy, upstream)

            def undo_responder() -> None:
                restore_upstream()
                env.stop_responder()

            return once(undo_responder)
        case DeployReleaseFault(release=ref):
            target = ctx.resolve_release(ref)
            env.start_memorykernel(target)
            wait_memorykernel_health(ctx)
            baseline = ctx.baseline.release_tag
            return once(lambda: _ensure_release(env, baseline))
        case ConsumerPinFault(release=ref):
            # Rebuilding the consumer is a deploy of the Draft flow itself, not a MemoryKernel fault:
            # the probe pauses while it restarts instead of counting the restart as unanswered Drafts.
            pin = ctx.pin_for_release(ctx.resolve_release(ref))
            with ctx.probe_paused():
                ctx.target.restart(replace(ctx.consumer, pin=pin))

            def undo_pin() -> None:
                with ctx.probe_paused():
                    ctx.target.restart(ctx.consumer)

            return once(undo_pin)
        case SchemaFault(database=database):
            env.start_memorykernel(release, database=database)
            undo_schema = once(lambda: env.start_memorykernel(release))
            try:
                prove_schema_unavailable(env, ctx.endpoints.memorykernel_url, ctx.clock)
            except BaseException:
                undo_schema()
                raise
            return undo_schema
        case FutureSchemaRowFault(version=version):
            try:
                env.run_sql(
                    f"INSERT INTO schema_migrations(version, applied_at) VALUES({int(version)}, 'mkdrill-drill')"
                )
            except EnvironmentProblem as exc:  # e.g. no such table: MemoryKernel never used it
                raise EnvironmentProblem(
                    f"the future schema row did not take effect: {exc}; {env.describe_memorykernel()}"
                ) from exc
            undo_row = once(
                lambda: env.run_sql(f"DELETE FROM schema_migrations WHERE version = {int(version)}")
            )
            try:
                prove_future_schema(env, ctx.endpoints.memorykernel_url, ctx.clock, int(version))
            except BaseException:
                undo_row()
                raise
            return undo_row
        case FlappingFault(down_s=down_s, up_s=up_s):
            return once(_start_flapping(ctx, release, down_s, up_s))
        case NoFault():
            return once(lambda: None)
    raise FaultUnsupported(f"fault kind {fault.kind!r} is not supported by the {env.kind} backend")


def _paused_if_restarting(ctx: FaultContext) -> AbstractContextManager[None]:
    """Changing a variable restarts a consumer of yours run by URL: pause the probe meanwhile."""
    return ctx.probe_paused() if ctx.target.restarts_on_env else nullcontext()


def _ensure_release(env: Environment, release: str) -> None:
    if env.memorykernel_release != release:
        env.start_memorykernel(release)


def _start_flapping(ctx: FaultContext, release: str, down_s: float, up_s: float) -> Undo:
    stop = threading.Event()
    errors: list[str] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                ctx.env.stop_memorykernel()
                if stop.wait(down_s):
                    break
                ctx.env.start_memorykernel(release)
                stop.wait(up_s)
            except Exception as exc:  # the undo below restores; keep the reason for the log
                errors.append(str(exc))
                stop.wait(0.2)

    thread = threading.Thread(target=loop, name="flapping", daemon=True)
    thread.start()

    def undo() -> None:
        stop.set()
        thread.join(timeout=30.0)
        ctx.env.start_memorykernel(release)
        if errors:
            log.warning("flapping loop saw errors: %s", "; ".join(errors[:3]))

    return undo
