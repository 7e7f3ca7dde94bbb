"""MemoryKernel in a container: its database on the run's volume, broken databases, SQL, health."""

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
SQL_SCRIPT = (
    "import sqlite3, sys\n"
    "try:\n"
    "    db = sqlite3.connect(sys.argv[1], timeout=5.0)\n"
    "    db.execute(sys.argv[2])\n"
    "    db.commit()\n"
    "    db.close()\n"
    "except sqlite3.Error as exc:\n"
    "    sys.exit(f'sqlite3: {exc}')\n"
)
# exec exit codes of a missing interpreter: a MemoryKernel image of one's own may have no python3.
NO_INTERPRETER = (126, 127)


def database_command(default_command: list[str] | None, database: str) -> list[str] | None:
    """The command for `database` ("normal" or a broken state): the image's, with `--db` changed."""
    if database == "normal":
        return None
    path = f"{DATA_DIR}/{BROKEN_DATABASES[database]}"
    arguments = list(default_command or [])
    if "--db" in arguments[:-1]:
        arguments[arguments.index("--db") + 1] = path
        return arguments
    return [*arguments, "--db", path]


def run_sql(
    client: docker.DockerClient,
    container: Container,
    statement: str,
    helper_image: str,
    run_id: str,
) -> None:
    """One statement on the database: exec'd in the container, else in a helper on its volume."""
    container.reload()
    if container.status == "running":
        exit_code, output = container.exec_run(["python3", "-c", SQL_SCRIPT, DATABASE, statement])
        if exit_code == 0:
            return
        if exit_code not in NO_INTERPRETER:
            raise EnvironmentProblem(
                f"SQL on {DATABASE} in {container.name} failed: {last_line(output)}"
            )
    try:
        client.containers.run(
            helper_image, ["python3", "-c", SQL_SCRIPT, DATABASE, statement],
            volumes={volume_of(container): {"bind": DATA_DIR, "mode": "rw"}},
            labels={LABEL_RUN_ID: run_id, LABEL_ROLE: "sql"}, remove=True, network_disabled=True,
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
