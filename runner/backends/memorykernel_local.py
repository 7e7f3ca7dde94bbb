"""Which MemoryKernel the local backend runs for a release: the reference or a binary of one's own.

Both are started on the real service's command line, `--bind IP:PORT --db PATH`, and are ready
when `/v1/health` answers (the real binary prints nothing). Each is named in the run record by
its identity: the binary's path and file SHA-256, or the reference's command and source digest.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runner import __version__
from runner.errors import DefinitionError
from runner.record import MemoryKernelIdentity

_REFERENCE_SOURCE = Path(__file__).resolve().parent.parent / "reference" / "memorykernel"


@dataclass(frozen=True)
class MemoryKernelBinaries:
    """Release tag → binary; a release with no binary runs the reference (only when none is given)."""

    binaries: Mapping[str, Path] = field(default_factory=dict)

    def argv(self, release: str, bind: str, db: Path) -> list[str]:
        """The command line that serves `release` on `bind` with database `db`."""
        if not self.binaries:
            return [
                # `mkdrill serve memorykernel`'s command line, without the CLI framework to load.
                sys.executable, "-m", "runner.reference.memorykernel",
                "--release", release, "--bind", bind, "--db", str(db),
            ]  # fmt: skip
        binary = self.binaries.get(release)
        if binary is None:
            raise DefinitionError(missing_binary_message(release, self.binaries))
        return [str(binary), "--bind", bind, "--db", str(db)]

    def identity(self, release: str) -> MemoryKernelIdentity:
        """Who serves `release`, before it answered (its contract version is filled in later)."""
        binary = self.binaries.get(release)
        if binary is None:
            return MemoryKernelIdentity(
                release=release,
                kind="reference",
                name=f"mkdrill {__version__} serve memorykernel --release {release}",
                digest=reference_digest(),
            )
        return MemoryKernelIdentity(
            release=release, kind="binary", name=str(binary), digest=file_sha256(binary)
        )


def missing_binary_message(release: str, binaries: Mapping[str, Path]) -> str:
    """One line for a release the run needs and no `--memorykernel-bin` names."""
    given = ", ".join(sorted(binaries)) or "none"
    return (
        f"--memorykernel-bin: no binary for release {release}, which this run needs "
        f"(given: {given}); add --memorykernel-bin {release}=PATH"
    )


def parse_binaries(values: list[str]) -> dict[str, Path]:
    """`--memorykernel-bin TAG=PATH` values as a mapping; DefinitionError naming a bad one."""
    binaries: dict[str, Path] = {}
    for value in values:
        tag, sep, path = value.partition("=")
        tag, path = tag.strip(), path.strip()
        if not sep or not tag or not path:
            raise DefinitionError(
                f"--memorykernel-bin: expected RELEASE=PATH such as v0.4.0=./memory-kernel-service "
                f"(got {value!r})"
            )
        if tag in binaries:
            raise DefinitionError(f"--memorykernel-bin: release {tag} given twice")
        binary = Path(path).expanduser()
        if not binary.is_file():
            raise DefinitionError(f"--memorykernel-bin {tag}={path}: no such file")
        if not _executable(binary):
            raise DefinitionError(f"--memorykernel-bin {tag}={path}: not executable; chmod +x it")
        binaries[tag] = binary.resolve()
    return binaries


def _executable(path: Path) -> bool:
    import os

    return os.access(path, os.X_OK)


@functools.cache
def file_sha256(path: Path) -> str:
    """`sha256:<hex>` of a file's bytes (read once per run)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


@functools.cache
def reference_digest() -> str:
    """`sha256:<hex>` over the reference MemoryKernel's source files, so a changed look-alike shows."""
    digest = hashlib.sha256()
    for source in sorted(_REFERENCE_SOURCE.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return f"sha256:{digest.hexdigest()}"
