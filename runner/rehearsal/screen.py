"""The live screen of an interactive rehearsal: the Draft flow as on-call sees it, the checklist, events.

A pure function of the state (and what the operator is typing): `render` builds a rich
renderable; drawing it, and reading keys, are the session's and `keys`' jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from runner.rehearsal.commands import HELP
from runner.rehearsal.entries import StepState
from runner.rehearsal.state import RehearsalState
from runner.text import shorten_at_word

SECONDS_SHOWN = 8
EVENTS_SHOWN = 6
_STATE_STYLE = {
    StepState.PENDING: "",
    StepState.PERFORMING: "yellow",
    StepState.VERIFYING: "yellow",
    StepState.VERIFIED: "green",
    StepState.FAILED: "red",
}
_MARK = {
    StepState.PENDING: "[ ]",
    StepState.PERFORMING: "[…]",
    StepState.VERIFYING: "[…]",
    StepState.VERIFIED: "[x]",
    StepState.FAILED: "[!]",
}


@dataclass(frozen=True)
class ScreenContext:
    """What the screen shows besides the state: the scenario label, the pin, the typed line."""

    scenario_label: str
    fault_label: str
    consumer_pin: str
    typing: str


def clock_label(seconds: float) -> str:
    """`+01:05` for 65 s."""
    sign = "-" if seconds < 0 else "+"
    whole = int(abs(seconds))
    return f"{sign}{whole // 60:02d}:{whole % 60:02d}"


def _at(value: float | None) -> str:
    return f"+{value:.1f}s" if value is not None else ""


def _reasons(counts: dict[str, int], codes: dict[str, int]) -> str:
    text = ", ".join(f"{r}×{n}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    if codes:
        text += " (" + ", ".join(sorted(codes)) + ")"
    return text or "-"


def _draft_flow(state: RehearsalState, now_s: float) -> Table:
    table = Table(title="Draft flow, per second", title_justify="left", box=None, pad_edge=False)
    for name, justify in (
        ("T", "left"),
        ("drafts", "right"),
        ("answered", "right"),
        ("enriched", "right"),
        ("fallback reasons (codes)", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    last = int(now_s) - 1  # the second still filling is not shown
    for second in range(max(last - SECONDS_SHOWN + 1, 0), last + 1):
        bucket = state.seconds.get(second)
        if bucket is None:
            table.add_row(clock_label(second), "0", "0", "0", "-")
            continue
        unanswered = bucket.drafts - bucket.answered
        table.add_row(
            clock_label(second),
            str(bucket.drafts),
            Text(str(bucket.answered), style="red" if unanswered else ""),
            Text(str(bucket.enriched), style="green" if bucket.enriched else ""),
            _reasons(dict(bucket.reasons), dict(bucket.codes)),
        )
    return table


def _signals(state: RehearsalState, context: ScreenContext) -> Text:
    health = state.health.label() if state.health is not None else "not read yet"
    availability = 100.0 * state.answered / state.drafts if state.drafts else 100.0
    text = Text()
    text.append("preflight ").append(state.preflight or "?", style="bold")
    text.append(" · MemoryKernel health ").append(health, style="bold")
    text.append(f" · consumer pin {context.consumer_pin}\n")
    text.append(
        f"availability {availability:.1f}% ({state.answered}/{state.drafts} answered) · "
        f"enriched {state.enriched}"
    )
    if state.first_fallback_s is not None:
        text.append(f" · first fallback {_at(state.first_fallback_s)}")
    if state.restored_s is not None:
        text.append(f" · restored {_at(state.restored_s)}", style="green")
    return text


def _checklist(state: RehearsalState) -> Table:
    table = Table(title="Checklist", title_justify="left", box=None, pad_edge=False)
    for name in ("#", "", "step", "performed", "verified", "found"):
        table.add_column(name)
    for step in state.steps:
        style = _STATE_STYLE[step.state]
        table.add_row(
            str(step.number),
            Text(_MARK[step.state], style=style),
            step.title,
            _at(step.performed_s),
            Text(_at(step.verified_s), style=style),
            shorten_at_word(step.detail, 70),
        )
    return table


def _events(state: RehearsalState, blind: bool) -> Text:
    visible = [e for e in state.events if not (blind and e.reveals_fault)]
    shown = sorted(visible, key=lambda e: e.at_s)[-EVENTS_SHOWN:]
    text = Text("Events\n", style="bold")
    for event in shown:
        text.append(f"{clock_label(event.at_s)}  {event.actor.value:<8} ", style="dim")
        text.append(shorten_at_word(event.text, 100) + "\n")
    return text


def render(
    state: RehearsalState, now_s: float, context: ScreenContext, blind: bool
) -> RenderableType:
    """The whole screen at incident time `now_s`."""
    budget = state.scenario.budget_s
    header = Text()
    header.append(f"mkdrill rehearse · {context.scenario_label}", style="bold")
    header.append(f" · {clock_label(now_s)} · budget {clock_label(budget)[1:]}")
    header.append(f" · fault: {context.fault_label}")
    prompt = Text("> ", style="bold")
    prompt.append(context.typing)
    prompt.append("█", style="blink")
    footer = Text(state.message or "", style="yellow")
    return Group(
        header,
        Text(""),
        _draft_flow(state, now_s),
        _signals(state, context),
        Text(""),
        _checklist(state),
        Text(""),
        _events(state, blind),
        prompt,
        footer,
        Text(HELP, style="dim"),
    )
