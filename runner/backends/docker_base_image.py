"""Makes `mkdrill-base:bookworm` with no registry: debootstrap from Debian's mirror, then docker import.

Hosts that reach Debian's packages but no container registry cannot pull `python:3.11-slim`.
debootstrap installs a minimal bookworm with Python 3.11 (and venv) into a folder, which becomes
an image with `docker import`. An existing image is reused, so only the first build pays for it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

from runner.errors import EnvironmentProblem

log = logging.getLogger(__name__)

OFFLINE_BASE_IMAGE = "mkdrill-base:bookworm"
DEBIAN_SUITE = "bookworm"
DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv")
APT_DIR = Path("/etc/apt")
DEBOOTSTRAP_TIMEOUT_S = 1800
IMPORT_TIMEOUT_S = 900
# Image settings `docker import` cannot take from the folder itself.
IMPORT_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["/bin/bash"]',
    f"LABEL io.mkdrill.image=base io.mkdrill.debian-suite={DEBIAN_SUITE}",
)
# Package caches and lists are not needed at run time and make up a third of the folder.
EXCLUDED_FROM_IMAGE = (
    "./var/cache/apt/archives/*.deb",
    "./var/cache/apt/*.bin",
    "./var/lib/apt/lists/*_*",
    "./debootstrap",
)


def ensure_offline_base(
    client: docker.DockerClient,
    *,
    image: str = OFFLINE_BASE_IMAGE,
    mirror: str | None = None,
    progress: Callable[[str], None] = log.info,
    clock: Callable[[], float] = time.monotonic,
) -> float | None:
    """Make `image` from Debian packages unless the engine has it; the seconds taken, or None."""
    try:
        client.images.get(image)
    except ImageNotFound:
        pass
    else:
        progress(f"{image} exists; skipping debootstrap")
        return None
    started = clock()
    debootstrap = _debootstrap_command()
    source = mirror or os.environ.get("MKDRILL_DEBIAN_MIRROR") or debian_mirror()
    folder = Path(tempfile.mkdtemp(prefix="mkdrill-base-", dir="/var/tmp"))
    try:
        root = folder / "root"
        progress(f"debootstrap {DEBIAN_SUITE} ({', '.join(PACKAGES)}) from {source} into {root}")
        _run_debootstrap(debootstrap, root, source, folder / "debootstrap.log")
        progress(f"importing {root} as {image}")
        _import_folder(client, root, image)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return clock() - started


def debian_mirror(apt_dir: Path = APT_DIR, suite: str = DEBIAN_SUITE) -> str:
    """The first Debian mirror the host's apt sources name for `suite` (deb822 or one-line form)."""
    for sources in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", _read(sources)):
            fields = _deb822_fields(stanza)
            if (
                "deb" in fields.get("types", "").split()
                and suite in fields.get("suites", "").split()
            ):
                uris = fields.get("uris", "").split()
                if uris:
                    return uris[0]
    one_line_files = [
        apt_dir / "sources.list",
        *sorted((apt_dir / "sources.list.d").glob("*.list")),
    ]
    for sources in one_line_files:
        for line in _read(sources).splitlines():
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                return words[1]
    return DEFAULT_DEBIAN_MIRROR


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return fields


def _debootstrap_command() -> str:
    found = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if found is None:
        raise EnvironmentProblem(
            "debootstrap not found; install it (apt-get install debootstrap) to build "
            f"{OFFLINE_BASE_IMAGE}, or build on a registry base with `mkdrill images build`"
        )
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            f"debootstrap needs root to build {OFFLINE_BASE_IMAGE}; run `mkdrill images build "
            "--offline-base` as root once (later builds reuse the image)"
        )
    return found


def _run_debootstrap(debootstrap: str, root: Path, mirror: str, log_path: Path) -> None:
    command = [
        debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}",
        DEBIAN_SUITE, str(root), mirror,
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        try:
            result = subprocess.run(
                command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                timeout=DEBOOTSTRAP_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise EnvironmentProblem(
                f"debootstrap from {mirror} did not finish within {DEBOOTSTRAP_TIMEOUT_S} s"
            ) from exc
    if result.returncode != 0:
        tail = " | ".join(_read(log_path).strip().splitlines()[-3:])
        raise EnvironmentProblem(
            f"debootstrap {DEBIAN_SUITE} from {mirror} failed (exit {result.returncode}): {tail}; "
            "check the mirror (MKDRILL_DEBIAN_MIRROR or --mirror)"
        )


def _import_folder(client: docker.DockerClient, root: Path, image: str) -> None:
    repository, _, tag = image.rpartition(":")
    excludes = [f"--exclude={pattern}" for pattern in EXCLUDED_FROM_IMAGE]
    tar = subprocess.Popen(
        ["tar", "-C", str(root), "--numeric-owner", *excludes, "-c", "."],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert tar.stdout is not None
    saved_timeout = client.api.timeout
    client.api.timeout = IMPORT_TIMEOUT_S  # the default is sized for small calls, not an import
    try:
        answer = client.api.import_image(
            src=tar.stdout, repository=repository, tag=tag,
            changes=list(IMPORT_CHANGES), stream_src=True,
        )  # fmt: skip
    except DockerException as exc:
        tar.kill()
        raise EnvironmentProblem(f"docker import of {root} as {image} failed: {exc}") from exc
    finally:
        client.api.timeout = saved_timeout
        tar.stdout.close()
        tar.wait(timeout=60)
    if tar.returncode != 0:
        raise EnvironmentProblem(f"tar of {root} failed (exit {tar.returncode}); {image} not made")
    if "error" in str(answer).lower():
        raise EnvironmentProblem(f"docker import of {root} as {image} failed: {answer}")
    log.info("imported %s: %s", image, str(answer).strip())
