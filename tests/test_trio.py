"""The pin trio: located, checked as AssistSupport's pin-sync does, swapped together, SHA-256 verified."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.errors import DefinitionError, RollbackError
from runner.ledger import Ledger
from runner.pins import load_pin
from runner.plan import rollback_target
from runner.trio import ConsumerPinFolder, embedded_trio, locate_trio, revert_trio
from tests.reports.factory import make_drill, make_record
from tests.test_ledger import PINS, Clock, _info


def _assistsupport_checkout(root: Path, tag: str) -> Path:
    """AssistSupport's layout: config/ pin and manifest, docs/ matrix."""
    trio = embedded_trio(tag)
    (root / "config").mkdir(parents=True)
    (root / "docs").mkdir()
    shutil.copyfile(trio.pin_path, root / "config/memorykernel-integration-pin.json")
    shutil.copyfile(trio.manifest_path, root / "config/memorykernel-producer-manifest.json")
    shutil.copyfile(trio.matrix_path, root / "docs/MEMORYKERNEL_COMPATIBILITY_MATRIX.md")
    return root / "config/memorykernel-integration-pin.json"


def test_embedded_trios_are_assistsupports_files_and_match() -> None:
    v040, v032 = embedded_trio("v0.4.0"), embedded_trio("v0.3.2")
    assert v040.digests.manifest_sha256.startswith("79970ec83f37fe0a")
    assert v032.digests.manifest_sha256.startswith("67408e0bcf7d9e88")
    assert v040.pin.expected_service_contract_version == "service.v3"
    assert v032.pin.expected_service_contract_version == "service.v2"


def test_a_pin_in_assistsupports_layout_brings_its_trio(tmp_path: Path) -> None:
    pin_path = _assistsupport_checkout(tmp_path / "as", "v0.3.2")
    trio = locate_trio(load_pin(pin_path))
    assert trio.matrix_path == tmp_path / "as/docs/MEMORYKERNEL_COMPATIBILITY_MATRIX.md"
    assert trio.digests == embedded_trio("v0.3.2").digests


def test_a_matrix_that_does_not_approve_the_pin_is_refused(tmp_path: Path) -> None:
    pin_path = _assistsupport_checkout(tmp_path / "as", "v0.3.2")
    shutil.copyfile(
        embedded_trio("v0.4.0").matrix_path,
        tmp_path / "as/docs/MEMORYKERNEL_COMPATIBILITY_MATRIX.md",
    )
    with pytest.raises(
        DefinitionError, match=r"MEMORYKERNEL_COMPATIBILITY_MATRIX\.md: matrix: has no"
    ):
        locate_trio(load_pin(pin_path))


def test_revert_swaps_all_three_and_checks_each_digest(tmp_path: Path) -> None:
    folder = ConsumerPinFolder(tmp_path / "deployed")
    v040, v032 = embedded_trio("v0.4.0"), embedded_trio("v0.3.2")
    revert_trio(folder, v040, v040.digests)
    installed = revert_trio(folder, v032, v032.digests)
    current = folder.current()
    assert current is not None and current.digests == v032.digests
    assert installed.pin.release_tag == "v0.3.2"
    assert sorted(p.name for p in (tmp_path / "deployed").iterdir()) == ["current", "trio-2"]


def test_revert_refuses_a_trio_whose_file_changed_since_approval(tmp_path: Path) -> None:
    pin_path = _assistsupport_checkout(tmp_path / "as", "v0.3.2")
    trio = locate_trio(load_pin(pin_path))
    manifest = tmp_path / "as/config/memorykernel-producer-manifest.json"
    manifest.write_bytes(manifest.read_bytes() + b" ")
    folder = ConsumerPinFolder(tmp_path / "deployed")
    with pytest.raises(RollbackError, match=r"memorykernel-producer-manifest\.json: SHA-256"):
        revert_trio(folder, trio, trio.digests)
    assert folder.current() is None  # nothing was swapped


def test_rollback_target_is_the_last_green_other_pin_else_the_recorded_one(tmp_path: Path) -> None:
    v040 = load_pin(PINS / "v0.4.0.json")
    assert "rollback drill record" in rollback_target(v040, None).provenance
    with Ledger(tmp_path / "ledger.sqlite3", clock=Clock()) as ledger:
        ledger.ensure_seeded(v040)  # the pin under drill is never its own target
        assert rollback_target(v040, ledger).release_tag == "v0.3.2"
        ledger.record_run(
            make_record([make_drill()], run_id="g1", pin=_info(load_pin(PINS / "v0.3.2.json"))),
            Path("g1"),
        )
        target = rollback_target(v040, ledger)
        assert target.release_tag == "v0.3.2" and target.crosses_contract(v040)
        assert target.provenance.startswith("last green pin: run g1 (nightly")
