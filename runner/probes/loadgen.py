"""Closed-loop Draft load in worker processes, so load threads never starve the runner's own probe.

Worker processes start ahead of the fault window (a Python start costs a few hundred ms), wait for
`go` on stdin, draft back to back on a few threads each until stdin closes, then print one JSON line
per Draft (monotonic start time, which Drafter, outcome) and a last `done N` line. CLOCK_MONOTONIC
is shared by every process of the machine, so start times line up with the runner's phases. A
consumer of yours run as a command gets the environment of the fault window on the `go` line (the
fault is on by then).

A worker that never says ready, exits on its own, or ends without its `done` line lost Drafts: that
is a ProbeError (the instrument broke), never a quiet shortfall of load.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import IO

from runner.errors import ProbeError
from runner.probes.draft import CommandProbe, DraftOutcome, HttpDraftProbe, Probe

THREADS_PER_PROCESS = 10
DONE = "done"


@dataclass(frozen=True)
class LoadDraft:
    """One Draft of the load: when it started (monotonic), which Drafter made it, how it went."""

    started: float
    drafter: str
    outcome: DraftOutcome


@dataclass(frozen=True)
class LoadTarget:
    """What the load drafts against: the consumer under test's Draft URL, or its command."""

    url: str | None = None
    command: str | None = None
    env: Callable[[], Mapping[str, str]] | None = None  # the command's environment, read at `go`

    def argv(self) -> list[str]:
        """How a worker is told its target."""
        return ["command", self.command] if self.command else ["url", self.url or ""]


class LoadGenerator:
    """`workers` concurrent closed-loop Drafters spread over worker processes."""

    def __init__(self, target: LoadTarget, workers: int, timeout_s: float) -> None:
        self.workers = workers
        self._target = target
        self._processes: list[subprocess.Popen[str]] = []
        self._stderr: list[IO[str]] = []
        remaining = workers
        while remaining > 0:
            threads = min(THREADS_PER_PROCESS, remaining)
            remaining -= threads
            stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 closed in stop()
            self._stderr.append(stderr)
            self._processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "runner.probes.loadgen",
                        *target.argv(),
                        str(threads),
                        str(timeout_s),
                        str(len(self._processes)),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                )
            )

    def _trouble(self, index: int, what: str) -> ProbeError:
        process, stderr = self._processes[index], self._stderr[index]
        stderr.seek(0)
        tail = " | ".join(stderr.read().strip().splitlines()[-3:]) or "no output"
        return ProbeError(
            f"load worker {index} (pid {process.pid}) {what}; its last words: {tail}. "
            "The load's Drafts cannot be judged: rerun, or lower --load"
        )

    def wait_ready(self, timeout_s: float) -> None:
        """Wait until every worker has started (each prints `ready`); ProbeError if one does not."""
        deadline = time.monotonic() + timeout_s
        for index, process in enumerate(self._processes):
            assert process.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                ready = bool(selector.select(max(deadline - time.monotonic(), 0.0)))
                line = process.stdout.readline().strip() if ready else ""
            if line != "ready":
                code = process.poll()
                what = (
                    f"exited with code {code} before saying ready"
                    if code is not None
                    else f"did not say ready within {timeout_s:.0f} s"
                )
                raise self._trouble(index, what)

    def go(self) -> None:
        """Start drafting in every worker (a command's with the environment it has now)."""
        env = self._target.env
        line = f"go {json.dumps(dict(env()))}\n" if env is not None else "go\n"
        for process in self._processes:
            if process.stdin is not None:
                # A worker that died already is reported by stop(), with its exit code.
                with contextlib.suppress(OSError):
                    process.stdin.write(line)
                    process.stdin.flush()

    def stop(self, timeout_s: float) -> list[LoadDraft]:
        """Tell the workers to stop, wait for their last Drafts, return every Draft they made.

        ProbeError when a worker had to be killed, exited with an error or lost its output.
        """
        results: list[LoadDraft] = []
        troubles: list[ProbeError] = []
        processes, self._processes = self._processes, []
        for process in processes:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()  # end of stdin: stop drafting
                process.stdin = None
        self._processes = processes
        for index, process in enumerate(processes):
            try:
                out, _ = process.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
                troubles.append(
                    self._trouble(index, f"was still drafting {timeout_s:.0f} s after stop")
                )
                continue
            lines = [line for line in out.splitlines() if line.strip()]
            if process.returncode != 0:
                troubles.append(self._trouble(index, f"exited with code {process.returncode}"))
                continue
            if not lines or not lines[-1].startswith(f"{DONE} "):
                troubles.append(self._trouble(index, "ended without its done line (Drafts lost)"))
                continue
            drafts = [line for line in lines if line.startswith("{")]
            if int(lines[-1].split()[1]) != len(drafts):
                troubles.append(
                    self._trouble(index, f"reported {lines[-1]} but wrote {len(drafts)}")
                )
                continue
            for line in drafts:
                record = json.loads(line)
                started, drafter = record.pop("started"), record.pop("drafter")
                results.append(LoadDraft(started, drafter, DraftOutcome(**record)))
        self._processes = []
        for stderr in self._stderr:
            stderr.close()
        self._stderr = []
        if troubles:
            raise troubles[0]
        return results


def _worker(kind: str, target: str, threads: int, timeout_s: float, index: int = 0) -> None:
    go = threading.Event()
    stop = threading.Event()
    lock = threading.Lock()
    lines: list[str] = []
    command_env: dict[str, str] = {}

    def new_probe() -> Probe:
        if kind == "command":
            return CommandProbe(target, timeout_s, env=lambda: command_env)
        return HttpDraftProbe(target, timeout_s)

    def loop(probe: Probe, drafter: str) -> None:
        go.wait()
        try:
            while not stop.is_set():
                started = time.monotonic()
                outcome = probe.draft()
                with lock:
                    lines.append(
                        json.dumps({"started": started, "drafter": drafter, **asdict(outcome)})
                    )
        finally:
            probe.close()

    # Clients and threads exist before `ready`, so drafting starts the moment `go` arrives.
    workers = [
        threading.Thread(target=loop, args=(new_probe(), f"{index}-{n}"), daemon=True)
        for n in range(threads)
    ]
    for thread in workers:
        thread.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    word, _, env_json = sys.stdin.readline().strip().partition(" ")
    if word != "go":  # closed before the window opened
        stop.set()
    elif env_json:
        command_env.update(json.loads(env_json))
    go.set()
    if not stop.is_set():
        sys.stdin.read()  # the runner closes stdin to stop the load
    stop.set()
    for thread in workers:
        thread.join(timeout=timeout_s + 1.0)
    with lock:
        sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
        sys.stdout.write(f"{DONE} {len(lines)}\n")


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
