"""The parts of the compose backend and image build that need no engine (marked docker by folder)."""

from __future__ import annotations

import importlib.util
import io
import tarfile
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest
from docker.errors import NotFound

from runner.backends.docker_base_image import DEFAULT_DEBIAN_MIRROR, debian_mirror
from runner.backends.docker_containers import list_containers
from runner.backends.docker_memorykernel import database_command
from runner.backends.docker_topology import project_name
from runner.errors import DefinitionError, EnvironmentProblem
from runner.images import (
    ImageSpec,
    build_lock,
    check_releases,
    context_digest,
    manylinux_platform_flags,
    missing_image_message,
    reference_images,
    spec_digest,
)

pytestmark = pytest.mark.docker

ENTRYPOINT = Path(__file__).resolve().parents[2] / "compose" / "toxiproxy-entrypoint.py"


def _entrypoint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("toxiproxy_entrypoint", ENTRYPOINT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_debian_mirror_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    listing = tmp_path / "sources.list.d"
    listing.mkdir()
    (listing / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        "# the main archive\nTypes: deb deb-src\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"

    (listing / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [signed-by=/usr/share/keyrings/k.gpg] http://one-line.example/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path) == "http://one-line.example/debian"

    (tmp_path / "sources.list").unlink()
    assert debian_mirror(tmp_path) == DEFAULT_DEBIAN_MIRROR


def test_database_command_is_the_real_command_line_mkdrill_passes() -> None:
    assert database_command("normal") == [
        "--bind",
        "0.0.0.0:4010",
        "--db",
        "/data/memory_kernel.sqlite3",
    ]
    assert database_command("corrupt") == [
        "--bind",
        "0.0.0.0:4010",
        "--db",
        "/data/corrupt.sqlite3",
    ]
    assert database_command("directory")[-1] == "/data/db-is-a-directory.sqlite3"
    assert database_command("missing-parent")[-1] == "/data/no-such-parent/memory_kernel.sqlite3"


def test_the_shipped_compose_file_passes_the_flags_and_runs_no_python_in_memorykernel() -> None:
    import yaml

    from runner.backends.docker_compose_cli import COMPOSE_FILE

    service = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["memorykernel"]
    assert service["command"] == database_command("normal")
    assert "healthcheck" not in service, "a binary-only image has no python3 to run one"


def test_project_names_are_what_compose_accepts() -> None:
    assert project_name("20261130T100938Z-95fca4") == "mkdrill-20261130t100938z-95fca4"
    assert project_name("env") == "mkdrill-env"
    assert project_name("a b/c") == "mkdrill-a-b-c"
    assert project_name("///") == "mkdrill-run"


def test_releases_and_image_list() -> None:
    assert check_releases(None) == ["v0.3.2", "v0.4.0"]
    assert check_releases(["v0.4.0", "v0.4.0"]) == ["v0.4.0"]
    with pytest.raises(DefinitionError, match=r"--release v9\.9\.9: .*known: v0\.3\.2, v0\.4\.0"):
        check_releases(["v9.9.9"])
    targets = [spec.target for spec in reference_images(["v0.3.2"])]
    assert targets == ["runtime", "toxiproxy", "assistsupport", "memorykernel-v0.3.2"]


def test_manylinux_flags_cover_older_tags() -> None:
    flags = manylinux_platform_flags("2.36", "x86_64")
    platforms = flags[1::2]
    assert set(flags[0::2]) == {"--platform"}
    assert {"manylinux_2_36_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"} <= set(
        platforms
    )
    with pytest.raises(EnvironmentProblem):
        manylinux_platform_flags("musl", "x86_64")


def test_missing_image_messages_name_the_build_command() -> None:
    ours = missing_image_message("memorykernel:v0.3.2")
    assert ours.startswith("image memorykernel:v0.3.2 not found on the Docker engine; ")
    assert "`mkdrill images build --offline-base`" in ours
    theirs = missing_image_message("registry.example/mk:v0.4.0", "registry.example/mk")
    assert "`mkdrill images build --offline-base`" in theirs
    assert "release tags" in theirs


def test_toxiproxy_entrypoint_reads_go_style_flags() -> None:
    entrypoint = _entrypoint()
    assert entrypoint.parse(["-host=0.0.0.0", "--config", "/c.json", "-port", "9000"]) == {
        "host": "0.0.0.0",
        "port": "9000",
        "config": "/c.json",
    }
    assert entrypoint.parse(["-seed=1"])["host"] == "localhost"
    with pytest.raises(SystemExit):
        entrypoint.parse(["-bogus=1"])


def _context(files: dict[str, bytes], mtime: float, mode: int = 0o644) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, mode
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def test_the_context_digest_follows_content_and_modes_not_file_times() -> None:
    files = {"runner/a.py": b"a = 1\n", "compose/Dockerfile": b"FROM x\n"}
    first = context_digest(_context(files, mtime=1_000))
    assert context_digest(_context(files, mtime=2_000_000)) == first  # a fresh clone: new times
    assert context_digest(_context(dict(reversed(files.items())), mtime=5)) == first
    assert context_digest(_context({**files, "runner/a.py": b"a = 2\n"}, mtime=1_000)) != first
    assert context_digest(_context({**files, "runner/b.py": b""}, mtime=1_000)) != first
    assert context_digest(_context(files, mtime=1_000, mode=0o755)) != first


def test_each_image_digest_names_its_base_and_target() -> None:
    runtime, toxiproxy = ImageSpec("mkdrill-runtime:x", "runtime"), ImageSpec("t:x", "toxiproxy")
    digest = spec_digest("c" * 64, "base1", runtime)
    assert spec_digest("c" * 64, "base1", runtime) == digest
    assert spec_digest("c" * 64, "base2", runtime) != digest
    assert spec_digest("c" * 64, "base1", toxiproxy) != digest
    assert spec_digest("d" * 64, "base1", runtime) != digest


def test_a_second_builder_waits_for_the_first(tmp_path: Path) -> None:
    lock = tmp_path / ".build.lock"
    order: list[str] = []
    messages: list[str] = []
    first_holds = threading.Event()

    def first() -> None:
        with build_lock(lock, order.append):
            first_holds.set()
            time.sleep(0.2)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    assert first_holds.wait(5)
    with build_lock(lock, messages.append):
        order.append("second in")
    thread.join(5)
    assert order == ["first done", "second in"]
    assert messages == [f"another image build holds {lock}; waiting for it"]


class _VanishingApi:
    """The low-level API of an engine that lists two containers, one removed before inspect."""

    def __init__(self) -> None:
        self.asked: dict[str, object] = {}

    def containers(self, all: bool, filters: dict[str, object]) -> list[dict[str, str]]:
        self.asked = {"all": all, "filters": filters}
        return [{"Id": "gone"}, {"Id": "here"}]


class _VanishingContainers:
    def get(self, container_id: str) -> str:
        if container_id == "gone":
            raise NotFound("No such container: gone")
        return container_id


class _Vanishing:
    def __init__(self) -> None:
        self.api = _VanishingApi()
        self.containers = _VanishingContainers()


def test_a_container_removed_between_list_and_inspect_is_left_out() -> None:
    client = _Vanishing()
    assert list_containers(client, {"label": ["io.mkdrill.run-id"]}) == ["here"]  # type: ignore[arg-type]
    assert client.api.asked == {"all": True, "filters": {"label": ["io.mkdrill.run-id"]}}
    list_containers(client, {"label": ["x"]}, running_only=True)  # type: ignore[arg-type]
    assert client.api.asked["all"] is False
