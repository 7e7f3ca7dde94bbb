"""Which drills can be applied to which consumer: never a consumer-side fault on another consumer."""

from __future__ import annotations

import pytest

from runner.consumers.target import ConsumerKind, ConsumerTarget, not_applicable_reason
from runner.loader import default_drills_dir, load_drills
from runner.spec import Drill

CATALOG = {d.drill.name: d.drill for d in load_drills([default_drills_dir()])}
URL = ConsumerTarget(ConsumerKind.URL, "http://127.0.0.1:4020/v1/draft")
URL_RESTARTED = ConsumerTarget(ConsumerKind.URL, URL.target, "./restart-my-consumer")
COMMAND = ConsumerTarget(ConsumerKind.COMMAND, "my-consumer draft")
COMMAND_RESTARTED = ConsumerTarget(ConsumerKind.COMMAND, COMMAND.target, "./rebuild")
CONSUMER_SIDE = {"disabled", "version-mismatch-consumer-ahead", "contract-shipped-ask-body"}


def absent(target: ConsumerTarget) -> set[str]:
    return {name for name, drill in CATALOG.items() if not_applicable_reason(drill, target)}


def test_the_reference_consumer_takes_every_drill() -> None:
    assert absent(ConsumerTarget()) == set()


def test_a_url_alone_rules_out_every_consumer_side_drill_and_nothing_else() -> None:
    assert absent(URL) == CONSUMER_SIDE
    reason = not_applicable_reason(CATALOG["disabled"], URL)
    assert reason is not None
    assert "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL" in reason and URL.target in reason
    assert "--consumer-restart-command" in reason


def test_a_command_gets_the_flag_per_call_but_keeps_its_pin() -> None:
    assert absent(COMMAND) == {"version-mismatch-consumer-ahead", "contract-shipped-ask-body"}
    reason = not_applicable_reason(CATALOG["version-mismatch-consumer-ahead"], COMMAND)
    assert reason is not None and "compiles it in" in reason


@pytest.mark.parametrize("target", [URL_RESTARTED, COMMAND_RESTARTED])
def test_a_restart_command_applies_flags_and_pins_but_never_an_ask_body(
    target: ConsumerTarget,
) -> None:
    assert absent(target) == {"contract-shipped-ask-body"}
    reason = not_applicable_reason(CATALOG["contract-shipped-ask-body"], target)
    assert reason is not None and "ask body" in reason


def test_a_drill_timeout_needs_the_variables() -> None:
    drill = Drill.model_validate(
        {
            "name": "short-timeout",
            "description": "the consumer timeout is cut for this drill",
            "suites": ["nightly"],
            "fault": {"kind": "stop"},
            "expect": {"during": "fallback", "fallback_reasons": ["offline"]},
            "consumer": {"timeout_ms": 300},
        }
    )
    reason = not_applicable_reason(drill, URL)
    assert reason is not None and "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS" in reason
    assert not_applicable_reason(drill, COMMAND) is None
    assert not_applicable_reason(drill, URL_RESTARTED) is None


def test_a_rollback_that_re_pins_needs_a_way_to_swap_the_pin() -> None:
    drill = CATALOG["rollback-last-green"]
    reason = not_applicable_reason(drill, URL, rollback_repins=True)
    assert reason is not None and "re-pins the consumer" in reason
    assert not_applicable_reason(drill, URL, rollback_repins=False) is None
    assert not_applicable_reason(drill, URL_RESTARTED, rollback_repins=True) is None
