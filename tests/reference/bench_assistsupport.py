"""Benchmark of the reference consumer on loopback (not a test).

Run: `python -m tests.reference.bench_assistsupport`.

Measures, against the reference MemoryKernel (seeded, patched ask body, 3 HTTP calls per draft):
draft latency p50/p95/p99 one at a time, drafts/s with several clients, draft latency while
MemoryKernel hangs (timeout 500 ms), and start-to-ready of `mkdrill serve assistsupport`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from runner.backends.local import free_port
from runner.backends.processes import start_answering
from runner.faults.responder import FaultResponder
from runner.pins import default_pin_path, load_pin
from runner.probes.seed import seed_policy
from runner.reference.assistsupport import AssistSupportServer
from runner.reference.memorykernel import MemoryKernelServer

BODY = json.dumps({"ticket": "Customer cannot sync the desktop client after the update."}).encode()


def _drafts(port: int, count: int) -> list[float]:
    """`count` drafts over one keep-alive connection; latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            conn.request("POST", "/v1/draft", BODY, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status != 200 or b'"applied":true' not in payload:
                raise SystemExit(f"unexpected draft answer: {response.status} {payload[:200]!r}")
    finally:
        conn.close()
    return latencies


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _throughput(port: int, clients: int, seconds: float) -> float:
    done = [0] * clients
    stop_at = time.perf_counter() + seconds

    def worker(index: int) -> None:
        while time.perf_counter() < stop_at:
            _drafts(port, 10)
            done[index] += 10

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


def _start_to_ready(pin: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner",
                "serve",
                "assistsupport",
                "--pin",
                str(pin),
                "--port",
                "0",
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        times.append((time.perf_counter() - started) * 1000)
        proc.terminate()
        proc.communicate(timeout=10)
        if "listening on" not in line:
            raise SystemExit(f"no ready line: {line!r}")
    return times


def _spawn(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start `mkdrill serve ...` and return the process and the URL from its ready line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "serve", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise SystemExit(f"no ready line from {args[0]}: {line!r}")
    return proc, line.rsplit("listening on ", 1)[1].split()[0]


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.communicate(timeout=10)


def _separate_processes(
    release: str, pin_path: Path, count: int, clients: int, seconds: float
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mk_port = free_port()
        mk_url = f"http://127.0.0.1:{mk_port}"
        mk_process = start_answering(
            "memorykernel",
            [
                sys.executable,
                "-m",
                "runner",
                "serve",
                "memorykernel",
                "--release",
                release,
                "--db",
                f"{tmp}/mk.db",
                "--bind",
                f"127.0.0.1:{mk_port}",
            ],
            Path(tmp) / "mk.log",
            mk_url,
        )
        mk = mk_process.process
        try:
            seed_policy(mk_url)
            consumer, url = _spawn(
                ["assistsupport", "--pin", str(pin_path), "--port", "0"],
                {"ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": mk_url},
            )
            try:
                port = int(url.rsplit(":", 1)[1])
                _drafts(port, 50)
                latencies = _drafts(port, count)
                rate = _throughput(port, clients, seconds)
            finally:
                _stop(consumer)
        finally:
            _stop(mk)
    print(f"separate processes (consumer, MemoryKernel, client), {count} drafts")
    print(
        f"  draft latency ms: p50 {statistics.median(latencies):.2f}  "
        f"p95 {_quantile(latencies, 0.95):.2f}  p99 {_quantile(latencies, 0.99):.2f}"
    )
    print(f"  throughput: {rate:.0f} drafts/s with {clients} clients")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", default="v0.4.0")
    parser.add_argument("--drafts", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    pin_path = default_pin_path(args.release)
    pin = load_pin(pin_path)
    _separate_processes(args.release, pin_path, args.drafts, args.clients, args.seconds)
    with (
        tempfile.TemporaryDirectory() as tmp,
        MemoryKernelServer(args.release, Path(tmp) / "mk.db") as mk,
    ):
        seed_policy(mk.url)
        env = {"ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": mk.url}
        with AssistSupportServer(pin, env=env) as consumer:
            _drafts(consumer.port, 50)
            latencies = _drafts(consumer.port, args.drafts)
            rate = _throughput(consumer.port, args.clients, args.seconds)
        print(f"one process (consumer and MemoryKernel share a GIL), {args.drafts} drafts")
        print(
            f"  draft latency ms: p50 {statistics.median(latencies):.2f}  "
            f"p95 {_quantile(latencies, 0.95):.2f}  p99 {_quantile(latencies, 0.99):.2f}  "
            f"max {max(latencies):.2f}"
        )
        print(f"  throughput: {rate:.0f} drafts/s with {args.clients} clients")
        with FaultResponder(mk.url, "hang") as hang:
            env = {
                "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL": hang.url,
                "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS": "500",
            }
            with AssistSupportServer(pin, env=env) as consumer:
                conn = http.client.HTTPConnection("127.0.0.1", consumer.port, timeout=30)
                hung = []
                for _ in range(10):
                    started = time.perf_counter()
                    conn.request("POST", "/v1/draft", BODY, {"Content-Type": "application/json"})
                    reply = conn.getresponse()
                    reply.read()
                    hung.append((time.perf_counter() - started) * 1000)
                    assert reply.status == 200
                conn.close()
        print(
            f"  hanging MemoryKernel, timeout 500 ms: draft latency ms "
            f"min {min(hung):.1f}  p50 {statistics.median(hung):.1f}  max {max(hung):.1f}"
        )
    ready = _start_to_ready(pin_path, 5)
    print(
        f"  start-to-ready (mkdrill serve assistsupport, new process): "
        f"p50 {statistics.median(ready):.0f} ms  max {max(ready):.0f} ms"
    )
    started = time.perf_counter()
    with AssistSupportServer(pin):
        in_process = (time.perf_counter() - started) * 1000
    print(f"  start-to-ready in process: {in_process:.2f} ms")


if __name__ == "__main__":
    main()
