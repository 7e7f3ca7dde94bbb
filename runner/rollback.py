"""Perform a drill's restore: remove the fault, or roll back, across a contract change when needed.

`to: baseline` puts back the release the consumer's pin names (undo a bad deploy). `to: last-green`
restores the last green pin trio before the one under drill: MemoryKernel at its release and, when
its contract differs, the consumer re-pinned with that trio's pin, matrix and manifest (SHA-256
checked, swapped together). The undo that puts the drill's own baseline back is on the stack before
anything changes.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from runner.errors import RollbackError
from runner.faults.catalog import FaultContext
from runner.pins import Pin
from runner.spec import Recovery
from runner.trio import ConsumerPinFolder, RollbackTarget, revert_trio


@dataclass(frozen=True)
class RestorePlan:
    """What a restore puts in place: the release, the pin the consumer carries, the trio if re-pinned."""

    kind: str
    release: str | None  # None: remove the fault only, the release stays
    pin: Pin
    repin: RollbackTarget | None

    def expected_versions(self) -> tuple[str, str]:
        """The contract versions health must answer once restored."""
        return self.pin.expected_service_contract_version, self.pin.expected_api_contract_version


def plan_restore(recover: Recovery, ctx: FaultContext) -> RestorePlan:
    """Decide where the restore goes (RollbackError when a last-green target is missing)."""
    consumer_pin = ctx.consumer.pin
    if recover.kind != "rollback":
        return RestorePlan(recover.kind, None, consumer_pin, None)
    if recover.to == "baseline":
        return RestorePlan(recover.kind, ctx.baseline.release_tag, consumer_pin, None)
    target = ctx.rollback_target
    if target is None:
        raise RollbackError("recover.to last-green: the run planned no rollback target")
    repin = target if target.crosses_contract(consumer_pin) else None
    return RestorePlan(
        recover.kind, target.release_tag, target.trio.pin if repin else consumer_pin, repin
    )


def perform_restore(
    plan: RestorePlan,
    ctx: FaultContext,
    remove_fault: Callable[[], None],
    undo: contextlib.ExitStack,
) -> None:
    """Carry the restore out; everything it changes is undone when the drill ends."""
    if plan.release is None:
        remove_fault()
        return
    if plan.release != ctx.env.memorykernel_release or plan.repin is not None:
        undo.callback(_back_to_baseline, ctx, plan.repin is not None)
    installed_pin: Pin | None = None
    if plan.repin is not None:
        folder = Path(tempfile.mkdtemp(prefix="mkdrill-trio-"))
        undo.callback(_remove_tree, folder)
        installed_pin = revert_trio(
            ConsumerPinFolder(folder), plan.repin.trio, plan.repin.expected
        ).pin
    ctx.env.start_memorykernel(plan.release)
    remove_fault()
    if installed_pin is not None:
        # A consumer re-pin is a redeploy of the Draft flow: the probe pauses while it restarts.
        with ctx.probe_paused():
            ctx.target.restart(replace(ctx.consumer, pin=installed_pin))


def _back_to_baseline(ctx: FaultContext, repinned: bool) -> None:
    # Putting the drill's baseline back is not part of the drill: no Draft is sampled meanwhile.
    baseline = ctx.baseline.release_tag
    with ctx.probe_paused():
        if ctx.env.memorykernel_release != baseline:
            ctx.env.start_memorykernel(baseline)
        if repinned:  # the consumer under test gets its own pin back
            ctx.target.restart(ctx.consumer)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
