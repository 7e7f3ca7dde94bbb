"""After each drill: prove consumer → proxy → MemoryKernel answers promptly, repair what the drill
left, and record on that drill what was wrong, with evidence.

A drill must leave the environment as it found it, and one drill must never fail the next. A real
Toxiproxy can be left jammed (behind a frozen MemoryKernel its serial accept loop keeps a hung
dial and a queue of clients long gone), a service stopped, a toxic behind. So the path is checked
with a few Drafts before the next drill; when they are not enriched, the parts are looked at one
by one (MemoryKernel directly, the proxy's port, its API state, its sockets), the broken part is
repaired, and the check runs again. The next drill starts only on a path proven healthy; a path
that cannot be repaired marks the drill as an environment error, which ends the run (exit 3).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from runner.clock import Clock
from runner.errors import DrillError
from runner.faults.catalog import FaultContext, wait_memorykernel_health
from runner.faults.proxy_flush import FLUSH_API_TIMEOUT_S, flush_proxy
from runner.faults.toxiproxy import ToxiproxyControl
from runner.probes.draft import DraftOutcome, Probe
from runner.record import Assertion, DrillResult, PathCheck, PathRepair, Phase, Verdict
from runner.sockets import listener_view, read_table
from runner.tls import shared_ssl_context

log = logging.getLogger(__name__)

DRAFTS_IN_A_ROW = 3
FIRST_ATTEMPTS = 5  # a healthy path answers at once: 3 enriched of the first 5 Drafts, in a row
RECHECK_S = 10.0  # after a repair the path may take a moment to settle
DIRECT_TIMEOUT_S = 1.0


@dataclass
class PathEvidence:
    """What each part of the path answered, in words, and which parts failed."""

    drafts: str
    memorykernel: str
    memorykernel_ok: bool
    through_proxy: str
    through_proxy_ok: bool
    proxy: str
    proxy_state: dict[str, Any] | None
    drift: list[str] = field(default_factory=list)
    sockets: str = "unavailable"

    def as_dict(self) -> dict[str, str]:
        """The report form."""
        return {
            "drafts": self.drafts,
            "memorykernel": self.memorykernel,
            "through_proxy": self.through_proxy,
            "proxy": self.proxy,
            "sockets": self.sockets,
        }

    def broken(self) -> bool:
        """Whether a part of the path itself failed (not only the Drafts)."""
        return bool(self.drift) or not self.memorykernel_ok or not self.through_proxy_ok

    def problem(self) -> str:
        """One line: what did not answer, and the part that looks broken."""
        parts = [f"Drafts: {self.drafts}"]
        parts.append(f"MemoryKernel directly: {self.memorykernel}")
        parts.append(f"through the proxy: {self.through_proxy}")
        parts.append(f"proxy: {self.proxy}")
        parts.append(f"sockets: {self.sockets}")
        return "; ".join(parts)


Repair = tuple[str, Callable[[], None]]


class PathGuard:
    """Checks (and repairs) the path between drills; see the module docstring."""

    def __init__(
        self, ctx: FaultContext, probe_factory: Callable[[float], Probe], clock: Clock
    ) -> None:
        self.ctx = ctx
        self.clock = clock
        self._probe_factory = probe_factory
        self._api = ToxiproxyControl(ctx.endpoints.toxiproxy_url, timeout=FLUSH_API_TIMEOUT_S)
        self._last: list[DraftOutcome] = []

    # the check ----------------------------------------------------------------------------------

    def after(self, result: DrillResult) -> DrillResult:
        """The drill's result with the path check (and, if the path was broken, its verdict)."""
        started = self.clock.now()
        # Evidence is taken at the first Draft that fails: a jam can drain while the check goes on.
        seen: list[PathEvidence] = []

        def first_failure() -> None:
            if not seen:
                seen.append(self._evidence())

        if self._answers(RECHECK_S, attempts=FIRST_ATTEMPTS, on_failure=first_failure):
            check = PathCheck(healthy=True, repaired=True, seconds=self._since(started))
            return result.model_copy(update={"path_check": check})
        first = evidence = seen[0] if seen else self._evidence()
        evidence.drafts = self._drafts_seen()
        problem = evidence.problem()
        if not evidence.broken() and self._answers(RECHECK_S):
            # Every part answered on its own and the Drafts came back: slow (a busy machine), not
            # broken. Noted, never held against the drill.
            check = PathCheck(
                healthy=True,
                problem=f"slow to answer, no part broken: {problem}",
                evidence=first.as_dict(),
                repaired=True,
                seconds=self._since(started),
            )
            return result.model_copy(update={"path_check": check})
        log.warning("%s left the path broken: %s", result.name, problem)
        repairs: list[PathRepair] = []
        tried: set[str] = set()
        repaired = False
        while (step := self._next_repair(evidence, tried)) is not None:
            action, run = step
            tried.add(action)
            began = self.clock.now()
            outcome = ""
            try:
                run()
            except DrillError as exc:
                outcome = f"failed: {exc}; "
            repaired = self._answers(RECHECK_S)
            outcome += "the path answers" if repaired else "the path still does not answer"
            repairs.append(PathRepair(action=action, seconds=self._since(began), outcome=outcome))
            if repaired:
                break
            evidence = self._evidence()
        check = PathCheck(
            healthy=False,
            problem=problem,
            evidence=first.as_dict(),
            repairs=repairs,
            repaired=repaired,
            seconds=self._since(started),
        )
        return judged(result, check)

    def _since(self, started: float) -> float:
        return round(self.clock.now() - started, 3)

    def _answers(
        self,
        within_s: float,
        attempts: int | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> bool:
        """DRAFTS_IN_A_ROW enriched Drafts in a row within `within_s` (and `attempts` Drafts);
        `on_failure` is called after each Draft that is not enriched."""
        deadline = self.clock.now() + within_s
        probe = self._probe_factory(within_s)
        self._last = []
        streak = 0
        try:
            while self.clock.now() < deadline and len(self._last) < (attempts or 1 << 30):
                outcome = probe.draft()
                self._last.append(outcome)
                streak = streak + 1 if outcome.ok and outcome.applied else 0
                if streak >= DRAFTS_IN_A_ROW:
                    return True
                if not (outcome.ok and outcome.applied):
                    if on_failure is not None:
                        on_failure()
                    self.clock.sleep(0.05)
        finally:
            probe.close()
        return False

    # evidence -----------------------------------------------------------------------------------

    def _evidence(self) -> PathEvidence:
        endpoints = self.ctx.endpoints
        direct_ok, direct = _health(f"{endpoints.memorykernel_url}/v1/health")
        proxied_ok, proxied = _health(f"http://{endpoints.proxy_listen}/v1/health")
        state, described, drift = self._proxy_state()
        return PathEvidence(
            drafts=self._drafts_seen(),
            memorykernel=direct,
            memorykernel_ok=direct_ok,
            through_proxy=proxied,
            through_proxy_ok=proxied_ok,
            proxy=described,
            proxy_state=state,
            drift=drift,
            sockets=self._sockets(state),
        )

    def _drafts_seen(self) -> str:
        enriched = sum(o.ok and o.applied for o in self._last)
        failed = [o for o in self._last if not (o.ok and o.applied)]
        text = f"{enriched} of {len(self._last)} enriched"
        if failed:
            last = failed[-1]
            why = last.fallback_reason or last.error or f"HTTP {last.http_status}"
            text += f", last: {why}" + (f" ({last.message[:160]})" if last.message else "")
        return text

    def _proxy_state(self) -> tuple[dict[str, Any] | None, str, list[str]]:
        name = self.ctx.endpoints.proxy_name
        try:
            state = self._api.proxy(name)
        except DrillError as exc:
            return None, f"API did not answer: {exc}", []
        if state is None:
            return None, f"no proxy {name!r}", [f"proxy {name!r} missing"]
        upstream = self.ctx.env.memorykernel_upstream()
        toxics = [str(t.get("name")) for t in state.get("toxics") or []]
        drift = []
        if not state.get("enabled"):
            drift.append("disabled")
        if toxics:
            drift.append(f"toxics left: {', '.join(toxics)}")
        if state.get("upstream") != upstream:
            drift.append(f"upstream {state.get('upstream')} (MemoryKernel is at {upstream})")
        described = (
            f"{name} {'enabled' if state.get('enabled') else 'disabled'} on {state.get('listen')} "
            f"-> {state.get('upstream')}, toxics: {', '.join(toxics) or 'none'}"
        )
        return state, described, drift

    def _sockets(self, state: dict[str, Any] | None) -> str:
        pid = self.ctx.env.proxy_pid()
        if pid is None or state is None:
            return "unavailable: mkdrill does not run this Toxiproxy, or it has no proxy"
        try:
            listen_port = _port(str(state.get("listen")))
            upstream_port = _port(self.ctx.env.memorykernel_upstream())
            return listener_view(read_table(pid), listen_port, upstream_port).describe()
        except (OSError, ValueError) as exc:
            return f"unavailable: {exc}"

    # repairs ------------------------------------------------------------------------------------

    def _next_repair(self, evidence: PathEvidence, tried: set[str]) -> Repair | None:
        """The repair for the part that looks broken, each tried at most once."""
        env, name = self.ctx.env, self.ctx.endpoints.proxy_name
        release = env.memorykernel_release
        candidates: list[tuple[bool, Repair]] = [
            (
                bool(evidence.drift) and evidence.proxy_state is not None,
                (f"restore proxy {name} ({'; '.join(evidence.drift)})", self._restore_proxy),
            ),
            (
                not evidence.memorykernel_ok,
                (f"restart MemoryKernel {release}", self._restart_memorykernel),
            ),
            (
                evidence.memorykernel_ok and not evidence.through_proxy_ok,
                (f"flush proxy {name}", lambda: flush_proxy(self.ctx)),
            ),
            (
                evidence.memorykernel_ok and not evidence.through_proxy_ok,
                (f"re-create proxy {name}", self._recreate_proxy),
            ),
            (
                evidence.through_proxy_ok and self.ctx.target.can_restart,
                ("restart the consumer", lambda: self.ctx.target.restart(self.ctx.consumer)),
            ),
        ]
        for applies, repair in candidates:
            if applies and repair[0] not in tried:
                return repair
        return None

    def _restore_proxy(self) -> None:
        state = self._api.proxy(self.ctx.endpoints.proxy_name) or {}
        self._api.ensure_proxy(
            self.ctx.endpoints.proxy_name,
            str(state.get("listen", self.ctx.endpoints.proxy_listen)),
            self.ctx.env.memorykernel_upstream(),
        )

    def _recreate_proxy(self) -> None:
        name = self.ctx.endpoints.proxy_name
        state = self._api.proxy(name) or {}
        listen = str(state.get("listen", self.ctx.endpoints.proxy_listen))
        self._api.delete_proxy(name)
        self._api.ensure_proxy(name, listen, self.ctx.env.memorykernel_upstream())

    def _restart_memorykernel(self) -> None:
        env = self.ctx.env
        env.unpause_memorykernel()
        env.reconnect_network()
        env.start_memorykernel(env.memorykernel_release)
        wait_memorykernel_health(self.ctx, after="the restart")


def _port(address: str) -> int:
    """The port of "host:port" or "[v6]:port"; ValueError if there is none."""
    return int(address.rpartition(":")[2])


def _health(url: str) -> tuple[bool, str]:
    """GET a health route on a fresh connection: (answered 200, what it answered)."""
    started = time.monotonic()
    try:
        with httpx.Client(timeout=DIRECT_TIMEOUT_S, verify=shared_ssl_context()) as client:
            response = client.get(url, headers={"Connection": "close"})
    except httpx.HTTPError as exc:
        return False, f"no answer in {DIRECT_TIMEOUT_S:g} s ({type(exc).__name__})"
    elapsed = (time.monotonic() - started) * 1000
    return response.status_code == 200, f"{response.status_code} in {elapsed:.1f} ms"


def judged(result: DrillResult, check: PathCheck) -> DrillResult:
    """The result with the path check as a failed assertion: FAILED if repaired, else ERROR."""
    repairs = "; ".join(f"{r.action} ({r.seconds:.1f} s): {r.outcome}" for r in check.repairs)
    observed = f"{check.problem}; repairs: {repairs or 'none found'}"
    assertion = Assertion(
        name="path_restored",
        phase=Phase.VERIFY,
        expected=f"consumer → proxy → MemoryKernel answers after the drill "
        f"({DRAFTS_IN_A_ROW} enriched Drafts in a row)",
        observed=observed,
        passed=False,
    )
    if check.repaired:
        verdict = Verdict.FAILED if result.verdict is not Verdict.ERROR else result.verdict
        reason = f"left the path broken, repaired before the next drill: {observed}"
    else:
        verdict = Verdict.ERROR
        reason = f"the path consumer → proxy → MemoryKernel could not be repaired after this drill: {observed}"
    if result.verdict is Verdict.FAILED:
        reason += f" (the drill also failed: {result.reason})"
    log.warning("%s: %s", result.name, reason)
    return result.model_copy(
        update={
            "path_check": check,
            "assertions": [*result.assertions, assertion],
            "verdict": verdict,
            "reason": reason,
        }
    )
