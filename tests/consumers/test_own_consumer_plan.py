"""The plan of a run on a consumer of yours: where the proxy listens, and the reference's flags refused.

Dry runs only (nothing starts): with --probe-url or --probe-command the MemoryKernel proxy listens
at the pin's default_base_url, where an unconfigured AssistSupport build calls, on both backends;
the flags that choose the reference consumer's code (--ask-body, --consumer-defect) are bad input
for yours instead of being dropped in silence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.consumers.helpers import pin_calling
from tests.engine.conftest import mkdrill

URL = "http://127.0.0.1:4020/v1/draft"
PROBES = {
    "url": ("--probe-url", URL),
    "command": ("--probe-command", "my-consumer draft", "--allow-command-probe"),
}


def proxy_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("consumer under test:"))


@pytest.mark.parametrize("backend", ["local", "compose"])
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_the_proxy_listens_at_the_pins_default_base_url(
    tmp_path: Path, backend: str, probe: str
) -> None:
    done = mkdrill("run", "--dry-run", "--backend", backend, *PROBES[probe], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert proxy_line(done.stdout).endswith("MemoryKernel proxy at 127.0.0.1:4010")


def test_the_proxy_follows_the_default_base_url_of_the_consumers_pin(tmp_path: Path) -> None:
    pin = pin_calling(tmp_path, "v0.4.0", 4711)
    done = mkdrill("run", "--dry-run", "--probe-url", URL, "--consumer-pin", str(pin), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert proxy_line(done.stdout).endswith("MemoryKernel proxy at 127.0.0.1:4711")
    flagged = mkdrill(
        "run", "--dry-run", "--probe-url", URL, "--consumer-pin", str(pin),
        "--proxy-listen", "127.0.0.1:4999", cwd=tmp_path,
    )  # fmt: skip
    assert proxy_line(flagged.stdout).endswith("MemoryKernel proxy at 127.0.0.1:4999")


def test_the_reference_consumer_gets_a_free_port(tmp_path: Path) -> None:
    done = mkdrill("run", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert proxy_line(done.stdout).endswith("MemoryKernel proxy at a free loopback port")


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        (("--ask-body", "shipped"), "mkdrill cannot choose what your consumer sends"),
        (("--ask-body", "patched"), "mkdrill cannot choose what your consumer sends"),
        (("--consumer-defect", "draft-blocks"), "mkdrill cannot change your consumer's code"),
    ],
)
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_flags_of_the_reference_consumer_are_bad_input_for_yours(
    tmp_path: Path, probe: str, flag: tuple[str, str], says: str
) -> None:
    done = mkdrill("run", "--dry-run", *PROBES[probe], *flag, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and flag[0] in lines[0] and says in lines[0], done.stderr
    assert not (tmp_path / "reports").exists()


def test_the_ask_body_variable_of_the_reference_is_left_unused_for_yours(tmp_path: Path) -> None:
    """MKDRILL_ASK_BODY set for the reference consumer's runs: yours is drilled, nothing claimed."""
    done = mkdrill(
        "run", "--dry-run", "contract-shipped-ask-body", "degraded", *PROBES["url"],
        cwd=tmp_path, env={"MKDRILL_ASK_BODY": "shipped"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ask body your consumer's own" in done.stdout and "ask body shipped" not in done.stdout
    # its ask-body drill is not applicable, never run as if the body were chosen
    row = next(line for line in done.stdout.splitlines() if line.startswith("contract-shipped"))
    assert "mkdrill cannot choose the ask body" in row


@pytest.mark.parametrize(("probe", "assumed"), [("url", True), ("command", False)])
def test_a_timeout_mkdrill_cannot_set_is_said_to_be_assumed(
    tmp_path: Path, probe: str, assumed: bool
) -> None:
    done = mkdrill(
        "run", "--dry-run", *PROBES[probe], "--consumer-timeout-ms", "700", cwd=tmp_path
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = proxy_line(done.stdout)
    assert "timeout 700 ms" in line
    assert ("(assumed: mkdrill cannot set it there)" in line) is assumed, line
