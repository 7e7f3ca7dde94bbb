"""`mkdrill run --backend compose --probe-url`: your consumer on the host, MemoryKernel in containers.

The stand-in consumer (tests/consumers/own_consumer.py, 100 ms of CPU per Draft) is started with
its own environment only and calls its pin's default_base_url; mkdrill publishes the Toxiproxy
proxy exactly there and starts no reference consumer container.
"""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest

from runner.images import BuildReport
from tests.consumers.helpers import consumer_environment, free_port, own_consumer, pin_calling
from tests.docker.helpers import labelled
from tests.engine.conftest import mkdrill
from tests.machine_share import ALONE_GROUP

# Whole drill runs on containers: CPU-heavy, they run alone on the machine (tests/conftest.py).
pytestmark = [
    pytest.mark.docker,
    pytest.mark.timeout(1500),
    pytest.mark.xdist_group(ALONE_GROUP),
]
CONSUMER_SIDE = {"disabled", "version-mismatch-consumer-ahead"}


@pytest.mark.slow
def test_your_consumer_passes_the_nightly_on_compose_with_consumer_side_drills_not_applicable(
    tmp_path: Path, reference_images: BuildReport, docker_client: docker.DockerClient
) -> None:
    pin = pin_calling(tmp_path, "v0.4.0", free_port())
    out = tmp_path / "reports" / "compose-own"
    env = consumer_environment(ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS="500")  # the fast profile
    with own_consumer(pin, env=env) as url:
        done = mkdrill(
            "run", "--backend", "compose", "--probe-url", url, "--consumer-pin", str(pin),
            "--out", str(out), cwd=tmp_path, timeout=1400,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    verdicts = {d["name"]: d["verdict"] for d in report["drills"]}
    assert {n for n, v in verdicts.items() if v == "not_applicable"} == CONSUMER_SIDE
    assert {v for n, v in verdicts.items() if n not in CONSUMER_SIDE} == {"passed"}, verdicts
    assert report["backend"] == "compose" and report["verdict"] == "passed"
    assert (
        report["consumer"]["kind"] == "url" and report["consumer"]["capacity"]["drafts_per_s"] > 0
    )
    assert not any("assistsupport" in image for image in report["images"])  # no reference one
    assert report["consumer"]["target"] == url
    assert "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL" in report["consumer"]["not_applied"]
    # every restore reached its consumer's milestones, read from its Draft answers: none null
    restores = [d["time_to_restore"] for d in report["drills"] if d["time_to_restore"]]
    assert restores and all(m["at_s"] is not None for r in restores for m in r["milestones"]), (
        restores
    )
    assert all("preflight_ready" in {m["name"] for m in r["milestones"]} for r in restores)
    assert labelled(docker_client, report["run_id"]) == []  # nothing left behind
