"""The stand-in consumer is what the end-to-end runs say it is: ~100 ms of CPU per Draft, AssistSupport's
variables only, fresh on every Draft, and nothing of mkdrill inside it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from runner.pins import default_pin_path
from tests.consumers.helpers import OWN_CONSUMER, consumer_environment, free_port

PIN = default_pin_path("v0.4.0")


def one_draft(*args: str, **variables: str) -> tuple[dict[str, Any], float]:
    """One Draft by command, and the CPU seconds (user + system) its own process spent.

    Read from that child's wait4, not from RUSAGE_CHILDREN: every Popen reaps finished children of
    earlier tests on its way, and their CPU would land in the difference.
    """
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(
            [sys.executable, str(OWN_CONSUMER), "draft", "--pin", str(PIN), *args],
            stdout=subprocess.PIPE, stderr=errors, env=consumer_environment(**variables),
        )  # fmt: skip
        assert child.stdout is not None
        with child.stdout:
            output = child.stdout.read()  # to the end: the child has exited or closed it
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        assert child.returncode == 0, errors.read().decode(errors="replace")
    return json.loads(output), usage.ru_utime + usage.ru_stime


def test_a_draft_costs_100_ms_of_cpu_as_the_real_adapters_client_does() -> None:
    offline = f"http://127.0.0.1:{free_port()}"  # nothing listens: a fallback, quickly
    answer, cpu_s = one_draft(ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL=offline)
    assert answer["enrichment"]["fallback_reason"] == "offline"
    assert answer["draft"]  # the Draft is answered all the same
    _, bare_s = one_draft("--cpu-ms", "0", ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL=offline)
    # the same Draft without its CPU burn: the interpreter's start and the calls cost the rest
    assert cpu_s - bare_s >= 0.09, (cpu_s, bare_s)


def test_it_reads_assistsupports_variables_fresh_and_calls_where_they_say() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    answer, _ = one_draft(ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL=base)
    assert answer["enrichment"]["preflight"]["base_url"] == base
    off, _ = one_draft(ASSISTSUPPORT_ENABLE_MEMORY_KERNEL="0")
    assert off["enrichment"]["fallback_reason"] == "feature-disabled"
    unset, _ = one_draft()  # an unconfigured build calls its pin's default_base_url
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
