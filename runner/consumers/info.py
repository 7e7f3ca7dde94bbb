"""The report's `consumer` block: the consumer under test, the settings applied to it and those not."""

from __future__ import annotations

from runner.consumers.target import (
    BASE_URL_VAR,
    ENABLE_VAR,
    PIN_VAR,
    TIMEOUT_VAR,
    ConsumerKind,
    ConsumerTarget,
)
from runner.pins import Pin
from runner.record import ConsumerInfo


def pin_label(pin: Pin) -> str:
    """`v0.4.0 service.v3/api.v1`."""
    return (
        f"{pin.release_tag} {pin.expected_service_contract_version}/"
        f"{pin.expected_api_contract_version}"
    )


def consumer_info(
    target: ConsumerTarget,
    pin: Pin,
    pin_from: str,
    timeout_ms: int,
    timeout_set: bool,
    ask_body: str,
    defect: str,
    proxy: str,
) -> ConsumerInfo:
    """What mkdrill applies to `target`, and what it cannot and why (`proxy`: host:port or `?`).

    `timeout_set`: mkdrill sets the timeout variable (else the consumer uses its pin's own).
    """
    timeout = str(timeout_ms) if timeout_set else f"unset: its pin's default {timeout_ms} ms"
    applied: dict[str, str] = {}
    not_applied: dict[str, str] = {}
    if target.is_reference:
        applied = {
            "ask_body": ask_body,
            "defect": defect,
            TIMEOUT_VAR: timeout,
            BASE_URL_VAR: f"http://{proxy}",
            ENABLE_VAR: "by the disabled drill",
            "pin": f"{pin.release_tag} (and others by the consumer_pin drill)",
        }
    else:
        own = "its own code decides; mkdrill cannot choose it"
        not_applied = {"ask_body": own, "defect": own}
        if target.sets_env:
            how = target.how_env_is_set()
            applied[TIMEOUT_VAR] = f"{timeout} ({how})" if timeout_set else timeout
            applied[BASE_URL_VAR] = f"http://{proxy} ({how})"
            applied[ENABLE_VAR] = f"by the disabled drill ({how})"
        else:
            reason = target.cannot_set_env()
            assumed = "as --consumer-timeout-ms says" if timeout_set else "its pin's default"
            not_applied[TIMEOUT_VAR] = f"{reason}; assumed {timeout_ms} ms ({assumed})"
            not_applied[BASE_URL_VAR] = (
                f"{reason}; the proxy listens at http://{proxy}, where it must call "
                "(an unconfigured AssistSupport build calls its pin's default_base_url)"
            )
            not_applied[ENABLE_VAR] = reason
        if target.swaps_pin:
            applied["pin"] = (
                f"{pin.release_tag}, and others through {PIN_VAR} of the restart command"
            )
        else:
            not_applied["pin"] = target.cannot_swap_pin()
    return ConsumerInfo(
        kind=target.kind.value,
        target=target.target if target.kind is not ConsumerKind.REFERENCE else "reference",
        restart_command=target.restart_command,
        pin=pin_label(pin),
        pin_from=pin_from,
        timeout_ms=timeout_ms,
        applied=applied,
        not_applied=not_applied,
    )
