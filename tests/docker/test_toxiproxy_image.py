"""`mkdrill run --backend compose` runs the Toxiproxy image it is given (flag or environment)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from runner.backends.docker_client import LABEL_RUN_ID
from runner.backends.docker_containers import list_containers
from runner.images import BuildReport

pytestmark = pytest.mark.docker

ABSENT = "mkdrill-absent-registry.example/toxiproxy:2.12.0"


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_the_given_toxiproxy_image_is_the_one_asked_of_the_engine(
    tmp_path: Path, reference_images: BuildReport, docker_client: docker.DockerClient, how: str
) -> None:
    args = ["run", "disabled", "--backend", "compose"]
    env = dict(os.environ)
    if how == "flag":
        args += ["--toxiproxy-image", ABSENT]
    else:
        env["MKDRILL_TOXIPROXY_IMAGE"] = ABSENT
    done = subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"image {ABSENT} not found" in done.stderr
    leftovers = list_containers(docker_client, {"label": LABEL_RUN_ID})
    assert not [c for c in leftovers if c.labels.get("io.mkdrill.role") == "toxiproxy"
                and c.attrs["Config"]["Image"] == ABSENT]  # fmt: skip
