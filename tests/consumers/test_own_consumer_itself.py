"""The stand-in consumer is what the end-to-end runs say it is: ~100 ms of CPU per Draft, AssistSupport's
variables only, fresh on every Draft, and nothing of mkdrill inside it."""

from __future__ import annotations

import ast
import json
import select
import subprocess
import sys
from typing import Any

import httpx
import psutil

from runner.pins import default_pin_path
from tests.consumers.helpers import OWN_CONSUMER, consumer_environment, free_port

PIN = default_pin_path("v0.4.0")


def one_draft(*args: str, **variables: str) -> dict[str, Any]:
    """One Draft by command: its answer."""
    done = subprocess.run(
        [sys.executable, str(OWN_CONSUMER), "draft", "--pin", str(PIN), *args],
        capture_output=True, text=True, timeout=60, env=consumer_environment(**variables),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def served_cpu_per_draft(drafts: int, *args: str, **variables: str) -> float:
    """CPU seconds (user + system) the serving consumer spends per Draft, over `drafts` Drafts.

    Measured on a consumer already serving, so no interpreter start is in the figure (that varies
    by tens of milliseconds of CPU from one process to the next).
    """
    process = subprocess.Popen(
        [sys.executable, str(OWN_CONSUMER), "serve", "--pin", str(PIN), "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=consumer_environment(**variables),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30.0)
        assert ready, "the consumer printed no ready line in 30 s"
        url = process.stdout.readline().split("listening on ", 1)[1].strip() + "/v1/draft"
        consumer = psutil.Process(process.pid)
        with httpx.Client(timeout=30.0) as client:
            client.post(url, json={"ticket": "warm-up"}).raise_for_status()
            before = consumer.cpu_times()
            for index in range(drafts):
                answer = client.post(url, json={"ticket": f"ticket {index}"})
                assert answer.status_code == 200, answer.text
                assert answer.json()["enrichment"]["fallback_reason"] == "offline"
            after = consumer.cpu_times()
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    spent = (after.user - before.user) + (after.system - before.system)
    return spent / drafts


def test_a_draft_costs_100_ms_of_cpu_as_the_real_adapters_client_does() -> None:
    offline = f"http://127.0.0.1:{free_port()}"  # nothing listens: a fallback, quickly
    answer = one_draft(ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL=offline)
    assert answer["enrichment"]["fallback_reason"] == "offline"
    assert answer["draft"]  # the Draft is answered all the same
    per_draft_s = served_cpu_per_draft(10, ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL=offline)
    bare_s = served_cpu_per_draft(10, "--cpu-ms", "0", ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL=offline)
    # the same Drafts without their CPU burn: the calls and the HTTP serving cost the rest
    assert per_draft_s - bare_s >= 0.09, (per_draft_s, bare_s)


def test_it_reads_assistsupports_variables_fresh_and_calls_where_they_say() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    answer = one_draft(ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL=base)
    assert answer["enrichment"]["preflight"]["base_url"] == base
    off = one_draft(ASSISTSUPPORT_ENABLE_MEMORY_KERNEL="0")
    assert off["enrichment"]["fallback_reason"] == "feature-disabled"
    unset = one_draft()  # an unconfigured build calls its pin's default_base_url
    pin = json.loads(PIN.read_text())
    assert unset["enrichment"]["preflight"]["base_url"] == pin["default_base_url"]


def test_it_holds_nothing_of_mkdrill_and_reads_only_assistsupports_variables() -> None:
    tree = ast.parse(OWN_CONSUMER.read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    read = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and ast.unparse(node.func) == "os.environ.get"
        and isinstance(node.args[0], ast.Constant)
    }
    assert read == {
        "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL",
        "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL",
        "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS",
    }
    # nothing else of the environment: every os.environ is one of those reads (no [...], no copy)
    environ = [n for n in ast.walk(tree) if ast.unparse(n) == "os.environ"]
    gets = [
        n for n in ast.walk(tree)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "os.environ.get"
    ]  # fmt: skip
    assert len(environ) == len(gets) == 3
    assert "getenv" not in ast.unparse(tree)
