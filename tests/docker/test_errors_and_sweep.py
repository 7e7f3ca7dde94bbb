"""Docker unreachable, a missing image, and sweeping what a SIGKILLed owner left."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from runner.backends.base import ConsumerSettings
from runner.backends.compose import ComposeEnvironment, reset_all
from runner.errors import EnvironmentProblem
from runner.images import BuildReport
from runner.pins import Pin
from tests.docker.conftest import RELEASE, new_environment
from tests.docker.helpers import labelled

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

REPO_ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "unix:///nonexistent"


def test_unreachable_docker_is_one_line_exit_3(monkeypatch: pytest.MonkeyPatch, pin: Pin) -> None:
    monkeypatch.setenv("DOCKER_HOST", UNREACHABLE)
    env = ComposeEnvironment("unreachable")
    with pytest.raises(EnvironmentProblem) as caught:
        env.up(RELEASE, ConsumerSettings(pin=pin))
    env.down()
    message = str(caught.value)
    assert caught.value.exit_code == 3
    assert "\n" not in message
    assert message.startswith(f"Docker engine not reachable at {UNREACHABLE}: ")
    assert message.endswith("; start Docker or use --backend local")


def test_unreachable_docker_from_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": UNREACHABLE}
    result = subprocess.run(
        [sys.executable, "-m", "runner", "env", "status", "--backend", "compose"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"mkdrill: Docker engine not reachable at {UNREACHABLE}: ")


def test_images_build_on_unreachable_docker_and_with_an_unknown_release(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": UNREACHABLE}
    for arguments, code, start in (
        (["--offline-base"], 3, f"mkdrill: Docker engine not reachable at {UNREACHABLE}: "),
        (["--release", "v9.9.9"], 2, "mkdrill: --release v9.9.9: no reference MemoryKernel"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "runner", "images", "build", *arguments],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == code, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(start), result.stderr


def test_missing_image_names_the_tag_and_the_build_command(
    docker_client: docker.DockerClient, reference_images: BuildReport, run_id: str, pin: Pin
) -> None:
    env = new_environment(run_id, memorykernel_image="mkdrill-absent-repository")
    with pytest.raises(EnvironmentProblem) as caught:
        env.up(RELEASE, ConsumerSettings(pin=pin))
    env.down()
    message = str(caught.value)
    assert "image mkdrill-absent-repository:v0.4.0 not found" in message
    assert "mkdrill images build --offline-base" in message
    assert labelled(docker_client, run_id) == []

    env = new_environment(run_id, consumer_image="mkdrill-assistsupport:absent")
    with pytest.raises(EnvironmentProblem, match=r"mkdrill-assistsupport:absent not found"):
        env.up(RELEASE, ConsumerSettings(pin=pin))
    env.down()


OWNER = """
import sys, threading
from runner.backends.base import ConsumerSettings
from runner.backends.compose import ComposeEnvironment
from runner.images import toxiproxy_image
from runner.pins import default_pin_path, load_pin

env = ComposeEnvironment(sys.argv[1], toxiproxy_image=toxiproxy_image())
env.up("v0.4.0", ConsumerSettings(pin=load_pin(default_pin_path("v0.4.0"))))
env.toxiproxy.add_toxic("memorykernel", "latency", "downstream", {"latency": 1000})
env.start_responder("passthrough")
print("UP", flush=True)
threading.Event().wait(600)  # until killed
"""


def test_reset_all_sweeps_what_a_sigkilled_owner_left(
    docker_client: docker.DockerClient, reference_images: BuildReport, run_id: str
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, run_id],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert owner.stdout is not None
        deadline = time.monotonic() + 120
        line = ""
        while not line and time.monotonic() < deadline and owner.poll() is None:
            ready, _, _ = select.select([owner.stdout], [], [], 1.0)
            if ready:
                line = owner.stdout.readline().strip()
        assert line == "UP", f"the owner never came up (exit {owner.poll()})"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
        if owner.stdout is not None:
            owner.stdout.close()

    leftovers = labelled(docker_client, run_id)
    assert len([item for item in leftovers if item.startswith("container ")]) == 4
    removed = reset_all(docker_client, run_id=run_id)
    assert any(item.startswith("toxics of ") and "toxiproxy" in item for item in removed)
    assert sorted(item for item in removed if not item.startswith("toxics of ")) == sorted(
        leftovers
    )
    assert labelled(docker_client, run_id) == []
    assert reset_all(docker_client, run_id=run_id) == []
