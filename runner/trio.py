"""The consumer's pin trio: pin file, compatibility matrix and mirrored producer manifest, kept together.

AssistSupport changes the three in one PR (contract §4.4); a rollback across a contract change puts
back the last approved trio, each file checked by SHA-256, swapped as one:

    trio = locate_trio(pin)                          # AssistSupport's layout, else the embedded copy
    folder = ConsumerPinFolder(tmp)                  # the consumer's deployed trio
    installed = revert_trio(folder, trio, expected)  # digests checked before and after the swap
    env.restart_consumer(replace(settings, pin=installed.pin))
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from runner.errors import DefinitionError, DrillError, RollbackError
from runner.pins import (
    Pin,
    check_manifest_matches,
    check_matrix_matches,
    default_manifest_path,
    default_matrix_path,
    default_pin_path,
    load_pin,
)

PIN_FILE = "memorykernel-integration-pin.json"
MANIFEST_FILE = "memorykernel-producer-manifest.json"
MATRIX_FILE = "MEMORYKERNEL_COMPATIBILITY_MATRIX.md"
# AssistSupport's layout, relative to its repository root.
LAYOUT = {"pin": Path("config") / PIN_FILE, "manifest": Path("config") / MANIFEST_FILE,
          "matrix": Path("docs") / MATRIX_FILE}  # fmt: skip
CURRENT_LINK = "current"
# AssistSupport's rollback drill record (docs/implementation/MEMORYKERNEL_ROLLBACK_DRILL_2026-02-08.md):
# runtime target v0.4.0 / service.v3, rollback target v0.3.2 / service.v2.
RECORDED_ROLLBACK_TARGETS = {"v0.4.0": "v0.3.2"}
ROLLBACK_RECORD = (
    "AssistSupport's rollback drill record (MEMORYKERNEL_ROLLBACK_DRILL_2026-02-08.md)"
)


@dataclass(frozen=True)
class TrioDigests:
    """SHA-256 of each file of a trio, as recorded when it was approved (or turned green)."""

    pin_sha256: str
    manifest_sha256: str
    matrix_sha256: str


@dataclass(frozen=True)
class PinTrio:
    """A pin and the matrix and manifest that go with it, checked against each other."""

    pin: Pin
    pin_path: Path
    manifest_path: Path
    matrix_path: Path
    digests: TrioDigests

    @property
    def release_tag(self) -> str:
        """The MemoryKernel release the trio pins."""
        return self.pin.release_tag

    def describe(self) -> str:
        """One line for reports: tag, contract and the three digests."""
        d = self.digests
        return (
            f"{self.pin.release_tag} ({self.pin.expected_service_contract_version}): pin "
            f"{d.pin_sha256[:12]}, matrix {d.matrix_sha256[:12]}, manifest {d.manifest_sha256[:12]}"
        )


@dataclass(frozen=True)
class RollbackTarget:
    """Where a rollback to the last green pin goes: an approved trio, why it, and its approved digests."""

    trio: PinTrio
    expected: TrioDigests
    provenance: str

    @property
    def release_tag(self) -> str:
        """The MemoryKernel release the target trio pins."""
        return self.trio.release_tag

    def crosses_contract(self, pin: Pin) -> bool:
        """True when the consumer pinned to `pin` cannot talk to the target: it must be re-pinned."""
        target = self.trio.pin
        return (
            target.expected_service_contract_version != pin.expected_service_contract_version
            or target.expected_api_contract_version != pin.expected_api_contract_version
        )


def current_sha256(path: Path) -> str:
    """Lowercase hex SHA-256 of a file's raw bytes."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise RollbackError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _beside(pin_path: Path) -> tuple[Path, Path] | None:
    """Manifest and matrix of a pin in AssistSupport's layout (config/ and docs/), or side by side."""
    config = pin_path.parent
    for manifest, matrix in (
        (config / MANIFEST_FILE, config.parent / "docs" / MATRIX_FILE),
        (config / MANIFEST_FILE, config / MATRIX_FILE),
    ):
        if manifest.is_file() and matrix.is_file():
            return manifest, matrix
    return None


def load_trio(pin_path: Path, manifest_path: Path, matrix_path: Path) -> PinTrio:
    """Read a trio and check it as AssistSupport's pin-sync does; DefinitionError naming the file."""
    pin = load_pin(pin_path)
    check_manifest_matches(pin, manifest_path, require_hash=True)
    matrix_sha = check_matrix_matches(pin, matrix_path)
    digests = TrioDigests(pin.raw_sha256, current_sha256(manifest_path), matrix_sha)
    return PinTrio(pin, pin_path, manifest_path, matrix_path, digests)


def embedded_trio(tag: str) -> PinTrio:
    """The trio mkdrill ships for a release (AssistSupport's own files at the commit that pinned it)."""
    return load_trio(default_pin_path(tag), default_manifest_path(tag), default_matrix_path(tag))


def locate_trio(pin: Pin) -> PinTrio:
    """The trio of a pin: beside its file in AssistSupport's layout, else the embedded one of its tag.

    The embedded trio stands in only when its pin file has the very same bytes.
    """
    if pin.source is not None and (found := _beside(pin.source)) is not None:
        return load_trio(pin.source, *found)
    try:
        trio = embedded_trio(pin.release_tag)
    except DrillError:
        trio = None
    if trio is None or trio.digests.pin_sha256 != pin.raw_sha256:
        raise DefinitionError(
            f"{pin.source}: no compatibility matrix and producer manifest beside this pin "
            f"(AssistSupport's layout: config/{MANIFEST_FILE}, docs/{MATRIX_FILE}); a rollback "
            "across a contract change swaps all three together"
        )
    return trio


def verify_trio(trio: PinTrio, expected: TrioDigests) -> None:
    """Each file of the trio still has the recorded SHA-256; RollbackError naming the one that differs."""
    for path, want in (
        (trio.pin_path, expected.pin_sha256),
        (trio.manifest_path, expected.manifest_sha256),
        (trio.matrix_path, expected.matrix_sha256),
    ):
        got = current_sha256(path)
        if got != want:
            raise RollbackError(
                f"{path}: SHA-256 {got} is not the approved {want}; the last green trio changed "
                "since it was approved: restore the file or re-approve the trio with a passing run"
            )


class ConsumerPinFolder:
    """The consumer's deployed trio in AssistSupport's layout under `root/current`.

    A swap writes the new trio into a fresh folder, checks every copy's SHA-256, then points
    `current` at it with one rename: a reader sees the old three files or the new three, never a mix.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._generation = 0

    @property
    def current_dir(self) -> Path:
        """Where the deployed trio is (a symlink to the generation folder)."""
        return self.root / CURRENT_LINK

    def install(self, trio: PinTrio) -> PinTrio:
        """Deploy `trio` in one swap; return it as deployed (paths in this folder, digests checked)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._generation += 1
        staging = self.root / f"trio-{self._generation}"
        shutil.rmtree(staging, ignore_errors=True)
        for source, name in (
            (trio.pin_path, "pin"),
            (trio.manifest_path, "manifest"),
            (trio.matrix_path, "matrix"),
        ):
            target = staging / LAYOUT[name]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        copied = PinTrio(
            load_pin(staging / LAYOUT["pin"]),
            staging / LAYOUT["pin"],
            staging / LAYOUT["manifest"],
            staging / LAYOUT["matrix"],
            trio.digests,
        )
        verify_trio(copied, trio.digests)
        link = self.root / f".{CURRENT_LINK}.{self._generation}"
        link.unlink(missing_ok=True)
        os.symlink(staging.name, link)
        previous = self.current_dir.resolve() if self.current_dir.is_symlink() else None
        os.replace(link, self.current_dir)
        if previous is not None and previous != staging.resolve():
            shutil.rmtree(previous, ignore_errors=True)
        return copied

    def current(self) -> PinTrio | None:
        """The deployed trio, if any."""
        if not self.current_dir.is_dir():
            return None
        base = self.current_dir.resolve()
        return load_trio(base / LAYOUT["pin"], base / LAYOUT["manifest"], base / LAYOUT["matrix"])


def revert_trio(folder: ConsumerPinFolder, target: PinTrio, expected: TrioDigests) -> PinTrio:
    """Put back an approved trio: its files checked against `expected`, swapped together, checked again.

    The clean entry point for every "revert to the last approved pin/matrix/manifest trio" step.
    """
    verify_trio(target, expected)
    installed = folder.install(target)
    deployed = folder.current()
    if deployed is None or deployed.digests != expected:
        raise RollbackError(
            f"{folder.current_dir}: the deployed trio does not match the approved one"
        )
    return installed
