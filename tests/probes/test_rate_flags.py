"""--steady-rate and --verify-rate reach the probe's pace of their phases, capped by the consumer."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.drill_run import DrillSettings
from runner.plan import RunRequest, build_plan
from runner.probes.pace import CAPACITY_SHARE
from runner.record import ConsumerCapacity, Phase


def settings(tmp_path: Path, steady: float, verify: float | None) -> DrillSettings:
    request = RunRequest(
        drills=[], suite=None, backend="local", pin=None, out=None, drills_dir=None,
        fail_fast=False, rate_hz=25.0, consumer_timeout_ms=500, ask_body="patched",
        reports_root=tmp_path, steady_rate_hz=steady, verify_rate_hz=verify,
        probe_url="http://127.0.0.1:4020/v1/draft",
    )  # fmt: skip
    return build_plan(request, "rates", None, None).drill_settings


def test_each_phase_drafts_at_the_rate_asked_for_it(tmp_path: Path) -> None:
    chosen = settings(tmp_path, steady=7.0, verify=3.0)
    assert chosen.pace(Phase.STEADY, 1750).rate_hz == 7.0
    assert chosen.pace(Phase.VERIFY, 1750).rate_hz == 3.0
    assert chosen.pace(Phase.OBSERVE, 1750).rate_hz == 25.0  # --rate
    # --verify-rate defaults to --steady-rate
    assert settings(tmp_path, steady=9.0, verify=None).pace(Phase.VERIFY, 1750).rate_hz == 9.0


def test_a_consumer_slower_than_the_rates_asked_caps_every_phase(tmp_path: Path) -> None:
    slow = ConsumerCapacity(
        drafts_per_s=10.0, in_flight=2, p50_ms=100, p95_ms=120, enriched=20, drafts=20, levels=[]
    )
    capped = DrillSettings(
        **{**settings(tmp_path, steady=50.0, verify=40.0).__dict__, "capacity": slow}
    )
    for phase in (Phase.STEADY, Phase.VERIFY, Phase.OBSERVE):
        assert capped.pace(phase, 1750).rate_hz == pytest.approx(10.0 * CAPACITY_SHARE)
    # with MemoryKernel healthy no more in flight than it answers: rate × 2 × p95, + 1
    assert capped.pace(Phase.STEADY, 1750).slots == 3
