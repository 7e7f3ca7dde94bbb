"""The incident: a scenario's faults injected on their schedule (at once or one after another), undone on demand.

Injection goes through the fault catalog (`runner.faults.catalog.inject`), so every drill fault
kind works here with its own idempotent undo. Faults due at the start go in before `start`
returns; later ones, and the removal of those with a `for_s`, happen on a thread. `stop` (the fix,
or the cleanup) cancels what is not due yet and undoes what is on, newest first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runner.clock import Clock
from runner.errors import DrillError
from runner.faults.catalog import FaultContext, Undo, inject
from runner.rehearsal.entries import FaultProgress
from runner.rehearsal.scenario import ScheduledFault
from runner.spec import describe_fault

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaultChange:
    """A fault went in (`removed_by` None) or came out, at monotonic `at`; `error` if it failed."""

    index: int
    at: float
    removed_by: str | None = None
    error: DrillError | None = None


def fault_progress(schedule: Sequence[ScheduledFault]) -> list[FaultProgress]:
    """The state's view of a schedule, before anything is injected."""
    return [FaultProgress(s.fault.kind, describe_fault(s.fault), s.at_s) for s in schedule]


class Incident:
    """Injects a schedule of faults and undoes them; every change is reported to `notify`."""

    def __init__(
        self,
        schedule: Sequence[ScheduledFault],
        ctx: FaultContext,
        clock: Clock,
        notify: Callable[[FaultChange], None],
    ) -> None:
        self._schedule = list(schedule)
        self._ctx = ctx
        self._clock = clock
        self._notify = notify
        self._lock = threading.Lock()
        self._active: dict[int, Undo] = {}  # index → undo, in injection order
        self._injected: set[int] = set()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._origin = 0.0

    @property
    def active(self) -> list[int]:
        """Indexes of the faults that are on now."""
        with self._lock:
            return list(self._active)

    @property
    def all_due_injected(self) -> bool:
        """Every fault of the schedule has gone in (or the incident was stopped)."""
        with self._lock:
            return self._stopped.is_set() or len(self._injected) == len(self._schedule)

    def start(self, origin: float) -> None:
        """Inject the faults due at `origin`; the rest follow on a thread. Errors propagate."""
        self._origin = origin
        for index, scheduled in enumerate(self._schedule):
            if scheduled.at_s == 0:
                self._inject(index)
        later = [i for i, s in enumerate(self._schedule) if s.at_s > 0 or s.for_s is not None]
        if later:
            self._thread = threading.Thread(target=self._run, name="incident", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        # (time after origin, index, True = inject / False = remove), in time order
        plan = sorted(
            [(s.at_s, i, True) for i, s in enumerate(self._schedule) if s.at_s > 0]
            + [
                (s.at_s + s.for_s, i, False)
                for i, s in enumerate(self._schedule)
                if s.for_s is not None
            ]
        )
        for due, index, going_in in plan:
            while not self._stopped.is_set():
                left = self._origin + due - self._clock.now()
                if left <= 0:
                    break
                self._stopped.wait(min(left, 0.05))
            if self._stopped.is_set():
                return
            try:
                if going_in:
                    self._inject(index)
                else:
                    self._remove(index, "schedule")
            except DrillError as exc:
                self._notify(FaultChange(index, self._clock.now(), error=exc))
                return

    def _inject(self, index: int) -> None:
        with self._lock:
            if self._stopped.is_set():
                return
            undo = inject(self._schedule[index].fault, self._ctx)
            self._active[index] = undo
            self._injected.add(index)
        self._notify(FaultChange(index, self._clock.now()))

    def _remove(self, index: int, by: str) -> None:
        with self._lock:
            undo = self._active.pop(index, None)
        if undo is not None:
            undo()
            self._notify(FaultChange(index, self._clock.now(), removed_by=by))

    def stop(self, by: str = "fix") -> list[str]:
        """Cancel what is not due yet and undo what is on, newest first; the faults undone.

        Idempotent; one failed undo does not stop the others (the first error is raised after).
        """
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30.0)
        removed: list[str] = []
        first_error: Exception | None = None
        for index in reversed(self.active):
            try:
                self._remove(index, by)
                removed.append(describe_fault(self._schedule[index].fault))
            except Exception as exc:  # the others are still undone
                log.warning(
                    "undoing %s failed: %s", describe_fault(self._schedule[index].fault), exc
                )
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return removed
