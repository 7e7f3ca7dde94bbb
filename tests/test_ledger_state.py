"""A pin's state follows its latest complete gating run; last green follows the evidence; per identity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runner.ledger import Ledger
from runner.pin_state import PinState
from runner.pins import Pin, load_pin
from runner.record import MemoryKernelIdentity, PinInfo, Verdict
from tests.reports.factory import make_drill, make_record
from tests.test_ledger import PINS, Clock, _info


def _run(
    ledger: Ledger,
    pin: PinInfo,
    day: int,
    *,
    passed: bool = True,
    partial: str | None = None,
    identity: str | None = None,
) -> None:
    drill = (
        make_drill() if passed else make_drill(verdict=Verdict.FAILED, failed_assertion=("a", "b"))
    )
    served = (
        {pin.release_tag: MemoryKernelIdentity(
            release=pin.release_tag, kind="binary", name="/opt/mks", digest=identity)}
        if identity else None
    )  # fmt: skip
    record = make_record(
        [drill], run_id=f"r{day}", pin=pin, started_at=f"2026-01-{day:02d}T02:00:00Z",
        partial=partial, memorykernel=served,
    )  # fmt: skip
    ledger.record_run(record, Path(f"reports/r{day}"))


@pytest.fixture
def pins() -> tuple[PinInfo, PinInfo]:
    return _info(load_pin(PINS / "v0.4.0.json")), _info(load_pin(PINS / "v0.3.2.json"))


def _states(ledger: Ledger) -> dict[str, str]:
    return {p.release_tag: p.state().value for p in ledger.pins()}


def _last_green(ledger: Ledger) -> str | None:
    green = ledger.last_green()
    return green.release_tag if green else None


def test_pass_fail_fail_older_pass_then_one_drill(
    tmp_path: Path, pins: tuple[PinInfo, PinInfo]
) -> None:
    v040, v032 = pins
    with Ledger(tmp_path / "ledger.sqlite3", clock=Clock()) as ledger:
        ledger.ensure_seeded(v040)
        assert (_states(ledger), _last_green(ledger)) == ({"v0.4.0": "seeded"}, None)
        _run(ledger, v040, 1)
        assert (_states(ledger), _last_green(ledger)) == ({"v0.4.0": "green"}, "v0.4.0")
        _run(ledger, v040, 2, passed=False)
        # Three failures in a row used to leave it the rollback target: now red at the first.
        assert (_states(ledger), _last_green(ledger)) == ({"v0.4.0": "red"}, None)
        _run(ledger, v040, 3, passed=False)
        assert (_states(ledger), _last_green(ledger)) == ({"v0.4.0": "red"}, None)
        _run(ledger, v032, 4)  # an older pin passes again: it is the last green
        assert _states(ledger) == {"v0.4.0": "red", "v0.3.2": "green"}
        assert _last_green(ledger) == "v0.3.2"
        _run(ledger, v040, 5, partial="drills named on the command line (disabled)")
        assert _states(ledger) == {"v0.4.0": "red", "v0.3.2": "green"}
        assert _last_green(ledger) == "v0.3.2"
        row = next(p for p in ledger.pins() if p.release_tag == "v0.4.0")
        assert row.last_run is not None and row.last_run.run_id == "r5"
        assert not row.last_run.gating
        gating = row.last_gating_run()
        assert gating is not None and gating.run_id == "r3"
        # A newer pass on v0.4.0 makes it green and the most recent green again.
        _run(ledger, v040, 6)
        assert _last_green(ledger) == "v0.4.0"
        assert ledger.last_green(exclude={v040.pin_file_sha256}) is not None


def test_greens_are_kept_per_memorykernel_identity(
    tmp_path: Path, pins: tuple[PinInfo, PinInfo]
) -> None:
    v040, v032 = pins
    with Ledger(tmp_path / "ledger.sqlite3", clock=Clock()) as ledger:
        _run(ledger, v040, 1, identity="sha256:aaa")
        _run(ledger, v032, 2, identity="sha256:bbb")
        _run(ledger, v040, 3, passed=False, identity="sha256:bbb")
        a = "binary:v0.4.0@sha256:aaa"
        b040, b032 = "binary:v0.4.0@sha256:bbb", "binary:v0.3.2@sha256:bbb"
        row = next(p for p in ledger.pins() if p.release_tag == "v0.4.0")
        assert row.state() is PinState.RED  # its latest gating run, whichever MemoryKernel
        assert (row.state(a), row.state(b040)) == (PinState.GREEN, PinState.RED)
        assert row.identities() == [b040, a]
        green_a = ledger.last_green(a)
        assert green_a is not None and green_a.release_tag == "v0.4.0"
        green_b = ledger.last_green(b032)
        assert green_b is not None and green_b.release_tag == "v0.3.2"
        assert _last_green(ledger) == "v0.3.2"


def test_a_v1_ledger_is_migrated_with_its_history(tmp_path: Path, v040: Pin) -> None:
    path = tmp_path / "ledger.sqlite3"
    from runner import ledger as ledger_module

    db = sqlite3.connect(path)
    db.executescript(ledger_module._SCHEMA_V1)
    db.execute(
        "INSERT INTO pins VALUES ('k1', 'v0.4.0', 'c', 'service.v3', 'api.v1', NULL, 's', "
        "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', "
        "'2026-01-01T00:00:00.000000Z', 'seed')"
    )
    db.execute(
        "INSERT INTO runs VALUES ('r1', '2026-01-02T00:00:00.000000Z', '2026-01-02T00:01:00Z', "
        "'nightly', 'local', 'embedded', 'failed', 'x', 'k1', 'o', 'o/report.json', 'now')"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Ledger(path) as ledger:
        (row,) = ledger.pins()
        assert row.seeded_at == "2026-01-01T00:00:00.000000Z"
        assert row.state() is PinState.RED  # the failed nightly decides, not the seed
        run = row.last_gating_run()
        assert run is not None and run.memorykernel == "reference"


@pytest.fixture
def v040() -> Pin:
    return load_pin(PINS / "v0.4.0.json")
