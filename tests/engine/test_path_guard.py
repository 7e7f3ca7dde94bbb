"""One drill never fails the next: a drill that jams the proxy is recorded, repaired, and alone red.

The jam is the one a real Toxiproxy showed behind a frozen MemoryKernel, reproduced on the
embedded proxy (which copies its serial accept-then-dial loop): MemoryKernel here is the
reference service with the small listen backlog of Python's socketserver (5), brought as one's
own binary. Frozen, its queue fills at once, the proxy's next dial hangs in SYN-SENT and every
later client waits in the proxy's own listen queue. Resumed, MemoryKernel answers directly at
once, but the proxy accepts nobody until the kernel resends that dial's SYN; stopping the proxy,
as a real Toxiproxy does, waits for that dial too.

One run of two drills: a freeze whose restore does not flush the proxy (the jam stays behind),
then the catalog's offline-paused, which freezes MemoryKernel again and flushes the proxy as part
of its restore.
"""

from __future__ import annotations

import itertools
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import REPO, mkdrill, read_report

# The module fixture is made once: every test of this file runs on one pytest-xdist worker.
pytestmark = [pytest.mark.xdist_group("path-guard"), pytest.mark.slow]

SMALL_BACKLOG_MEMORYKERNEL = f"""#!{sys.executable}
import socket, sys
_listen = socket.socket.listen
socket.socket.listen = lambda self, backlog=5: _listen(self, min(backlog, 5))  # socketserver's 5
from runner.cli import main
sys.argv = ["mkdrill", "serve", "memorykernel", "--release", "{{release}}", *sys.argv[1:]]
main()
"""

SYSCTL = Path("/proc/sys/net/ipv4")
# From the freeze to the proxy's first hung dial: MemoryKernel's queue (6) fills with the first
# connections the Drafts open (0.3 s measured on a loaded machine); allowed up to this much.
FIRST_HUNG_DIAL_S = 2.5
# From the resume to the path check's first failed Draft: the restore watch (budget 0.5 s + 5 s
# grace), verify (10 s), one Draft waiting out the consumer's timeout, and room for a busy machine.
RESUME_TO_CHECK_S = 25.0
FAST_CONSUMER = ["--consumer-timeout-ms", "500"]  # the fast profile: the jam does not depend on it


def syn_resends_s() -> list[float]:
    """Seconds after a connect's first SYN at which Linux resends it, ending when the connect
    gives up: tcp_syn_linear_timeouts (Linux 6.5 on, default 4) resends 1 s apart, one more than
    that number of times; then each wait doubles (1, 3, 7, 15, 31, 63 s without linear ones);
    it gives up after tcp_syn_retries doubling waits or later (at 127 s for 6, the last here)."""
    linear_file = SYSCTL / "tcp_syn_linear_timeouts"
    linear = int(linear_file.read_text()) if linear_file.exists() else 0
    gives_up = 2.0 ** (int((SYSCTL / "tcp_syn_retries").read_text()) + 1) - 1
    waits = itertools.chain([1.0] * (linear + 1), (2.0**n for n in itertools.count(1)))
    resends = itertools.takewhile(lambda t: t < gives_up, itertools.accumulate(waits))
    return [*resends, gives_up]


def freeze_window_s() -> float:
    """A freeze that ends just after a SYN resend of the proxy's hung dial and long before the
    next one (or the connect giving up), so the jam certainly outlasts the drill."""
    resends = syn_resends_s()
    for sent, following in itertools.pairwise(resends):
        if following - sent > FIRST_HUNG_DIAL_S + RESUME_TO_CHECK_S:
            return sent + FIRST_HUNG_DIAL_S
    pytest.skip(f"this kernel resends a SYN too often to keep a dial hung: {resends}")


FREEZE = """name: freeze-no-flush
description: MemoryKernel frozen; the restore only resumes it.
suites: [nightly]
fault: {{kind: pause}}
window_s: {window_s}
expect:
  during: fallback
  fallback_reasons: [offline]
recover: {{kind: remove_fault, budget_s: 0.5}}
"""


def small_backlog_binaries(folder: Path) -> list[str]:
    flags = []
    for release in ("v0.3.2", "v0.4.0"):
        script = folder / f"memorykernel-backlog5-{release}"
        script.write_text(SMALL_BACKLOG_MEMORYKERNEL.replace("{release}", release))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        flags += ["--memorykernel-bin", f"{release}={script}"]
    return flags


@dataclass(frozen=True)
class JamRun:
    """The finished run: its process, report and summary."""

    done: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    summary: str

    def drill(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = next(d for d in self.report["drills"] if d["name"] == name)
        return found


@pytest.fixture(scope="module")
def jam_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JamRun]:
    if not (SYSCTL / "tcp_syn_retries").exists():
        pytest.skip("needs Linux: the jam is timed by its SYN resends, read from /proc")
    workdir = tmp_path_factory.mktemp("jam")
    drills = workdir / "drills"
    drills.mkdir()
    (drills / "freeze-no-flush.yaml").write_text(FREEZE.format(window_s=freeze_window_s()))
    shutil.copy(REPO / "drills" / "offline-paused.yaml", drills)
    out = workdir / "reports" / "jam"
    done = mkdrill(
        "run", "freeze-no-flush", "offline-paused", "--drills-dir", str(drills), "--out", str(out),
        *FAST_CONSUMER, *small_backlog_binaries(workdir), cwd=workdir, timeout=300,
    )  # fmt: skip
    assert (out / "report.json").exists(), done.stdout + done.stderr
    yield JamRun(done, read_report(out), (out / "summary.md").read_text())


def test_a_jammed_proxy_is_recorded_on_its_drill_and_the_next_drill_passes(jam_run: JamRun) -> None:
    done, report = jam_run.done, jam_run.report
    assert done.returncode == 1, done.stdout + done.stderr  # a drill failed; nothing else broke
    assert [d["name"] for d in report["drills"]] == ["freeze-no-flush", "offline-paused"]
    jammer = jam_run.drill("freeze-no-flush")
    assert jammer["verdict"] == "failed"
    assert jammer["reason"].startswith("left the path broken, repaired before the next drill")
    check = jammer["path_check"]
    assert check["healthy"] is False and check["repaired"] is True
    # The evidence names the jam: MemoryKernel answers directly, the proxy does not; it holds a
    # dial in SYN-SENT and clients it has not accepted yet.
    evidence = check["evidence"]
    assert evidence["memorykernel"].startswith("200 in ")
    assert evidence["through_proxy"].startswith("no answer in ")
    assert evidence["drafts"].startswith("0 of "), evidence["drafts"]
    queued = int(evidence["sockets"].split("listen queue ")[1].split(",")[0])
    assert queued > 0, evidence["sockets"]
    assert "SYN-SENT×1" in evidence["sockets"], evidence["sockets"]
    # What was repaired and how long it took: flushing waits for the hung dial, as a real
    # Toxiproxy's stop does, and the path answers after it.
    repairs, proxy = check["repairs"], evidence["proxy"].split()[0]
    assert [r["action"] for r in repairs] == [f"flush proxy {proxy}"], repairs
    assert repairs[0]["outcome"] == "the path answers"
    assert 0 < repairs[0]["seconds"] <= check["seconds"]
    assert [a["name"] for a in jammer["assertions"] if not a["passed"]][-1] == "path_restored"
    # One cause, reported once: the next drill (which freezes MemoryKernel again) passes.
    after = jam_run.drill("offline-paused")
    assert after["verdict"] == "passed", after["reason"]
    assert after["path_check"]["healthy"] is True and after["path_check"]["problem"] is None
    assert report["verdict"] == "failed"
    assert "1 of 2 drills failed: freeze-no-flush" in report["reason"]
    assert "Path checked after each drill" in jam_run.summary
    assert f"flush proxy {proxy}" in jam_run.summary


def test_offline_paused_flushes_the_proxy_and_measures_the_restore(jam_run: JamRun) -> None:
    """The catalog's freeze flushes the proxy as part of its restore: behind the MemoryKernel that
    jams the proxy above, it passes, and the milestones show the flush in its place."""
    drill = jam_run.drill("offline-paused")
    assert drill["verdict"] == "passed", drill["reason"]
    milestones = drill["time_to_restore"]["milestones"]
    names = [m["name"] for m in milestones]
    # In time order; MemoryKernel's own milestones may come before or after the flush (it waits
    # for MemoryKernel to answer directly too), the consumer's are counted only once it is done.
    assert names[-2:] == ["preflight_ready", "first_enriched_draft"]
    assert sorted(names[:-2]) == ["health_versions", "proxy_flushed", "schema_ready", "service_up"]
    times = [m["at_s"] for m in milestones]
    assert None not in times and times == sorted(times)
    assert drill["time_to_restore_s"] == pytest.approx(times[-1], abs=1e-3)
