"""Which consumer is under test, what mkdrill can apply to it, and which drills that rules out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from runner.spec import ConsumerPinFault, DisabledFault, Drill

ENABLE_VAR = "ASSISTSUPPORT_ENABLE_MEMORY_KERNEL"
TIMEOUT_VAR = "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS"
BASE_URL_VAR = "ASSISTSUPPORT_MEMORY_KERNEL_BASE_URL"
PIN_VAR = "MKDRILL_PIN_FILE"  # given to --consumer-restart-command: the pin file to start with


class ConsumerKind(StrEnum):
    """How mkdrill reaches the consumer under test."""

    REFERENCE = "reference"  # started by mkdrill: every setting applies
    URL = "url"  # yours, already running, probed by Draft URL
    COMMAND = "command"  # yours, run by mkdrill once per Draft


@dataclass(frozen=True)
class ConsumerTarget:
    """The consumer under test and how mkdrill can change it."""

    kind: ConsumerKind = ConsumerKind.REFERENCE
    target: str = ""  # the Draft URL or the command (empty: the reference consumer)
    restart_command: str | None = None

    @property
    def is_reference(self) -> bool:
        """mkdrill started it and can set anything on it."""
        return self.kind is ConsumerKind.REFERENCE

    @property
    def sets_env(self) -> bool:
        """mkdrill can set AssistSupport's variables on it (flag, timeout, base URL)."""
        return self.kind is not ConsumerKind.URL or self.restart_command is not None

    @property
    def swaps_pin(self) -> bool:
        """mkdrill can make it run with another pin (the reference, or via the restart command)."""
        return self.is_reference or self.restart_command is not None

    def describe(self) -> str:
        """One line for the run header and reports."""
        if self.is_reference:
            return "the reference AssistSupport consumer (started by mkdrill)"
        what = (
            f"your consumer at {self.target}"
            if self.kind is ConsumerKind.URL
            else (f"your command {self.target!r}")
        )
        return what + (f", restarted by {self.restart_command!r}" if self.restart_command else "")

    def how_env_is_set(self) -> str:
        """How AssistSupport's variables reach it, for the report."""
        if self.is_reference:
            return "set in the reference consumer"
        if self.kind is ConsumerKind.COMMAND:
            return "set in the environment of every call"
        if self.restart_command:
            return "set by restarting it with --consumer-restart-command"
        return ""

    def cannot_set_env(self) -> str:
        """Why mkdrill cannot set AssistSupport's variables on it."""
        return (
            f"mkdrill cannot set AssistSupport's variables in your consumer at {self.target}; "
            "give --consumer-restart-command to restart it with them"
        )

    def cannot_swap_pin(self) -> str:
        """Why mkdrill cannot give it another pin."""
        where = f"at {self.target}" if self.kind is ConsumerKind.URL else f"run by {self.target!r}"
        return (
            f"your consumer {where} carries its own pin (AssistSupport compiles it in); "
            "give --consumer-restart-command to restart it with another"
        )


def not_applicable_reason(
    drill: Drill, target: ConsumerTarget, rollback_repins: bool = False
) -> str | None:
    """Why `drill` cannot be applied to `target`, or None when it can be applied in full.

    `rollback_repins`: a rollback to the last green pin crosses a contract, so it re-pins the
    consumer too.
    """
    if target.is_reference:
        return None
    fault = drill.fault
    if rollback_repins and drill.recover.to == "last-green" and not target.swaps_pin:
        return (
            "its rollback to the last green pin crosses a contract and re-pins the consumer: "
            f"{target.cannot_swap_pin()}"
        )
    if isinstance(fault, DisabledFault) and not target.sets_env:
        return f"fault disabled sets {ENABLE_VAR}: {target.cannot_set_env()}"
    if isinstance(fault, ConsumerPinFault) and not target.swaps_pin:
        return f"fault consumer_pin restarts the consumer with the {fault.release} pin: {target.cannot_swap_pin()}"
    if drill.consumer.ask_body is not None:
        return (
            f"consumer.ask_body {drill.consumer.ask_body}: mkdrill cannot choose the ask body your "
            "consumer sends (its own code decides)"
        )
    if drill.consumer.timeout_ms is not None and not target.sets_env:
        return f"consumer.timeout_ms sets {TIMEOUT_VAR}: {target.cannot_set_env()}"
    return None
