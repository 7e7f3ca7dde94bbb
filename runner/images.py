"""Builds the reference images from compose/Dockerfile, on python:3.11-slim or a base made offline.

Every image is one target of compose/Dockerfile built with the `BASE_IMAGE` build argument:

    mkdrill-runtime:<version>        the package and its dependencies (also runs the fault responder)
    mkdrill-toxiproxy:<version>      the embedded Toxiproxy
    mkdrill-assistsupport:<version>  the reference Draft consumer
    memorykernel:<release>           the reference MemoryKernel, one tag per release

Hosts with a registry build on `python:3.11-slim`. Hosts without one (air-gapped CI) first make
`mkdrill-base:bookworm` from Debian packages: debootstrap into a folder from the host's configured
Debian mirror, then `docker import` of that folder; an existing base is reused. The Python
dependencies are downloaded on the host (pip, for the base's Python version, C library and CPU) into
compose/.wheels/ (a checkout) or the user's cache (a plain install: `image_source`) and copied in,
so no build step needs the network from inside a container.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound

from runner import __version__
from runner.backends.docker_base_image import OFFLINE_BASE_IMAGE, ensure_offline_base
from runner.backends.docker_client import error_reason
from runner.contract import RELEASES
from runner.errors import DefinitionError, EnvironmentProblem
from runner.image_source import DOCKERFILE, ImageSource

log = logging.getLogger(__name__)

DEFAULT_BASE_IMAGE = "python:3.11-slim"
DEFAULT_MEMORYKERNEL_REPO = "memorykernel"
DEFAULT_TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.9.0"
BUILD_COMMAND = "mkdrill images build --offline-base"
# A cold build of one target runs pip inside the container; nothing else is slow.
BUILD_TIMEOUT_S = 900
# What an image was built from: the build context's content, the base image, the target, the version.
CONTEXT_LABEL = "io.mkdrill.context"

Progress = Callable[[str], None]


def runtime_image() -> str:
    """The package and its dependencies; the fault responder runs in it."""
    return f"mkdrill-runtime:{__version__}"


def toxiproxy_image() -> str:
    """The embedded Toxiproxy image built by mkdrill."""
    return f"mkdrill-toxiproxy:{__version__}"


def consumer_image() -> str:
    """The reference AssistSupport Draft consumer image."""
    return f"mkdrill-assistsupport:{__version__}"


def memorykernel_image(release: str, repo: str = DEFAULT_MEMORYKERNEL_REPO) -> str:
    """The MemoryKernel image of one release: the repository tagged with the release tag."""
    return f"{repo}:{release}"


@dataclass(frozen=True)
class ImageSpec:
    """One image to build: its tag and the compose/Dockerfile target that makes it."""

    tag: str
    target: str


@dataclass(frozen=True)
class BuiltImage:
    """One image built (or found up to date), and how long that took (seconds, monotonic)."""

    tag: str
    seconds: float
    up_to_date: bool = False  # the engine's image already carried this build's context digest


@dataclass
class BuildReport:
    """What `build_reference_images` did."""

    base_image: str
    base_seconds: float | None = None  # None: the base existed (or is pulled by the engine)
    wheels_seconds: float = 0.0
    images: list[BuiltImage] = field(default_factory=list)
    total_seconds: float = 0.0


def reference_images(releases: Sequence[str] | None = None) -> list[ImageSpec]:
    """Every image `mkdrill images build` makes, runtime first (the others build on its layers)."""
    chosen = check_releases(releases)
    specs = [
        ImageSpec(runtime_image(), "runtime"),
        ImageSpec(toxiproxy_image(), "toxiproxy"),
        ImageSpec(consumer_image(), "assistsupport"),
    ]
    specs += [ImageSpec(memorykernel_image(tag), f"memorykernel-{tag}") for tag in chosen]
    return specs


def check_releases(releases: Sequence[str] | None) -> list[str]:
    """The releases asked for (all known ones by default); DefinitionError for an unknown tag."""
    if not releases:
        return list(RELEASES)
    unknown = [tag for tag in releases if tag not in RELEASES]
    if unknown:
        raise DefinitionError(
            f"--release {unknown[0]}: no reference MemoryKernel for this release; "
            f"known: {', '.join(RELEASES)}"
        )
    return list(dict.fromkeys(releases))


def missing_images(client: docker.DockerClient, tags: Sequence[str]) -> list[str]:
    """The tags of `tags` that the engine does not have."""
    missing = []
    for tag in tags:
        try:
            client.images.get(tag)
        except ImageNotFound:
            missing.append(tag)
    return missing


def choose_toxiproxy_image(client: docker.DockerClient, asked: str | None = None) -> str:
    """The Toxiproxy image asked for; else ghcr's when the engine has it; else the embedded one."""
    if asked:
        return asked
    if not missing_images(client, [DEFAULT_TOXIPROXY_IMAGE]):
        return DEFAULT_TOXIPROXY_IMAGE
    log.info(
        "%s is not on the engine; using the embedded %s", DEFAULT_TOXIPROXY_IMAGE, toxiproxy_image()
    )
    return toxiproxy_image()


def missing_image_message(tag: str, memorykernel_repo: str = DEFAULT_MEMORYKERNEL_REPO) -> str:
    """One line for a missing image: its tag, and the command that builds it (or what to do)."""
    ours = {runtime_image(), toxiproxy_image(), consumer_image()}
    ours |= {memorykernel_image(release) for release in RELEASES}
    if tag in ours:
        fix = f"build it with `{BUILD_COMMAND}` (`mkdrill images build` on a host with a registry)"
    else:
        fix = f"pull or build it, or use the reference images from `{BUILD_COMMAND}`"
        if tag.startswith(f"{memorykernel_repo}:"):
            fix += f" (the tags of {memorykernel_repo} are release tags)"
    return f"image {tag} not found on the Docker engine; {fix}"


def build_reference_images(
    client: docker.DockerClient,
    *,
    offline_base: bool = False,
    base_image: str | None = None,
    releases: Sequence[str] | None = None,
    mirror: str | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> BuildReport:
    """Build every reference image; with `offline_base`, first make (or reuse) the Debian base."""
    say = progress or log.info
    started = clock()
    specs = reference_images(releases)
    if offline_base and base_image is None:
        base = OFFLINE_BASE_IMAGE
    else:
        base = base_image or DEFAULT_BASE_IMAGE
    report = BuildReport(base_image=base)
    if offline_base:
        report.base_seconds = ensure_offline_base(client, image=base, mirror=mirror, progress=say)
    elif missing_images(client, [base]):
        say(f"{base} is not on the engine; the build pulls it from its registry")

    source = ImageSource.find()
    with build_lock(source.cache / ".build.lock", say):
        wheels_started = clock()
        python_version, glibc, machine = probe_base(client, base, source.probe_cache_dir)
        wheels = source.wheels_dir
        say(
            f"downloading wheels for Python {python_version} ({machine}, glibc {glibc}) into {wheels}"
        )
        download_wheels(wheels, source.requirements(), python_version, glibc, machine)
        report.wheels_seconds = clock() - wheels_started

        with source.context() as context:
            content = context_digest(context)
            base_id = _image_id(client, base) or base
            for spec in specs:
                image_started = clock()
                digest = spec_digest(content, base_id, spec)
                if image_label(client, spec.tag, CONTEXT_LABEL) == digest:
                    say(f"{spec.tag} is up to date (same sources and base); not rebuilt")
                    report.images.append(BuiltImage(spec.tag, clock() - image_started, True))
                    continue
                say(f"building {spec.tag} (target {spec.target}, BASE_IMAGE={base})")
                context.seek(0)
                _build_one(client, context, spec, base, {CONTEXT_LABEL: digest})
                report.images.append(BuiltImage(spec.tag, clock() - image_started))
    report.total_seconds = clock() - started
    return report


@contextlib.contextmanager
def build_lock(path: Path, say: Progress) -> Iterator[None]:
    """One image build at a time per cache: a second builder waits, then finds the images up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"another image build holds {path}; waiting for it")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def context_digest(context: IO[bytes]) -> str:
    """sha256 of the build context's names, modes and bytes (not its times: a fresh clone matches)."""
    digest = hashlib.sha256()
    context.seek(0)
    with tarfile.open(fileobj=context, mode="r:") as archive:
        for member in sorted(archive.getmembers(), key=lambda item: item.name):
            digest.update(
                f"{member.name}\0{member.mode:o}\0{member.type!r}\0{member.linkname}\0".encode()
            )
            if member.isfile():
                data = archive.extractfile(member)
                assert data is not None
                while block := data.read(1 << 20):
                    digest.update(block)
    context.seek(0)
    return digest.hexdigest()


def spec_digest(content: str, base_id: str, spec: ImageSpec) -> str:
    """What one image is built from: the context digest, the base image's ID, its target, the version."""
    text = f"{content}\0{base_id}\0{spec.target}\0{__version__}"
    return hashlib.sha256(text.encode()).hexdigest()


def image_label(client: docker.DockerClient, tag: str, label: str) -> str | None:
    """The value of `label` on the engine's image `tag`; None when the image or the label is absent."""
    try:
        labels = client.images.get(tag).labels or {}
    except ImageNotFound:
        return None
    value = labels.get(label)
    return str(value) if value is not None else None


def probe_base(client: docker.DockerClient, base: str, cache_dir: Path) -> tuple[str, str, str]:
    """(Python X.Y, glibc X.Y, machine) of the base image, read by running its python3 once.

    The answer is kept under the image's ID, so a warm build starts no container.
    """
    image_id = _image_id(client, base)
    cached = cache_dir / f"base-{image_id}.txt" if image_id else None
    if cached is not None and cached.is_file():
        fields = cached.read_text(encoding="utf-8").split()
        if len(fields) == 3:
            return fields[0], fields[1], fields[2]
    script = (
        "import platform, sys; "
        "print('%d.%d' % sys.version_info[:2], platform.libc_ver()[1], platform.machine())"
    )
    try:
        output = client.containers.run(base, ["python3", "-c", script], remove=True)
    except DockerException as exc:
        raise EnvironmentProblem(
            f"cannot run python3 in the base image {base}: {error_reason(exc)}; "
            f"use a base with Python 3.11, or `{BUILD_COMMAND}`"
        ) from exc
    fields = bytes(output).decode().split()
    if len(fields) != 3 or not fields[1]:
        raise EnvironmentProblem(
            f"base image {base} reports no glibc Python ({' '.join(fields)!r}); use a Debian-based one"
        )
    if cached is None:
        cached = cache_dir / f"base-{_image_id(client, base)}.txt"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(" ".join(fields) + "\n", encoding="utf-8")
    return fields[0], fields[1], fields[2]


def _image_id(client: docker.DockerClient, tag: str) -> str:
    """A short form of the image's ID, or "" when the engine does not have it (yet)."""
    try:
        return str(client.images.get(tag).id).removeprefix("sha256:")[:16]
    except ImageNotFound:
        return ""


def download_wheels(
    dest: Path, requirements: Sequence[str], python_version: str, glibc: str, machine: str
) -> None:
    """Wheels of `requirements` for the target interpreter into `dest`, from there when complete.

    The first attempt is offline (`--no-index` over `dest`), so a warm build asks no index;
    only when it cannot be satisfied does pip ask the configured index.
    """
    dest.mkdir(parents=True, exist_ok=True)
    requirements_file = dest / "requirements.txt"
    requirements_file.write_text("".join(f"{item}\n" for item in requirements), encoding="utf-8")
    target = [
        "--only-binary=:all:",
        "--python-version", python_version,
        "--implementation", "cp",
        "--abi", f"cp{python_version.replace('.', '')}",
        *manylinux_platform_flags(glibc, machine),
        "--dest", str(dest),
        "--requirement", str(requirements_file),
    ]  # fmt: skip
    base = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet"]
    offline = subprocess.run(
        [*base, "--no-index", "--find-links", str(dest), *target],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if offline.returncode == 0:
        log.info("wheels in %s are complete; no index asked", dest)
        return
    online = subprocess.run(
        [*base, *target], capture_output=True, text=True, check=False, timeout=BUILD_TIMEOUT_S
    )
    if online.returncode != 0:
        last = (online.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise EnvironmentProblem(f"pip download of the image dependencies failed: {last}")


def manylinux_platform_flags(glibc: str, machine: str) -> list[str]:
    """`--platform` flags for every manylinux tag a glibc of this version runs.

    pip does not widen an explicit `manylinux_2_36` to the older tags most wheels carry.
    """
    major, _, minor = glibc.partition(".")
    if major != "2" or not minor.isdigit():
        raise EnvironmentProblem(f"unexpected glibc version {glibc!r} in the base image")
    tags = [f"manylinux_2_{m}_{machine}" for m in range(int(minor), 4, -1)]
    tags += [f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    return [flag for tag in tags for flag in ("--platform", tag)]


def _build_one(
    client: docker.DockerClient,
    context: IO[bytes],
    spec: ImageSpec,
    base: str,
    labels: dict[str, str],
) -> None:
    try:
        events = client.api.build(
            fileobj=context,
            custom_context=True,
            dockerfile=DOCKERFILE,
            tag=spec.tag,
            target=spec.target,
            buildargs={"BASE_IMAGE": base, "MKDRILL_VERSION": __version__},
            labels=labels,
            rm=True,
            forcerm=True,
            decode=True,
            timeout=BUILD_TIMEOUT_S,
        )
        last_lines: list[str] = []
        for event in events:
            _check_build_event(event, spec, last_lines)
    except (APIError, DockerException) as exc:
        raise EnvironmentProblem(f"docker build of {spec.tag} failed: {exc}") from exc


def _check_build_event(event: dict[str, Any], spec: ImageSpec, last_lines: list[str]) -> None:
    text = str(event.get("stream", "")).strip()
    if text:
        log.debug("%s: %s", spec.tag, text)
        last_lines[:] = [*last_lines[-4:], text]
    if "error" in event:
        context = " | ".join(last_lines)
        raise EnvironmentProblem(
            f"docker build of {spec.tag} (target {spec.target}) failed: "
            f"{' '.join(str(event['error']).split())} (last output: {context})"
        )
