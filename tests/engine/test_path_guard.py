"""One drill never fails the next: a drill that jams the proxy is recorded, repaired, and alone red.

The jam is the one a real Toxiproxy showed behind a frozen MemoryKernel, reproduced on the
embedded proxy (which copies its serial accept-then-dial loop): MemoryKernel here is the
reference service with the small listen backlog of Python's socketserver (5), brought as one's
own binary. Frozen, its queue fills at once, the proxy's dial hangs, every later client waits in
the proxy's queue; resumed, the proxy dials for the dead clients in bursts its queue cannot take,
each SYN dropped costs a second, and the path stays jammed while Drafts keep coming. Stopping
the proxy, as a real Toxiproxy does, waits for the dial in progress.
"""

from __future__ import annotations

import shutil
import stat
import sys
from pathlib import Path

import pytest

from tests.engine.conftest import REPO, mkdrill, read_report

SMALL_BACKLOG_MEMORYKERNEL = f"""#!{sys.executable}
import socket, sys
_listen = socket.socket.listen
socket.socket.listen = lambda self, backlog=5: _listen(self, min(backlog, 5))  # socketserver's 5
from runner.cli import main
sys.argv = ["mkdrill", "serve", "memorykernel", "--release", "{{release}}", *sys.argv[1:]]
main()
"""

# A freeze whose restore does not flush the proxy (offline-paused does): the jam stays behind.
# Made certain by the kernel's SYN retries, not by how fast anything drains: the proxy's dial,
# hung since MemoryKernel's queue filled (at once), is retried 1, 3, 7, 15 and 31 s later, then
# not before 63 s. Resumed at 33 s, MemoryKernel answers directly at once, but the proxy accepts
# nobody until that retry, well after the restore window (5.5 s) and verify (10 s) are over.
FREEZE = """name: freeze-no-flush
description: MemoryKernel frozen; the restore only resumes it.
suites: [nightly]
fault: {kind: pause}
window_s: 33
expect:
  during: fallback
  fallback_reasons: [offline]
recover: {kind: remove_fault, budget_s: 0.5}
"""


def small_backlog_binaries(folder: Path) -> list[str]:
    flags = []
    for release in ("v0.3.2", "v0.4.0"):
        script = folder / f"memorykernel-backlog5-{release}"
        script.write_text(SMALL_BACKLOG_MEMORYKERNEL.replace("{release}", release))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        flags += ["--memorykernel-bin", f"{release}={script}"]
    return flags


def test_a_jammed_proxy_is_recorded_on_its_drill_and_the_next_drill_passes(
    workdir: Path,
) -> None:
    drills = workdir / "drills"
    drills.mkdir()
    (drills / "freeze-no-flush.yaml").write_text(FREEZE)
    shutil.copy(REPO / "drills" / "disabled.yaml", drills)
    out = workdir / "reports" / "jam"
    done = mkdrill(
        "run", "freeze-no-flush", "disabled", "--drills-dir", str(drills), "--out", str(out),
        *small_backlog_binaries(workdir), cwd=workdir, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # a drill failed; nothing else broke
    report = read_report(out)
    jammer, after = report["drills"]
    assert [jammer["name"], after["name"]] == ["freeze-no-flush", "disabled"]

    assert jammer["verdict"] == "failed"
    assert jammer["reason"].startswith("left the path broken, repaired before the next drill")
    check = jammer["path_check"]
    assert check["healthy"] is False and check["repaired"] is True
    # The evidence names the jam: MemoryKernel answers directly, the proxy does not; it holds a
    # dial in SYN-SENT, or clients it has not accepted yet.
    evidence = check["evidence"]
    assert evidence["memorykernel"].startswith("200 in ")
    assert evidence["through_proxy"].startswith("no answer in ")
    queued = int(evidence["sockets"].split("listen queue ")[1].split(",")[0])
    assert queued > 0 or "SYN-SENT" in evidence["sockets"], evidence["sockets"]
    assert "SYN-SENT" in evidence["sockets"], evidence["sockets"]
    actions = [r["action"] for r in check["repairs"]]
    assert actions[-1].startswith("flush proxy"), actions
    assert check["repairs"][-1]["outcome"].endswith("the path answers")
    assert any(a["name"] == "path_restored" and not a["passed"] for a in jammer["assertions"])

    assert after["verdict"] == "passed", after["reason"]
    assert after["path_check"]["healthy"] is True
    assert "1 of 2 drills failed: freeze-no-flush" in report["reason"]
    assert "Path checked after each drill" in (out / "summary.md").read_text()


def test_offline_paused_flushes_the_proxy_and_measures_the_restore(workdir: Path) -> None:
    """The catalog's freeze flushes the proxy as part of its restore: behind the same MemoryKernel
    that jams the proxy above, it passes, and the milestones show the flush in its place."""
    out = workdir / "reports" / "paused"
    done = mkdrill(
        "run", "offline-paused", "--out", str(out), *small_backlog_binaries(workdir), cwd=workdir
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    drill = read_report(out)["drills"][0]
    assert drill["path_check"]["healthy"] is True
    milestones = drill["time_to_restore"]["milestones"]
    names = [m["name"] for m in milestones]
    # In time order; MemoryKernel's own milestones may come before or after the flush (it waits
    # for MemoryKernel to answer directly too), the consumer's are counted only once it is done.
    assert names[-2:] == ["preflight_ready", "first_enriched_draft"]
    assert sorted(names[:-2]) == ["health_versions", "proxy_flushed", "schema_ready", "service_up"]
    times = [m["at_s"] for m in milestones]
    assert None not in times and times == sorted(times)
    assert drill["time_to_restore_s"] == pytest.approx(times[-1], abs=1e-3)
