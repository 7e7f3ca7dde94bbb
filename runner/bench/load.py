"""Machine load around a measurement: load average and the CPU other processes used meanwhile.

A benchmark figure means little without the load it was measured under: this machine is shared,
and a build beside a run can double its times. Each figure (and each side of a paired comparison)
is taken between two snapshots; the span between them says how many cores processes outside the
bench kept busy (CPU the whole machine used, from /proc/stat, minus this process and everything
it started), next to the 1-minute load average before and after.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

PROC_STAT = Path("/proc/stat")
# Sides whose other processes differ by more cores than this did not run on the same machine.
BUSIER_MARGIN_CORES = 0.25
# A figure is judged against its goal only when others used at most this many cores meanwhile
# and the load average stayed below QUIET_LOADAVG (the bench itself adds about one).
QUIET_CORES = 0.5
QUIET_LOADAVG = 1.5 + 1.0

T = TypeVar("T")


@dataclass(frozen=True)
class LoadSnapshot:
    """The machine at one instant: monotonic time, load average, CPU seconds (all, and ours)."""

    at: float
    loadavg_1m: float
    machine_cpu_s: float | None  # every process since boot; None where /proc/stat is unreadable
    own_cpu_s: float  # this process, its reaped children and its live descendants


@dataclass(frozen=True)
class LoadSpan:
    """What the machine did between two snapshots."""

    wall_s: float
    loadavg_before: float
    loadavg_after: float
    other_cpu_s: float | None  # CPU seconds of processes outside the bench

    @property
    def other_cores(self) -> float | None:
        """Cores kept busy by other processes, on average over the span."""
        if self.other_cpu_s is None or self.wall_s <= 0:
            return None
        return max(0.0, self.other_cpu_s / self.wall_s)

    @property
    def quiet(self) -> bool:
        """Quiet enough to judge a figure against its goal."""
        cores = self.other_cores
        return (
            cores is not None
            and cores <= QUIET_CORES
            and max(self.loadavg_before, self.loadavg_after) < QUIET_LOADAVG
        )

    def describe(self) -> str:
        """`others 0.12 cores, load 0.8→1.1`."""
        cores = self.other_cores
        busy = f"others {cores:.2f} cores" if cores is not None else "others unknown"
        return f"{busy}, load {self.loadavg_before:.2f}→{self.loadavg_after:.2f}"

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LoadSpan:
        """Read back `as_json`'s form (bench.json of an earlier run)."""
        other = data.get("other_cpu_s")
        return cls(
            wall_s=float(data["wall_s"]),  # type: ignore[arg-type]
            loadavg_before=float(data["loadavg_1m_before"]),  # type: ignore[arg-type]
            loadavg_after=float(data["loadavg_1m_after"]),  # type: ignore[arg-type]
            other_cpu_s=None if other is None else float(other),  # type: ignore[arg-type]
        )

    def as_json(self) -> dict[str, object]:
        """The bench.json form."""
        cores = self.other_cores
        return {
            "wall_s": round(self.wall_s, 3),
            "loadavg_1m_before": round(self.loadavg_before, 2),
            "loadavg_1m_after": round(self.loadavg_after, 2),
            "other_cpu_s": None if self.other_cpu_s is None else round(self.other_cpu_s, 3),
            "other_cores": None if cores is None else round(cores, 3),
            "quiet": self.quiet,
        }


def machine_cpu_s(stat: Path = PROC_STAT) -> float | None:
    """CPU seconds every process used since boot (user, nice, system, irq, softirq, steal)."""
    try:
        first = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu" or len(first) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process, the children it reaped and every live descendant."""
    mine = os.times()
    total = mine.user + mine.system + mine.children_user + mine.children_system
    try:
        descendants = psutil.Process().children(recursive=True)
    except psutil.Error:
        descendants = []
    for child in descendants:
        try:
            times = child.cpu_times()
        except psutil.Error:  # gone meanwhile: its time is in its parent's reaped children now
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def snapshot() -> LoadSnapshot:
    """The machine now."""
    return LoadSnapshot(
        at=time.monotonic(),
        loadavg_1m=os.getloadavg()[0],
        machine_cpu_s=machine_cpu_s(),
        own_cpu_s=own_cpu_s(),
    )


def between(before: LoadSnapshot, after: LoadSnapshot) -> LoadSpan:
    """The span from `before` to `after`."""
    other = None
    if before.machine_cpu_s is not None and after.machine_cpu_s is not None:
        other = (after.machine_cpu_s - before.machine_cpu_s) - (after.own_cpu_s - before.own_cpu_s)
    return LoadSpan(
        wall_s=after.at - before.at,
        loadavg_before=before.loadavg_1m,
        loadavg_after=after.loadavg_1m,
        other_cpu_s=other,
    )


@contextmanager
def measured_load() -> Iterator[list[LoadSpan]]:
    """`with measured_load() as span:` … `span[0]` is the load of the block once it has ended."""
    spans: list[LoadSpan] = []
    before = snapshot()
    try:
        yield spans
    finally:
        spans.append(between(before, snapshot()))


def with_load(measure: Callable[[], T]) -> tuple[T, LoadSpan]:
    """Run `measure`; its result and the load while it ran."""
    with measured_load() as span:
        result = measure()
    return result, span[0]


def overall(spans: Sequence[LoadSpan]) -> LoadSpan:
    """Several spans taken together: wall and other CPU summed, first and last load average."""
    if not spans:
        raise ValueError("no load spans to combine")
    others = [s.other_cpu_s for s in spans]
    return LoadSpan(
        wall_s=sum(s.wall_s for s in spans),
        loadavg_before=spans[0].loadavg_before,
        loadavg_after=spans[-1].loadavg_after,
        other_cpu_s=None if any(o is None for o in others) else sum(o or 0.0 for o in others),
    )


def busier_side(a: LoadSpan, b: LoadSpan) -> str | None:
    """ "a" or "b" when that side's other processes kept clearly more cores busy; None: comparable.

    Unknown load on either side is never comparable: "unknown".
    """
    ca, cb = a.other_cores, b.other_cores
    if ca is None or cb is None:
        return "unknown"
    if ca - cb > BUSIER_MARGIN_CORES:
        return "a"
    if cb - ca > BUSIER_MARGIN_CORES:
        return "b"
    return None
