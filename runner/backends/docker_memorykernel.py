"""MemoryKernel in a container: its command line, database on the run's volume, broken databases, SQL, health.

The image contract is the real binary's: an entrypoint that is the service, to which mkdrill
passes `--bind 0.0.0.0:4010 --db PATH` itself. Nothing runs inside the user's container: broken
database files are written with the Docker API (archive upload) and SQL runs in mkdrill's own
runtime image on the same volume.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker
import httpx
from docker.errors import ContainerError
from docker.models.containers import Container

from runner.backends.docker_client import LABEL_ROLE, LABEL_RUN_ID
from runner.contract import RELEASES
from runner.errors import EnvironmentProblem

DATA_DIR = "/data"
DATABASE = f"{DATA_DIR}/memory_kernel.sqlite3"
# Broken databases on the run's volume: the path MemoryKernel is given...
BROKEN_DATABASES: dict[str, str] = {
    "directory": "db-is-a-directory.sqlite3",
    "corrupt": "corrupt.sqlite3",
    "missing-parent": "no-such-parent/memory_kernel.sqlite3",
}
# ...and what is put there first (bytes: a file, None: a folder; a missing parent needs nothing).
BROKEN_DATABASE_FILES: dict[str, dict[str, bytes | None]] = {
    "directory": {"db-is-a-directory.sqlite3": None},
    "corrupt": {"corrupt.sqlite3": b"this is not an SQLite database\n" * 64},
}
# Runs as root in the helper, then as the database's owner, so the files SQLite creates beside
# it (-wal, -shm) stay writable by the MemoryKernel container whatever user its image runs as.
SQL_SCRIPT = (
    "import os, sqlite3, sys\n"
    "try:\n"
    "    path = sys.argv[1]\n"
    # A database the service never opened yet does not exist: it is made as the data folder's owner.
    "    owner = os.stat(path if os.path.exists(path) else os.path.dirname(path))\n"
    "    os.setgid(owner.st_gid)\n"
    "    os.setuid(owner.st_uid)\n"
    "    db = sqlite3.connect(path, timeout=5.0)\n"
    "    db.execute(sys.argv[2])\n"
    "    db.commit()\n"
    "    db.close()\n"
    "except (OSError, sqlite3.Error) as exc:\n"
    "    sys.exit(f'sqlite3: {exc}')\n"
)
BIND = "0.0.0.0:4010"


def database_command(database: str) -> list[str]:
    """The command mkdrill gives the image's entrypoint for `database` ("normal" or a broken state)."""
    path = DATABASE if database == "normal" else f"{DATA_DIR}/{BROKEN_DATABASES[database]}"
    return ["--bind", BIND, "--db", path]


def run_sql(
    client: docker.DockerClient,
    container: Container,
    statement: str,
    helper_image: str,
    run_id: str,
) -> None:
    """One statement on the database, from a helper container on its volume (never inside it)."""
    try:
        client.containers.run(
            helper_image, ["python3", "-c", SQL_SCRIPT, DATABASE, statement],
            volumes={volume_of(container): {"bind": DATA_DIR, "mode": "rw"}},
            labels={LABEL_RUN_ID: run_id, LABEL_ROLE: "sql"}, remove=True, network_disabled=True,
            user="0:0",
        )  # fmt: skip
    except ContainerError as exc:
        raise EnvironmentProblem(f"SQL on {DATABASE} failed: {last_line(exc.stderr)}") from exc


def volume_of(container: Container) -> str:
    """The named volume mounted at /data."""
    for mount in container.attrs.get("Mounts") or []:
        if mount.get("Destination") == DATA_DIR and mount.get("Name"):
            return str(mount["Name"])
    raise EnvironmentProblem(f"container {container.name} has no volume at {DATA_DIR}")


def health_check(release: str) -> tuple[Callable[[httpx.Response], str | None], str]:
    """A check of `/v1/health` for `release` (its contract version when known), and its wording."""
    expected = RELEASES[release].service_contract_version if release in RELEASES else None

    def check(response: httpx.Response) -> str | None:
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        if expected is None:
            return None
        try:
            version = response.json().get("service_contract_version")
        except (ValueError, AttributeError):
            return "health is not a JSON object"
        return None if version == expected else f"service_contract_version {version!r}"

    return check, (f"HTTP 200 with {expected}" if expected else "HTTP 200")


def last_line(output: Any) -> str:
    """The last line a process printed."""
    text = bytes(output or b"").decode(errors="replace").strip()
    return text.splitlines()[-1] if text else "no output"
