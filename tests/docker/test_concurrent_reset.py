"""A concurrent `mkdrill env reset --backend compose` leaves a live run's containers alone."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from runner.backends.docker_client import LABEL_ROLE, LABEL_RUN_ID
from runner.backends.owner import LABEL_OWNER_HOST, LABEL_OWNER_PID, this_owner
from runner.images import BuildReport
from tests.docker.helpers import labelled
from tests.envs.concurrent import finish, mkdrill, start_live_run, wait_until_observing

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _leftovers_of_a_killed_run(client: docker.DockerClient, run_id: str) -> None:
    owner = {**this_owner(), LABEL_OWNER_PID: str(_dead_pid())}
    labels = {LABEL_RUN_ID: run_id, LABEL_ROLE: "network", **owner}
    # A volume, not a network: removing a network makes the engine rewrite its firewall rules,
    # which stalls every container's traffic for a moment (one 500 ms timeout seen in a live run).
    client.volumes.create(f"mkdrill-{run_id}_data", labels={**labels, LABEL_ROLE: "data"})


def _running(client: docker.DockerClient, run_id: str) -> int:
    filters = {"label": f"{LABEL_RUN_ID}={run_id}", "status": "running"}
    return len(client.containers.list(filters=filters))


@pytest.mark.slow
def test_a_concurrent_reset_leaves_a_live_compose_run_untouched(
    tmp_path: Path, reference_images: BuildReport, docker_client: docker.DockerClient
) -> None:
    out = tmp_path / "reports" / "live"
    killed = f"test-killed-{secrets.token_hex(3)}"
    run = start_live_run(tmp_path, out, "--backend", "compose")
    run_id = ""
    try:
        run_id = wait_until_observing(run, out, lambda rid: _running(docker_client, rid) == 3)
        live = labelled(docker_client, run_id)
        assert len([x for x in live if x.startswith("container ")]) == 3, live
        containers = docker_client.containers.list(filters={"label": f"{LABEL_RUN_ID}={run_id}"})
        assert all(c.labels[LABEL_OWNER_PID] == str(run.pid) for c in containers)
        assert all(c.labels[LABEL_OWNER_HOST] for c in containers)
        _leftovers_of_a_killed_run(docker_client, killed)

        # Another reports root: no lock in common, so only the owner labels protect the live run.
        reset = mkdrill(
            tmp_path, "env", "reset", "--backend", "compose", "--reports", "elsewhere",
            "--run", run_id, "--run", killed,
        )  # fmt: skip

        assert reset.returncode == 0, reset.stderr
        assert f"run {run_id} left alone: its runner (pid {run.pid}) is alive" in reset.stderr
        assert f"volume mkdrill-{killed}_data" in reset.stdout
        assert labelled(docker_client, killed) == []
        assert labelled(docker_client, run_id) == live
        report = finish(run, out)
        assert report["verdict"] == "passed", report["reason"]
        assert labelled(docker_client, run_id) == []  # the run cleaned up after itself
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
            if run_id:
                mkdrill(tmp_path, "env", "reset", "--backend", "compose", "--run", run_id, "--all")
        mkdrill(tmp_path, "env", "reset", "--backend", "compose", "--run", killed)
