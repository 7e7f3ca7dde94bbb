"""Drill fields written relative to the consumer timeout: parsing, resolution, the shipped catalog."""

from __future__ import annotations

import pytest

from runner.loader import default_drills_dir, load_drills
from runner.relative import parse_relative
from runner.spec import number, relative_fields, resolve_timeouts, retime


@pytest.mark.parametrize(
    ("text", "timeout_ms", "expected_ms"),
    [
        ("timeout", 2500, 2500),
        ("timeout + 300ms", 2500, 2800),
        ("timeout + 300ms", 500, 800),
        ("2 * timeout + 1s", 2500, 6000),
        ("2 × timeout + 1s", 500, 2000),
        ("timeout / 5", 2500, 500),
        ("- 100ms + timeout", 500, 400),
        ("0.5 * timeout - 1.5s + 2s", 1000, 1000),
    ],
)
def test_expressions_evaluate_for_a_timeout(text: str, timeout_ms: int, expected_ms: float) -> None:
    assert parse_relative(text).ms(timeout_ms) == pytest.approx(expected_ms)


@pytest.mark.parametrize("text", ["", "300ms", "timeout +", "timeout * 2", "timeout / 0", "soon"])
def test_what_is_not_an_expression_is_refused_with_the_fix(text: str) -> None:
    with pytest.raises(ValueError, match="timeout"):
        parse_relative(text)


def _catalog() -> dict[str, object]:
    return {d.drill.name: d.drill for d in load_drills([default_drills_dir()])}


def test_the_catalog_scales_with_the_timeout_as_shipped_and_fast() -> None:
    drill = _catalog()["latency-above-timeout"]
    assert relative_fields(drill) == {  # type: ignore[arg-type]
        "fault.latency_ms": "timeout + 300ms",
        "window_s": "2 * timeout + 1s",
    }
    shipped = resolve_timeouts(drill, 2500)  # type: ignore[arg-type]
    fast = resolve_timeouts(drill, 500)  # type: ignore[arg-type]
    assert shipped.fault.latency_ms == 2800 and number(shipped.window_s) == 6.0  # type: ignore[union-attr]
    assert fast.fault.latency_ms == 800 and number(fast.window_s) == 2.0  # type: ignore[union-attr]


@pytest.mark.parametrize("timeout_ms", [100, 500, 2500, 30000])
def test_every_timeout_bound_drill_leaves_room_for_drafts_bounded_by_the_timeout(
    timeout_ms: int,
) -> None:
    # A Draft that waits out the consumer timeout must be able to start and end inside the window,
    # and a latency "above the timeout" must be above it (and "below" below it) at any timeout.
    catalog = _catalog()
    for name in (
        "hang",
        "offline-paused",
        "offline-network-cut",
        "slow-ask-timeout",
        "slow-ask-body",
        "latency-above-timeout",
    ):
        drill = resolve_timeouts(catalog[name], timeout_ms)  # type: ignore[arg-type]
        assert number(drill.window_s) * 1000 >= 2 * timeout_ms, name
    above = resolve_timeouts(catalog["latency-above-timeout"], timeout_ms)  # type: ignore[arg-type]
    below = resolve_timeouts(catalog["latency-below-timeout"], timeout_ms)  # type: ignore[arg-type]
    assert above.fault.latency_ms > timeout_ms > 3 * below.fault.latency_ms  # type: ignore[union-attr]


def test_a_resolved_drill_is_resolved_again_for_another_timeout() -> None:
    loaded = next(d for d in load_drills([default_drills_dir()]) if d.drill.name == "hang")
    at_500 = resolve_timeouts(loaded.drill, 500)
    relative = relative_fields(loaded.drill)
    assert retime(at_500, relative, 2500) == resolve_timeouts(loaded.drill, 2500)
    assert retime(at_500, relative, 2500).window_s == 2 * 2.5 + 1
