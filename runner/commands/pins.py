"""`mkdrill pins`: the pins the ledger has seen, the last green one marked."""

from __future__ import annotations

from pathlib import Path

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
        return "last green: none yet (the first `mkdrill run` seeds the pin it uses)"
    how = "seeded as the baseline" if pin.green_run_id == "seed" else f"run {pin.green_run_id}"
    return (
        f"last green: {describe_pin(pin)} from {pin.source}, green since "
        f"{short_time(pin.green_since)}, last confirmed {short_time(pin.last_green_at)} ({how})"
    )


def pins(ledger: Path = DEFAULT_LEDGER_PATH) -> None:
    """List the pins the ledger has seen; `*` marks the last green pin (the rollback target)."""
    if not ledger.exists():
        typer.echo(f"No ledger at {ledger} yet: no run has been recorded.")
        return
    with Ledger(ledger, create=False) as book:
        rows = book.pins()
        last_green = book.last_green()
    table = [
        [
            LAST_GREEN_MARK
            if last_green and pin.pin_file_sha256 == last_green.pin_file_sha256
            else "",
            pin.release_tag,
            short_sha(pin.commit_sha),
            f"{pin.service_contract_version}/{pin.api_contract_version}",
            short_sha(pin.manifest_sha256),
            short_sha(pin.pin_file_sha256),
            "yes" if pin.green else "no",
            short_time(pin.green_since),
            str(pin.runs),
            pin.last_verdict.value if pin.last_verdict else DASH,
            pin.source,
        ]
        for pin in rows
    ]
    headers = [
        "",
        "release",
        "commit",
        "contract",
        "manifest sha256",
        "pin file sha256",
        "green",
        "green since",
        "runs",
        "last run",
        "source",
    ]
    typer.echo(tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True))
    typer.echo("")
    typer.echo(f"{LAST_GREEN_MARK} {green_line(last_green)}")
