"""`mkdrill pins [--json]`: the pins the ledger has seen, each with its state; the last green marked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from tabulate import tabulate

from runner.ledger import DEFAULT_LEDGER_PATH, Ledger, PinRow
from runner.reports.tables import DASH, short_sha

LAST_GREEN_MARK = "*"


def short_time(stamp: str | None) -> str:
    """`2026-01-05 02:01Z` from a stored UTC time."""
    if not stamp:
        return DASH
    return stamp[:16].replace("T", " ") + "Z" if len(stamp) >= 16 else stamp


def describe_pin(pin: PinRow) -> str:
    """One line naming a pin for people: tag, commit, contract versions."""
    return (
        f"{pin.release_tag} @ {short_sha(pin.commit_sha)} "
        f"({pin.service_contract_version}/{pin.api_contract_version})"
    )


def green_line(pin: PinRow | None) -> str:
    """`last green: …` line for the pins and history commands."""
    if pin is None:
        return "last green: none (no pin's latest complete nightly or quarterly run passed)"
    run = pin.last_gating_run()
    assert run is not None
    return (
        f"last green: {describe_pin(pin)} from {pin.source}, run {run.run_id} "
        f"({run.suite}, {short_time(run.started_at)}, MemoryKernel {run.memorykernel})"
    )


def pin_json(pin: PinRow, last_green: PinRow | None) -> dict[str, Any]:
    """One pin for scripts: identity, trio, state, last run and last complete gating run."""
    last_run = pin.last_run
    gating = pin.last_gating_run()
    return {
        "release_tag": pin.release_tag,
        "commit_sha": pin.commit_sha,
        "service_contract_version": pin.service_contract_version,
        "api_contract_version": pin.api_contract_version,
        "pin_file_sha256": pin.pin_file_sha256,
        "manifest_sha256": pin.manifest_sha256,
        "matrix_sha256": pin.matrix_sha256,
        "source": pin.source,
        "state": pin.state().value,
        "seeded_at": pin.seeded_at,
        "runs": pin.runs,
        "last_run": last_run.as_json() if last_run else None,
        "last_gating_run": gating.as_json() if gating else None,
        "by_memorykernel": {
            identity: {
                "state": pin.state(identity).value,
                "last_gating_run": run.as_json()
                if (run := pin.last_gating_run(identity))
                else None,
            }
            for identity in pin.identities()
        },
        "last_green": last_green is not None and last_green.pin_file_sha256 == pin.pin_file_sha256,
    }


def _green_json(pin: PinRow | None, memorykernel: str | None = None) -> dict[str, Any] | None:
    if pin is None:
        return None
    run = pin.last_gating_run(memorykernel)
    return {
        "release_tag": pin.release_tag,
        "pin_file_sha256": pin.pin_file_sha256,
        "source": pin.source,
        "run": run.as_json() if run else None,
    }


def ledger_json(book: Ledger) -> dict[str, Any]:
    """`mkdrill pins --json`: every pin with state, last run and last green (overall and per MemoryKernel)."""
    rows = book.pins()
    last_green = book.last_green()
    identities = sorted({identity for pin in rows for identity in pin.identities()})
    return {
        "ledger": str(book.path),
        "pins": [pin_json(pin, last_green) for pin in rows],
        "last_green": _green_json(last_green),
        "last_green_by_memorykernel": {
            identity: _green_json(book.last_green(identity), identity) for identity in identities
        },
    }


def pins(ledger: Path = DEFAULT_LEDGER_PATH, as_json: bool = False) -> None:
    """List the pins the ledger has seen; `*` marks the last green pin (the rollback target)."""
    if not ledger.exists():
        if as_json:
            typer.echo(json.dumps({"ledger": str(ledger), "pins": [], "last_green": None,
                                   "last_green_by_memorykernel": {}}))  # fmt: skip
        else:
            typer.echo(f"No ledger at {ledger} yet: no run has been recorded.")
        return
    with Ledger(ledger, create=False) as book:
        if as_json:
            typer.echo(json.dumps(ledger_json(book), indent=2))
            return
        rows = book.pins()
        last_green = book.last_green()
    table = []
    for pin in rows:
        last_run, gating = pin.last_run, pin.last_gating_run()
        table.append(
            [
                LAST_GREEN_MARK
                if last_green and pin.pin_file_sha256 == last_green.pin_file_sha256
                else "",
                pin.release_tag,
                short_sha(pin.commit_sha),
                f"{pin.service_contract_version}/{pin.api_contract_version}",
                short_sha(pin.pin_file_sha256),
                pin.state().value,
                f"{gating.verdict.value} {gating.suite} {short_time(gating.started_at)}"
                if gating
                else DASH,
                str(pin.runs),
                f"{last_run.verdict.value}{'' if last_run.gating else ' (partial)'}"
                if last_run
                else DASH,
                pin.source,
            ]
        )
    headers = [
        "",
        "release",
        "commit",
        "contract",
        "pin file sha256",
        "state",
        "last complete gating run",
        "runs",
        "last run",
        "source",
    ]
    typer.echo(tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True))
    typer.echo("")
    typer.echo(f"{LAST_GREEN_MARK} {green_line(last_green)}")
