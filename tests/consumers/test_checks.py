"""Before the first drill: your consumer calls through the proxy, and it is fast enough to judge."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from runner.consumers.checks import (
    ConsumerTooSlow,
    check_calls_through_proxy,
    check_fast_enough,
    pin_from_preflight,
)
from runner.consumers.target import ConsumerKind, ConsumerTarget
from runner.drill_run import DrillSettings
from runner.engine import Releases, RunPlan, not_run, partial_run
from runner.errors import EnvironmentProblem
from runner.loader import default_drills_dir, load_drills
from runner.pins import default_pin_path, load_pin
from runner.probes.draft import DraftOutcome
from runner.record import CapacityLevel, ConsumerCapacity, ConsumerInfo, LatencyStats, Verdict

URL = ConsumerTarget(ConsumerKind.URL, "http://127.0.0.1:4020/v1/draft")
PIN = load_pin(default_pin_path("v0.4.0"))


def outcome(base_url: str | None) -> DraftOutcome:
    return DraftOutcome(200, True, True, None, None, "ready", 5.0, base_url=base_url)


@pytest.mark.parametrize("called", ["http://127.0.0.1:4010", "http://localhost:4010/", None])
def test_a_consumer_calling_the_proxy_passes(called: str | None) -> None:
    check_calls_through_proxy(URL, [outcome(called)], "127.0.0.1:4010")


def test_a_consumer_calling_elsewhere_is_an_environment_error_saying_where() -> None:
    with pytest.raises(EnvironmentProblem) as caught:
        check_calls_through_proxy(URL, [outcome("http://127.0.0.1:4011")], "127.0.0.1:4010")
    message = str(caught.value)
    assert "calls MemoryKernel at http://127.0.0.1:4011" in message
    assert "http://127.0.0.1:4010" in message and "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL" in message


def test_the_preflight_answer_names_an_embedded_pin() -> None:
    assert pin_from_preflight("v0.4.0 service.v3/api.v1") == PIN
    assert pin_from_preflight("v0.4.0 service.v2/api.v1") is None
    assert pin_from_preflight("v9.9.9 service.v9/api.v1") is None


def plan() -> RunPlan:
    drills = [d for d in load_drills([default_drills_dir()]) if d.drill.name == "offline-stopped"]
    return RunPlan(
        run_id="r",
        drills=drills,
        consumer_pin=PIN,
        releases=Releases(baseline=PIN, candidate="v0.3.2"),
        backend="local",
        suite=None,
        out_dir=default_drills_dir(),
        drill_settings=DrillSettings(),
        under_test=URL,
    )


def info(drafts_per_s: float, drafts: int = 9) -> ConsumerInfo:
    capacity = ConsumerCapacity(
        drafts_per_s=drafts_per_s,
        in_flight=1,
        p50_ms=600,
        p95_ms=700,
        enriched=drafts,
        drafts=drafts,
        levels=[],
    )
    return ConsumerInfo(
        kind="url", target=URL.target, pin="v0.4.0", pin_from="--pin", timeout_ms=2500,
        capacity=capacity,
    )  # fmt: skip


def test_a_consumer_too_slow_for_a_window_is_an_environment_error_with_the_figures() -> None:
    consumer = info(1.6)
    settings = replace(DrillSettings(), capacity=consumer.capacity)
    with pytest.raises(ConsumerTooSlow) as caught:
        check_fast_enough(plan(), settings, consumer)
    message = str(caught.value)
    assert caught.value.exit_code == 3
    assert "consumer too slow to drill" in message
    assert "1.6 Drafts/s (1 in flight), p50 600 ms, p95 700 ms" in message
    assert "offline-stopped (2 in its 2 s window)" in message
    assert re.search(r"MemoryKernel healthy \(load average [0-9.]+ on [0-9]+ CPUs\)", message)


def test_a_consumer_fast_enough_passes() -> None:
    consumer = info(20.0)
    check_fast_enough(plan(), replace(DrillSettings(), capacity=consumer.capacity), consumer)


def test_a_consumer_answering_nothing_is_an_environment_error_naming_the_failure() -> None:
    consumer = info(0.0, drafts=0)
    failed = DraftOutcome(None, False, False, None, None, None, 3500.0, "ReadTimeout: timed out")
    with pytest.raises(ConsumerTooSlow, match=r"answered no Draft .*ReadTimeout: timed out"):
        check_fast_enough(plan(), DrillSettings(), consumer, [failed])


def test_healthy_drafts_slower_than_the_bound_are_an_environment_error() -> None:
    consumer = info(20.0)
    assert consumer.capacity is not None
    single = LatencyStats(p50_ms=1900.0, p95_ms=2100.0, max_ms=2200.0)
    level = CapacityLevel(
        in_flight=1, drafts=9, seconds=4.0, drafts_per_s=2.2, enriched=9, latency=single
    )
    consumer = consumer.model_copy(
        update={"capacity": consumer.capacity.model_copy(update={"levels": [level]})}
    )
    settings = replace(DrillSettings(consumer_timeout_ms=500), capacity=consumer.capacity)
    with pytest.raises(ConsumerTooSlow, match=r"p95 2100 ms one at a time .*bound 1750 ms"):
        check_fast_enough(plan(), settings, consumer)


def test_a_run_with_drills_not_applicable_is_partial_and_decides_no_pin() -> None:
    drill = plan().drills[0]
    absent = not_run(drill, "fault disabled sets ...", "t", Verdict.NOT_APPLICABLE)
    assert (
        partial_run(plan(), [absent])
        == "not applicable to the consumer under test: offline-stopped"
    )
    passed = absent.model_copy(update={"verdict": Verdict.PASSED})
    assert partial_run(plan(), [passed]) is None
