"""Closed-loop Draft load in worker processes, so load threads never starve the runner's own probe.

Worker processes start ahead of the fault window (a Python start costs a few hundred ms), wait for
`go` on stdin, draft back to back on a few threads each until stdin closes, then print one JSON line
per Draft (monotonic start time, outcome). CLOCK_MONOTONIC is shared by every process of the
machine, so start times line up with the runner's phases.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import threading
import time
from dataclasses import asdict

from runner.probes.draft import DraftOutcome, HttpDraftProbe

THREADS_PER_PROCESS = 10


class LoadGenerator:
    """`workers` concurrent closed-loop Drafters spread over worker processes."""

    def __init__(self, draft_url: str, workers: int, timeout_s: float) -> None:
        self._processes: list[subprocess.Popen[str]] = []
        remaining = workers
        while remaining > 0:
            threads = min(THREADS_PER_PROCESS, remaining)
            remaining -= threads
            self._processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "runner.probes.loadgen",
                        draft_url,
                        str(threads),
                        str(timeout_s),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
            )

    def wait_ready(self, timeout_s: float) -> None:
        """Wait until every worker has started (each prints `ready`), at most `timeout_s` in all."""
        deadline = time.monotonic() + timeout_s
        for process in self._processes:
            assert process.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                if selector.select(max(deadline - time.monotonic(), 0.0)):
                    process.stdout.readline()

    def go(self) -> None:
        """Start drafting in every worker."""
        for process in self._processes:
            if process.stdin is not None:
                process.stdin.write("go\n")
                process.stdin.flush()

    def stop(self, timeout_s: float) -> list[tuple[float, DraftOutcome]]:
        """Tell the workers to stop, wait for their last Drafts, return every Draft they made."""
        results: list[tuple[float, DraftOutcome]] = []
        processes, self._processes = self._processes, []
        for process in processes:
            if process.stdin is not None:
                process.stdin.close()  # end of stdin: stop drafting
                process.stdin = None
        for process in processes:
            try:
                out, _ = process.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
            for line in out.splitlines():
                if not line.startswith("{"):
                    continue  # the `ready` line, if wait_ready did not read it
                record = json.loads(line)
                started = record.pop("started")
                results.append((started, DraftOutcome(**record)))
        return results


def _worker(draft_url: str, threads: int, timeout_s: float) -> None:
    go = threading.Event()
    stop = threading.Event()
    lock = threading.Lock()
    lines: list[str] = []

    def loop(probe: HttpDraftProbe) -> None:
        go.wait()
        try:
            while not stop.is_set():
                started = time.monotonic()
                outcome = probe.draft()
                with lock:
                    lines.append(json.dumps({"started": started, **asdict(outcome)}))
        finally:
            probe.close()

    # Clients and threads exist before `ready`, so drafting starts the moment `go` arrives.
    workers = [
        threading.Thread(target=loop, args=(HttpDraftProbe(draft_url, timeout_s),), daemon=True)
        for _ in range(threads)
    ]
    for thread in workers:
        thread.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if sys.stdin.readline().strip() != "go":  # closed before the window opened
        stop.set()
    go.set()
    if not stop.is_set():
        sys.stdin.read()  # the runner closes stdin to stop the load
    stop.set()
    for thread in workers:
        thread.join(timeout=timeout_s + 1.0)
    with lock:
        sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))


if __name__ == "__main__":
    _worker(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
