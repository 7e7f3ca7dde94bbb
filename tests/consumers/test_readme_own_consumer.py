"""README "Drill your own consumer", run as written: the test consumer drilled by URL and by command.

The block starts tests/consumers/own_consumer.py with its own environment only (it inherits this
test's, where ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS=500 is the fast profile of the suite, the way
MKDRILL_CONSUMER_TIMEOUT_MS=500 is mkdrill's), then runs the nightly suite against it twice. By URL,
the consumer-side drills are listed not applicable and everything else passes; by command, the
disabled flag and the timeout reach the consumer through its environment and pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.backends.listen_address import ListenAddress, describe_holder, ensure_free
from runner.errors import EnvironmentProblem
from tests.machine_share import ALONE_GROUP

REPO = Path(__file__).resolve().parents[2]
CONSUMER_SIDE = {"disabled", "version-mismatch-consumer-ahead"}

# Its consumer spends 100 ms of CPU per Draft (a Python start per Draft by command): it runs alone
# on the machine (tests/conftest.py).
pytestmark = pytest.mark.xdist_group(ALONE_GROUP)


def readme_block() -> str:
    section = (
        (REPO / "README.md").read_text(encoding="utf-8").split("## Drill your own consumer", 1)[1]
    )
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def reports(root: Path) -> dict[str, dict[str, Any]]:
    """report.json of each run under root, by the kind of consumer it drilled."""
    found = {}
    for path in root.glob("*/report.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[data["consumer"]["kind"]] = data
    return found


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_readme_lines_drill_your_own_consumer_by_url_and_by_command(tmp_path: Path) -> None:
    for port in (4010, 4020):  # the README's addresses: the pin's default_base_url, the consumer
        try:
            ensure_free(ListenAddress("127.0.0.1", port))
        except EnvironmentProblem:
            pytest.skip(
                f"127.0.0.1:{port} is taken by {describe_holder(port)}; the README needs it"
            )
    for name in ("tests", "runner"):  # the README runs from the repository root
        (tmp_path / name).symlink_to(REPO / name)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS": "500",
    }
    log = tmp_path / "readme.log"  # a file, not a pipe: the consumer in the background shares it
    with log.open("w") as out:
        shell = subprocess.Popen(
            ["bash", "-e", "-c", readme_block()], cwd=tmp_path, env=env, start_new_session=True,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            shell.wait(timeout=1700)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGTERM)  # the consumer, if a line failed before `kill`
    output = log.read_text()
    assert shell.returncode == 0, output[-4000:]
    runs = reports(tmp_path / "reports")
    by_url, by_command = runs["url"], runs["command"]

    for run, absent in ((by_url, CONSUMER_SIDE), (by_command, {"version-mismatch-consumer-ahead"})):
        verdicts = {d["name"]: d["verdict"] for d in run["drills"]}
        assert {n for n, v in verdicts.items() if v == "not_applicable"} == absent, verdicts
        assert {v for n, v in verdicts.items() if n not in absent} == {"passed"}, verdicts
        assert len(verdicts) >= 20 and run["verdict"] == "passed"
        capacity = run["consumer"]["capacity"]
        assert capacity["drafts_per_s"] > 0 and capacity["enriched"] == capacity["drafts"]
        assert run["consumer"]["pin"] == "v0.4.0 service.v3/api.v1"
    assert (
        "N/A  [" in output and "not applicable: disabled, version-mismatch-consumer-ahead" in output
    )

    assert by_url["consumer"]["target"] == "http://127.0.0.1:4020/v1/draft"
    assert "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL" in by_url["consumer"]["not_applied"]
    reason = next(d["reason"] for d in by_url["drills"] if d["name"] == "disabled")
    assert "--consumer-restart-command" in reason

    drills = {d["name"]: d for d in by_command["drills"]}
    assert drills["disabled"]["fallback_reasons"].keys() == {"feature-disabled"}
    assert drills["slow-ask-timeout"]["fallback_reasons"].keys() == {"timeout"}
    assert drills["latency-above-timeout"]["fallback_reasons"].keys() == {"offline"}
    applied = by_command["consumer"]["applied"]
    assert applied["ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS"].startswith(
        "500 (set in the environment"
    )
