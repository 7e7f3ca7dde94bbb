"""The unattended operator's decisions on a fake clock; what a person types, parsed and edited."""

from __future__ import annotations

import pytest

from runner.rehearsal.auto import AutoOperator, diagnosis_from
from runner.rehearsal.commands import (
    Abandon,
    CommandError,
    Diagnose,
    Help,
    Note,
    Perform,
    Prevent,
    Quit,
    Verify,
    parse_command,
)
from runner.rehearsal.health import HealthReading
from runner.rehearsal.keys import LineEditor
from tests.rehearsal.factory import SCENARIO_TEXT, fallback, new_state

TWO_FAULTS = SCENARIO_TEXT.replace(
    "  - {at_s: 0, fault: {kind: stop}}\n",
    "  - {at_s: 0, fault: {kind: stop}}\n  - {at_s: 2, fault: {kind: proxy_down}}\n",
)


def test_auto_waits_for_the_faults_and_the_first_fallback_then_diagnoses_from_the_signals() -> None:
    state, clock = new_state()
    auto = AutoOperator(state)
    assert auto.commands(clock.now(), faults_all_in=False) == []
    assert auto.commands(clock.now(), faults_all_in=True) == []  # no fallback yet
    state.ingest(
        [fallback(0.1, "non-2xx", "internal_error"), fallback(0.2, "non-2xx", "internal_error")]
    )
    state.preflight = "ready"
    state.observe_health(HealthReading(True, 200, "service.v3", "api.v1", "ok", 2.0))
    clock.advance(0.4)
    assert auto.commands(clock.now(), True) == []  # observe_s 0.5 after the first fallback
    clock.advance(0.3)
    (diagnose,) = auto.commands(clock.now(), True)
    assert diagnose == Diagnose(
        "Drafts fall back with non-2xx×2 (machine_error_code internal_error); preflight ready; "
        "MemoryKernel health ok service.v3/api.v1 (2 ms)"
    )
    assert diagnose.text == diagnosis_from(state)


def test_auto_works_the_steps_in_order_and_enters_prevention_before_the_summary() -> None:
    state, clock = new_state()
    auto = AutoOperator(state)
    state.ingest([fallback(0.1)])
    clock.advance(1.0)
    state.diagnose("down", clock.now())
    assert auto.commands(clock.now(), True) == [Perform(1)]
    state.request_step(1, clock.now(), perform=True)
    assert auto.commands(clock.now(), True) == []  # step 1 still running
    state.step_performed(1, True, "frozen", clock.now())
    state.step_verified(1, True, "ok", clock.now())
    assert auto.commands(clock.now(), True) == [Perform(2)]
    state.request_step(2, clock.now(), perform=True)
    state.step_performed(2, True, "removed", clock.now())
    state.step_verified(2, True, "ok", clock.now())
    assert auto.commands(clock.now(), True) == [Prevent("Supervise MemoryKernel"), Perform(3)]


def test_auto_gives_up_on_a_failed_step_and_on_an_incident_that_never_shows() -> None:
    state, clock = new_state()
    auto = AutoOperator(state)
    clock.advance(30.5)
    (give_up,) = auto.commands(clock.now(), True)
    assert give_up == Abandon(
        "the incident never showed: no fallback within 30 s of the last fault"
    )
    state, clock = new_state()
    auto = AutoOperator(state)
    state.ingest([fallback(0.1)])
    state.diagnose("down", clock.now() + 1)
    state.request_step(1, clock.now(), perform=True)
    state.step_performed(1, False, "no deployed trio", clock.now())
    assert auto.commands(clock.now() + 2, True) == [
        Abandon("step 1 (freeze) failed: no deployed trio")
    ]


def test_auto_counts_from_the_last_scheduled_fault() -> None:
    state, clock = new_state(TWO_FAULTS)
    assert state.scenario.last_injection_s == 2.0
    clock.advance(31.0)
    assert AutoOperator(state).commands(clock.now(), True) == []  # 31 s < 2 s + 30 s


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("d MemoryKernel   is down", Diagnose("MemoryKernel is down")),
        ("diagnose ask answers 500", Diagnose("ask answers 500")),
        ("n rollback was smooth", Note("rollback was smooth")),
        ("p alert on offline", Prevent("alert on offline")),
        ("do 2", Perform(2)),
        ("do", Perform(3)),  # the next step not verified yet
        ("v 1", Verify(1)),
        ("VERIFY 4", Verify(4)),
        ("quit", Quit()),
        ("?", Help()),
    ],
)
def test_commands_are_parsed(line: str, command: object) -> None:
    assert parse_command(line, steps=4, next_step=3) == command


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("d", "d: add the text, e.g. `d MemoryKernel is down`"),
        ("do 7", "do: the checklist has steps 1..4 (got 7)"),
        ("v two", "v: give a step number 1..4 (got 'two')"),
        ("restart", "unknown command 'restart'"),
    ],
)
def test_a_bad_line_says_what_to_type(line: str, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(line, steps=4, next_step=3)
    assert str(caught.value).startswith(message)


def test_do_without_a_number_when_every_step_is_verified() -> None:
    with pytest.raises(CommandError, match="every step is verified already"):
        parse_command("do", steps=4, next_step=None)


def test_the_line_editor_edits_and_ignores_escape_sequences() -> None:
    editor = LineEditor()
    assert editor.feed("d MK dpwn") == []
    assert editor.feed("\x7f\x7f\x7fown\x1b[A\x1b[D") == []  # backspaces, then arrow keys
    assert editor.buffer == "d MK down"
    assert editor.feed("\r") == ["d MK down"]
    assert editor.feed("garbage\x15do 1\rv 1\n\r") == [
        "do 1",
        "v 1",
    ]  # Ctrl-U, two lines, an empty one
    assert editor.buffer == ""


def test_auto_watches_after_the_last_fault_went_in_and_diagnoses_what_it_saw_since() -> None:
    state, clock = new_state(TWO_FAULTS)
    auto = AutoOperator(state)
    state.ingest([fallback(0.1, "timeout")])  # starting the faults disturbed the Draft flow
    state.fault_injected(0, clock.now())
    clock.advance(2.0)
    state.fault_injected(1, clock.now())
    state.ingest([fallback(2.1), fallback(2.3)])
    clock.advance(0.4)
    assert auto.commands(clock.now(), True) == []  # 0.5 s after the last fault went in
    clock.advance(0.2)
    (diagnose,) = auto.commands(clock.now(), True)
    assert isinstance(diagnose, Diagnose)
    assert diagnose.text.startswith("Drafts fall back with offline×2; preflight offline")
