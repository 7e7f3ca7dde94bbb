"""`mkdrill env reset`: remove what runs whose owner is gone left behind; a live run is never touched.

A run is live while its lock is held or its owner process still runs (local: the state file's
owner pid; compose: the owner labels on its Docker objects; an owner on another host cannot be
checked, so it counts as live). `--all` removes live runs too, and says which first.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from runner.backends.owner import LABEL_OWNER_HOST, LABEL_OWNER_PID, OwnerState, owner_state
from runner.backends.processes import sweep_state
from runner.lock import lock_holder

ENV_RUN_ID = "env"
LOCK_NAMES = ("local.lock", "compose.lock")


@dataclass(frozen=True)
class Liveness:
    """Why a run counts as live, or None when its owner is gone."""

    why: str | None


@dataclass
class ResetOutcome:
    """What a reset removed, and which runs it left alone (with why)."""

    removed: list[str] = field(default_factory=list)
    spared: list[tuple[str, str]] = field(default_factory=list)
    forced: list[tuple[str, str]] = field(default_factory=list)


def locked_runs(state: Path) -> dict[str, str]:
    """Run ids holding a run lock in `state`, with the lock file."""
    held: dict[str, str] = {}
    for name in LOCK_NAMES:
        holder = lock_holder(state / name)
        if holder is not None:
            held[holder] = str(state / name)
    return held


def describe_run(run_id: str) -> str:
    """`run <id>`, or what the env-up environment is."""
    return "the `mkdrill env up` environment" if run_id == ENV_RUN_ID else f"run {run_id}"


def _local_owner(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {LABEL_OWNER_PID: str(data.get("owner_pid", "") or "")}


def _judge(run_id: str, owner: dict[str, str], locked: dict[str, str]) -> Liveness:
    if run_id in locked:
        return Liveness(f"it holds the run lock {locked[run_id]}")
    if run_id == ENV_RUN_ID:
        return Liveness(None)  # `env up` services outlive the command that started them
    state = owner_state(owner)
    if state is OwnerState.ALIVE:
        return Liveness(f"its runner (pid {owner.get(LABEL_OWNER_PID)}) is alive")
    if state is OwnerState.ELSEWHERE:
        return Liveness(
            f"its runner (pid {owner.get(LABEL_OWNER_PID)}) runs on host "
            f"{owner.get(LABEL_OWNER_HOST)}, which cannot be checked from here"
        )
    return Liveness(None)


def _choose(
    owners: dict[str, dict[str, str]],
    locked: dict[str, str],
    only: Iterable[str],
    force: bool,
    outcome: ResetOutcome,
) -> list[str]:
    wanted = set(only)
    chosen: list[str] = []
    for run_id in sorted(owners):
        if wanted and run_id not in wanted:
            continue
        live = _judge(run_id, owners[run_id], locked)
        if force:
            outcome.forced.append((run_id, f"live: {live.why}" if live.why else "owner gone"))
            chosen.append(run_id)
        elif live.why is None:
            chosen.append(run_id)
        else:
            outcome.spared.append((run_id, live.why))
    return chosen


def reset_local(
    state: Path, *, force: bool = False, only: Iterable[str] = (), announce: Callable[[str], None]
) -> ResetOutcome:
    """Kill the processes and remove the files of local runs whose owner is gone."""
    outcome = ResetOutcome()
    owners = {path.stem: _local_owner(path) for path in sorted(state.glob("*.json"))}
    scratch = {p.name for p in state.glob("*") if p.is_dir()}
    owners.update({name: {} for name in scratch if name not in owners})
    chosen = _choose(owners, locked_runs(state), only, force, outcome)
    _announce_forced(outcome, announce)
    for run_id in chosen:
        record = state / f"{run_id}.json"
        if record.exists():
            outcome.removed.extend(sweep_state(record))
        folder = state / run_id
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            outcome.removed.append(f"files {folder}")
    return outcome


def reset_compose(
    state: Path, *, force: bool = False, only: Iterable[str] = (), announce: Callable[[str], None]
) -> ResetOutcome:
    """Remove the Docker objects of compose runs whose owner is gone."""
    from runner.backends.docker_client import connect
    from runner.backends.docker_sweep import run_owners, sweep

    outcome = ResetOutcome()
    client = connect()
    try:
        chosen = _choose(run_owners(client), locked_runs(state), only, force, outcome)
        _announce_forced(outcome, announce)
        for run_id in chosen:
            outcome.removed.extend(sweep(client, run_id))
    finally:
        client.close()
    return outcome


def _announce_forced(outcome: ResetOutcome, announce: Callable[[str], None]) -> None:
    if outcome.forced:
        runs = "; ".join(f"{describe_run(run_id)} ({why})" for run_id, why in outcome.forced)
        announce(
            f"--all: removing everything of {len(outcome.forced)} run(s), live ones too: {runs}"
        )
