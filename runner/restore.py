"""Time-to-restore: from the start of a restore to the first enriched Draft, with milestones on the way."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from runner.clock import Clock
from runner.probes.draft import DraftOutcome, Probe
from runner.record import Milestone, MilestoneName
from runner.tls import shared_ssl_context

POLL_INTERVAL_S = 0.005  # MemoryKernel's side: a service coming up is not hammered
# The consumer's side: each check is itself an HTTP round trip of a few milliseconds, so the gap
# between two of them is kept far below it (the watch's resolution is check + gap).
CONSUMER_POLL_INTERVAL_S = 0.001
# The consumer's preflight route, polled beside its Drafts: each check makes the consumer call
# MemoryKernel as a Draft does, so polled as fast it would hold up the Drafts (the restore clock)
# behind it in the consumer; an enriched Draft proves the preflight ready anyway.
PREFLIGHT_POLL_INTERVAL_S = 0.005
CONSUMER_SIDE = (MilestoneName.PREFLIGHT_READY, MilestoneName.FIRST_ENRICHED_DRAFT)
CALL_TIMEOUT_S = 0.5


def watch_client() -> httpx.Client:
    """The watcher's HTTP client (made before the restore starts, so its set-up is not timed)."""
    return httpx.Client(timeout=CALL_TIMEOUT_S, verify=shared_ssl_context())


@dataclass
class MilestoneWatch:
    """Polls each milestone in order until the first enriched Draft or the deadline.

    Milestones are checked directly against MemoryKernel (service up, health with the expected
    contract versions, schema-version 200) and against the consumer (preflight ready, an enriched
    Draft made by the watcher itself, so the resolution is the poll interval, not the probe rate).
    """

    clock: Clock
    memorykernel_url: str
    # None: a consumer of yours, without the reference's routes: its preflight and pin are read
    # from its Draft answers (`enrichment.preflight`).
    consumer_url: str | None
    expected_versions: tuple[str, str]
    draft: Callable[[], DraftOutcome]
    reached: dict[MilestoneName, float] = field(default_factory=dict)
    resolution: dict[MilestoneName, float] = field(default_factory=dict)
    # The consumer's preflight route and its Drafts watched side by side (see
    # _consumer_side_together); off, one after the other, as a watch on a fake clock must.
    consumer_side_together: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    repinned_to: str | None = None  # a rollback re-pins the consumer to this release tag
    watched: list[MilestoneName] = field(default_factory=list)
    # Set by a restore with a step of its own before the consumer's milestones count (a proxy
    # flush): preflight and the first enriched Draft are watched only once it is set.
    consumer_gate: threading.Event | None = None
    # A consumer of yours: the last Draft answer a check read, and whether a check is to read it
    # again instead of asking for a new Draft (see _proves).
    _answer: DraftOutcome | None = field(default=None, repr=False)
    _reread: bool = field(default=False, repr=False)
    # The consumer's preflight polled on a thread of its own (see _consumer_side_together), and
    # whether the watch has ended: a check answering after that changes nothing reported.
    _preflight_poller: threading.Thread | None = field(default=None, repr=False)
    _ended: bool = field(default=False, repr=False)

    def run(
        self,
        started: float,
        deadline_s: float,
        http: httpx.Client | None = None,
        preflight_http: httpx.Client | None = None,
    ) -> list[Milestone]:
        """Watch from `started` (monotonic) for at most `deadline_s`; return every milestone.

        Each milestone is timed at the sending of the check that reached it, and carries its
        resolution: the time since the check before it was sent (one that found it not reached
        yet), or since the milestone before it when its first check reached it: the interval in
        which the watcher saw it happen. `http` and `preflight_http` are clients made beforehand
        (else they are made here, and the watch waits for a preflight check still on its way before
        closing them; with `preflight_http` given, call `finish` before closing it).
        """
        steps: list[tuple[MilestoneName, Callable[[], bool]]] = [
            (MilestoneName.SERVICE_UP, self._service_up),
            (MilestoneName.HEALTH_VERSIONS, self._health_versions),
            (MilestoneName.SCHEMA_READY, self._schema_ready),
            (MilestoneName.CONSUMER_REPINNED, self._consumer_repinned),
            (MilestoneName.PREFLIGHT_READY, self._preflight_ready),
            (MilestoneName.FIRST_ENRICHED_DRAFT, self._enriched_draft),
        ]
        end = started + deadline_s
        if self.repinned_to is None:
            steps = [step for step in steps if step[0] is not MilestoneName.CONSUMER_REPINNED]
        self.watched = [name for name, _ in steps]
        with contextlib.ExitStack() as owned:
            self._http = http if http is not None else owned.enter_context(watch_client())
            if preflight_http is None:
                self._preflight_http = owned.enter_context(watch_client())
                owned.callback(self.finish, CALL_TIMEOUT_S + 1.0)
            else:
                self._preflight_http = preflight_http
            since, previous = started, None
            for name, check in steps:
                if name in CONSUMER_SIDE:
                    gate = self.consumer_gate
                    waited = gate is not None and not gate.is_set()
                    if not self._gate_open(end):
                        return self._milestones()
                    if waited:  # a gate opened late: watched from its opening
                        since = max(since, self.clock.now())
                        self._answer = None  # an answer from before it proves nothing
                together = self.consumer_side_together and self.consumer_url is not None
                if name is MilestoneName.PREFLIGHT_READY and together:
                    self._consumer_side_together(started, since, end)
                    return self._milestones()
                if previous is not None and self._proves(check):
                    # the Draft answer that reached the milestone before reaches this one too
                    self._reach(name, since - started, self.resolution[previous])
                    previous = name
                    continue
                interval = CONSUMER_POLL_INTERVAL_S if name in CONSUMER_SIDE else POLL_INTERVAL_S
                asked = self._poll(name, check, started, since, end, interval)
                if asked is None:
                    return self._milestones()
                since, previous = asked, name
        return self._milestones()

    def _proves(self, check: Callable[[], bool]) -> bool:
        """Whether the Draft answer of yours that the last check read passes `check` as well.

        One answer can prove the pin, the preflight and an enriched Draft at once: a new Draft for
        each would add its whole round trip to the time of the next milestone.
        """
        if self.consumer_url is not None or self._answer is None:
            return False
        self._reread = True
        try:
            return check()
        finally:
            self._reread = False

    def _your_answer(self) -> DraftOutcome:
        """A Draft answer for a check of a consumer of yours: a new one, or the last one again."""
        if self._answer is None or not self._reread:
            self._answer = self.draft()
        return self._answer

    def _poll(
        self,
        name: MilestoneName,
        check: Callable[[], bool],
        started: float,
        since: float,
        end: float,
        interval: float,
        stop: threading.Event | None = None,
    ) -> float | None:
        """Check until true (the time that check was sent), the deadline or `stop` (None).

        Each check is timed when it is sent: a check that answers true proves the milestone was
        reached when it went out (its answer's way back is the check's own latency, not restore
        time), and one that answers false proves it was not yet reached when it went out.
        """
        while True:
            asked = self.clock.now()
            if check():
                break
            if self.clock.now() >= end or (stop is not None and stop.is_set()):
                return None
            since = asked
            self.clock.sleep(interval)
        self._reach(name, asked - started, asked - since)
        return asked

    def finish(self, timeout_s: float) -> None:
        """Wait for a preflight check still on its way when the watch ended (its client's use)."""
        poller = self._preflight_poller
        if poller is not None:
            poller.join(timeout=timeout_s)

    def _reach(self, name: MilestoneName, at_s: float, resolution_s: float) -> None:
        with self._lock:
            if self._ended:
                return
            if name not in self.reached or at_s < self.reached[name]:
                self.reached[name] = at_s
                self.resolution[name] = resolution_s

    def _consumer_side_together(self, started: float, since: float, end: float) -> None:
        """The consumer's preflight route and its Drafts, watched side by side: the first
        enriched Draft is not held up behind a preflight check still on its way, and proves the
        preflight ready too (the consumer enriches a Draft only once its preflight is).

        The watch ends with the first enriched Draft. A preflight check sent before it may still
        be on its way (one sent while the fault held the consumer's call to MemoryKernel waits up
        to its timeout): it can no longer move a milestone, so it is not waited for here.
        """
        drafted = threading.Event()

        def preflight() -> None:
            self._poll(
                MilestoneName.PREFLIGHT_READY,
                self._preflight_ready,
                started,
                since,
                end,
                PREFLIGHT_POLL_INTERVAL_S,
                stop=drafted,
            )

        self._preflight_poller = threading.Thread(
            target=preflight, name="restore-watch-preflight", daemon=True
        )
        self._preflight_poller.start()
        try:
            asked = self._poll(
                MilestoneName.FIRST_ENRICHED_DRAFT,
                self._enriched_draft,
                started,
                since,
                end,
                CONSUMER_POLL_INTERVAL_S,
            )
            if asked is not None:
                resolution = self.resolution[MilestoneName.FIRST_ENRICHED_DRAFT]
                self._reach(MilestoneName.PREFLIGHT_READY, asked - started, resolution)
        finally:
            drafted.set()

    def _gate_open(self, end: float) -> bool:
        gate = self.consumer_gate
        while gate is not None and not gate.is_set():
            if self.clock.now() >= end:
                return False
            gate.wait(POLL_INTERVAL_S)
        return True

    def _milestones(self) -> list[Milestone]:
        with self._lock:
            self._ended = True
        return [
            Milestone(
                name=name,
                at_s=self.reached.get(name),
                resolution_s=round(self.resolution[name], 4) if name in self.resolution else None,
            )
            for name in self.watched
        ]

    def _service_up(self) -> bool:
        parts = urlsplit(self.memorykernel_url)
        try:
            with socket.create_connection(
                (parts.hostname, parts.port or 80), timeout=CALL_TIMEOUT_S
            ):
                return True
        except OSError:
            return False

    def _json(
        self, method: str, url: str, client: httpx.Client | None = None
    ) -> dict[str, object] | None:
        try:
            response = (client or self._http).request(method, url)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        try:
            data = json.loads(response.content)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _health_versions(self) -> bool:
        data = self._json("GET", f"{self.memorykernel_url}/v1/health")
        if data is None:
            return False
        observed = (data.get("service_contract_version"), data.get("api_contract_version"))
        return observed == self.expected_versions

    def _schema_ready(self) -> bool:
        return self._json("POST", f"{self.memorykernel_url}/v1/db/schema-version") is not None

    def _consumer_repinned(self) -> bool:
        if self.consumer_url is None:  # yours: what its Draft answer's preflight says it carries
            said = self._your_answer().consumer_pin
            return said is not None and said.startswith(
                f"{self.repinned_to} {self.expected_versions[0]}/"
            )
        data = self._json("GET", f"{self.consumer_url}/v1/pin")
        return (
            data is not None
            and data.get("release_tag") == self.repinned_to
            and data.get("expected_service_contract_version") == self.expected_versions[0]
        )

    def _preflight_ready(self) -> bool:
        if self.consumer_url is None:  # yours: the preflight its Draft answer carries
            outcome = self._your_answer()
            return outcome.preflight_status == "ready" or (outcome.ok and outcome.applied)
        data = self._json("GET", f"{self.consumer_url}/v1/preflight", self._preflight_http)
        return data is not None and data.get("status") == "ready"

    def _enriched_draft(self) -> bool:
        outcome = self._your_answer() if self.consumer_url is None else self.draft()
        return outcome.ok and outcome.applied


class WatchThread:
    """The restore watcher, ready before the restore starts: its Draft probe and HTTP client made
    and its thread started, waiting; `start` hands it the watch, so none of that set-up, nor the
    thread's start, falls inside the time it measures."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.milestones: list[Milestone] = []
        self._http = watch_client()
        self._preflight_http = watch_client()
        self._watch: MilestoneWatch | None = None
        self._job: tuple[MilestoneWatch, float, float] | None = None
        self._go = threading.Event()
        self._thread = threading.Thread(target=self._run, name="restore-watch", daemon=True)
        self._thread.start()

    def start(self, watch: MilestoneWatch, started: float, deadline_s: float) -> None:
        """Watch from `started` (monotonic) for at most `deadline_s`."""
        self._job = (watch, started, deadline_s)
        self._go.set()

    def _run(self) -> None:
        self._go.wait()
        if self._job is not None:
            watch, started, deadline_s = self._job
            self._watch = watch
            self.milestones.extend(watch.run(started, deadline_s, self._http, self._preflight_http))

    def join(self, timeout_s: float) -> None:
        """Wait for the watch to end."""
        self._thread.join(timeout=timeout_s)

    def close(self) -> None:
        """End a thread never started on a watch; close the probe and the client."""
        if not self._go.is_set():
            self._go.set()
            self._thread.join(timeout=1.0)
        if self._watch is not None:
            self._watch.finish(CALL_TIMEOUT_S + 1.0)
        self.probe.close()
        self._http.close()
        self._preflight_http.close()
