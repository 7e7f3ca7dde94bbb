"""Run drills with the real engine against services that are already up (the peer benchmark's mkdrill side).

`mkdrill run` always brings its own environment up and down; Chaos Toolkit never does. To compare
the two tools rather than process start-up of the reference services, the benchmark starts the
services once and runs this entry in a fresh process per run:

    python -m runner.bench.attached --endpoints '{"consumer_url": ...}' --release v0.4.0 --out DIR DRILL...

Everything else is what `mkdrill run` does (its import hook and exit included): plan (drill files, pin and manifest checks), engine,
Draft probe, restore watch, reports after every drill. No run lock, no ledger, no seeding (the
benchmark seeds the shared MemoryKernel once).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

from runner._imports import skip_httpx_command_line
from runner.collector import imports_uncollected, leave_objects_to_the_os

skip_httpx_command_line()  # as `mkdrill run` starts: before anything below imports httpx

# As `mkdrill run` imports its run path; only as the program (a test importing it keeps its collector).
with imports_uncollected() if __name__ == "__main__" else contextlib.nullcontext():
    import httpx

    from runner.backends.admin_token import admin_headers
    from runner.backends.base import (
        ConsumerSettings,
        DatabaseState,
        Endpoints,
        Environment,
        ServiceStatus,
    )
    from runner.clock import SystemClock
    from runner.contract import RELEASES
    from runner.engine import Engine
    from runner.errors import (
        EXIT_DRILL_FAILED,
        EXIT_PASSED,
        DrillError,
        EnvironmentProblem,
        InjectionError,
    )
    from runner.plan import RunRequest, build_plan, new_run_id
    from runner.progress import Progress
    from runner.record import Verdict
    from runner.tls import shared_ssl_context

log = logging.getLogger(__name__)


class AttachedEnvironment(Environment):
    """An environment someone else started: network faults through its Toxiproxy, consumer env over
    HTTP; process-level faults are refused because this runner does not own the processes."""

    kind = "attached"

    def __init__(self, endpoints: Endpoints, release: str) -> None:
        self._endpoints = endpoints
        self._release = release
        self._http = httpx.Client(timeout=2.0, verify=shared_ssl_context())

    def up(self, release: str, consumer: ConsumerSettings | None) -> Endpoints:
        if release != self._release:
            raise EnvironmentProblem(
                f"attached environment runs MemoryKernel {self._release}, the plan wants {release}"
            )
        return self._endpoints

    def down(self) -> None:
        self._http.close()

    def status(self) -> list[ServiceStatus]:
        return []

    @property
    def toxiproxy_kind(self) -> str:
        return f"attached {self._endpoints.toxiproxy_url}"

    @property
    def memorykernel_release(self) -> str:
        return self._release

    def memorykernel_upstream(self) -> str:
        return urlsplit(self._endpoints.memorykernel_url).netloc

    def _refuse(self, what: str) -> InjectionError:
        return InjectionError(
            f"attached environment cannot {what}: it does not own the processes; use `mkdrill run`"
        )

    def stop_memorykernel(self) -> None:
        raise self._refuse("stop MemoryKernel")

    def kill_memorykernel(self) -> None:
        raise self._refuse("kill MemoryKernel")

    def pause_memorykernel(self) -> None:
        raise self._refuse("pause MemoryKernel")

    def unpause_memorykernel(self) -> None:
        raise self._refuse("unpause MemoryKernel")

    def start_memorykernel(self, release: str, database: DatabaseState = "normal") -> None:
        raise self._refuse("start MemoryKernel")

    def run_sql(self, statement: str) -> None:
        raise self._refuse("run SQL on MemoryKernel's database")

    def disconnect_network(self) -> None:
        raise self._refuse("cut the network")

    def reconnect_network(self) -> None:
        raise self._refuse("reconnect the network")

    def restart_consumer(self, consumer: ConsumerSettings) -> None:
        raise self._refuse("restart the consumer")

    def set_consumer_env(self, values: dict[str, str | None]) -> None:
        url = f"{self._endpoints.consumer_url}/v1/admin/env"
        try:
            self._http.post(
                url, json=values, headers=admin_headers(self._endpoints.admin_token)
            ).raise_for_status()
        except httpx.HTTPError as exc:
            raise EnvironmentProblem(f"cannot set consumer env at {url}: {exc}") from exc

    def start_responder(self, mode: str) -> str:
        raise self._refuse("start a fault responder")

    def stop_responder(self) -> None:
        return None


def endpoints_from_json(text: str) -> Endpoints:
    """Endpoints from `SharedServices.endpoints_json()`."""
    data = json.loads(text)
    return Endpoints(
        consumer_url=str(data["consumer_url"]),
        memorykernel_url=str(data["memorykernel_url"]),
        toxiproxy_url=str(data["toxiproxy_url"]),
        proxy_name=str(data["proxy_name"]),
        admin_token=str(data.get("admin_token", "")),
    )


def run_attached(endpoints: Endpoints, release: str, drills: list[str], out: Path) -> int:
    """Plan and run `drills` against `endpoints`; the exit code `mkdrill run` would give."""
    request = RunRequest(
        drills=drills,
        suite=None,
        backend="local",
        pin=None,
        out=out,
        drills_dir=None,
        fail_fast=False,
        rate_hz=25.0,
        consumer_timeout_ms=None,  # the pin's own, as the shared services run it
        ask_body="patched",
        reports_root=out.parent,
    )
    plan = build_plan(request, new_run_id(), None, set(RELEASES))
    engine = Engine(
        plan,
        AttachedEnvironment(endpoints, release),
        SystemClock(),
        Progress(plan.out_dir),
    )
    record = engine.run()
    return EXIT_PASSED if record.verdict is Verdict.PASSED else EXIT_DRILL_FAILED


def main(argv: list[str]) -> int:
    """Command line of `python -m runner.bench.attached`."""
    parser = argparse.ArgumentParser(prog="python -m runner.bench.attached")
    parser.add_argument("--endpoints", required=True, help="JSON of the running services")
    parser.add_argument("--release", required=True, help="the MemoryKernel release running")
    parser.add_argument("--out", required=True, type=Path, help="report folder")
    parser.add_argument("drills", nargs="+")
    args = parser.parse_args(argv)
    leave_objects_to_the_os()  # as `mkdrill run` ends
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        return run_attached(
            endpoints_from_json(args.endpoints), args.release, list(args.drills), args.out
        )
    except DrillError as exc:
        log.error("%s", exc)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
