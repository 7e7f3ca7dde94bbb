"""Decide a run before anything starts: drills, pins, releases, folders. Bad input fails here, exit 2."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from runner.backends.base import AskBody
from runner.backends.listen_address import listen_from_base_url, parse_listen
from runner.backends.memorykernel_local import missing_binary_message
from runner.consumers.defects import ConsumerDefect
from runner.consumers.target import ConsumerKind, ConsumerTarget, not_applicable_reason
from runner.contract import RELEASES, TIMEOUT_MS_MAX, TIMEOUT_MS_MIN
from runner.drill_run import STEADY_RATE_HZ, DrillSettings
from runner.engine import Releases, RunPlan, candidate_for
from runner.errors import DefinitionError, DrillError
from runner.ledger import Ledger, PinRow
from runner.loader import LoadedDrill, default_drills_dir, load_drills, select_drills
from runner.pins import (
    SHIPPED_TAG,
    Pin,
    check_manifest_matches,
    default_manifest_path,
    default_pin_path,
    load_pin,
)
from runner.spec import DeployReleaseFault, relative_fields, resolve_timeouts
from runner.trio import (
    RECORDED_ROLLBACK_TARGETS,
    ROLLBACK_RECORD,
    PinTrio,
    RollbackTarget,
    TrioDigests,
    embedded_trio,
    load_trio,
    locate_trio,
)

MANIFEST_BESIDE_PIN = "memorykernel-producer-manifest.json"


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for on the command line (after env and defaults)."""

    drills: list[str]
    suite: str | None
    backend: str
    pin: Path | None
    out: Path | None
    drills_dir: Path | None
    fail_fast: bool
    rate_hz: float
    consumer_timeout_ms: int | None  # None: the pin's default_timeout_ms, as AssistSupport ships it
    ask_body: str
    reports_root: Path
    load_workers: int = 0
    memorykernel_bins: dict[str, Path] = field(default_factory=dict)
    steady_rate_hz: float = STEADY_RATE_HZ
    verify_rate_hz: float | None = None  # default: the steady-state rate
    probe_url: str | None = None
    probe_command: str | None = None
    restart_command: str | None = None
    consumer_pin: Path | None = None  # the pin your consumer carries
    proxy_listen: str | None = None
    consumer_defect: ConsumerDefect = ConsumerDefect.NONE  # the reference consumer's defect


def new_run_id() -> str:
    """Sortable, unique: UTC time plus a short random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def manifest_for(pin: Pin) -> Path | None:
    """The producer manifest to check the pin's SHA-256 against: beside the pin file, else the embedded one."""
    beside = pin.source.parent / MANIFEST_BESIDE_PIN if pin.source else None
    if beside is not None and beside.is_file():
        return beside
    try:
        return default_manifest_path(pin.release_tag)
    except DefinitionError:
        return None


def load_consumer_pin(path: Path | None) -> Pin:
    """The consumer's pin: the given file or AssistSupport's shipped one, its manifest hash verified."""
    pin = load_pin(path or default_pin_path(SHIPPED_TAG))
    manifest = manifest_for(pin)
    if pin.expected_producer_manifest_sha256 and manifest is not None:
        check_manifest_matches(pin, manifest)
    return pin


def pin_from_ledger(row: PinRow | None) -> Pin | None:
    """The pin file behind a ledger row: its recorded source if unchanged, else the embedded pin of its tag."""
    if row is None:
        return None
    source = Path(row.source)
    if source.is_file():
        with contextlib.suppress(DefinitionError):
            pin = load_pin(source)
            if pin.raw_sha256 == row.pin_file_sha256:
                return pin
    with contextlib.suppress(DefinitionError):
        return load_pin(default_pin_path(row.release_tag))
    return None


def consumer_timeout(override_ms: int | None, pin: Pin) -> tuple[int, bool]:
    """The consumer's per-request timeout and whether it is the pin's own (no override set)."""
    if override_ms is not None:
        return override_ms, False
    timeout = pin.default_timeout_ms
    if not TIMEOUT_MS_MIN <= timeout <= TIMEOUT_MS_MAX:
        raise DefinitionError(
            f"{pin.source}: default_timeout_ms: {timeout} ms is outside the "
            f"{TIMEOUT_MS_MIN}..{TIMEOUT_MS_MAX} ms the drill catalog is written for; "
            "give --consumer-timeout-ms"
        )
    return timeout, True


def resolve_drills(drills: list[LoadedDrill], timeout_ms: int) -> list[LoadedDrill]:
    """Each drill with its timeout-relative fields as numbers for the timeout it runs with."""
    return [
        LoadedDrill(
            resolve_timeouts(d.drill, d.drill.consumer.timeout_ms or timeout_ms),
            d.path,
            relative=relative_fields(d.drill),
        )
        for d in drills
    ]


def _row_trio(row: PinRow) -> tuple[PinTrio, TrioDigests]:
    """The trio behind a ledger row, with the digests it was recorded with.

    Its recorded files when they still exist, else the embedded trio of its tag; the digests the
    ledger recorded are what the rollback checks the files against.
    """
    sources = (row.source, row.manifest_source, row.matrix_source)
    trio: PinTrio | None = None
    if all(sources) and all(Path(str(p)).is_file() for p in sources):
        with contextlib.suppress(DefinitionError):
            trio = load_trio(*(Path(str(p)) for p in sources))
    if trio is None or trio.digests.pin_sha256 != row.pin_file_sha256:
        try:
            trio = embedded_trio(row.release_tag)
        except DrillError as exc:
            raise DefinitionError(
                f"rollback target {row.release_tag} from {row.source}: its pin, matrix and "
                f"manifest are not where the ledger recorded them ({exc})"
            ) from exc
    expected = TrioDigests(
        row.pin_file_sha256,
        row.manifest_file_sha256 or trio.digests.manifest_sha256,
        row.matrix_sha256 or trio.digests.matrix_sha256,
    )
    return trio, expected


def rollback_target(consumer_pin: Pin, ledger: Ledger | None) -> RollbackTarget:
    """The last green pin trio before the one under drill; else a seeded one; else the target
    AssistSupport's rollback drill record names for the consumer's pin."""
    exclude = {consumer_pin.raw_sha256}
    green = ledger.last_green(exclude=exclude) if ledger is not None else None
    if green is not None:
        run = green.last_gating_run()
        assert run is not None
        trio, expected = _row_trio(green)
        why = (
            f"last green pin: run {run.run_id} ({run.suite}, {run.started_at}, "
            f"MemoryKernel {run.memorykernel})"
        )
        return RollbackTarget(trio, expected, why)
    seeded = ledger.last_seeded(exclude=exclude) if ledger is not None else None
    if seeded is not None:
        trio, expected = _row_trio(seeded)
        return RollbackTarget(
            trio, expected, f"seeded pin (seeded {seeded.seeded_at}; no gating run yet)"
        )
    recorded = RECORDED_ROLLBACK_TARGETS.get(consumer_pin.release_tag)
    if recorded is None:
        raise DefinitionError(
            f"recover.to last-green: no green pin besides {consumer_pin.release_tag} in the "
            "ledger to roll back to; run the nightly suite on that pin first (mkdrill run --pin FILE)"
        )
    trio = embedded_trio(recorded)
    return RollbackTarget(
        trio,
        trio.digests,
        f"{ROLLBACK_RECORD}: rollback target of {consumer_pin.release_tag} "
        "(no other green or seeded pin in the ledger)",
    )


def needed_releases(
    drills: Sequence[LoadedDrill], releases: Releases, target: RollbackTarget | None = None
) -> set[str]:
    """Every MemoryKernel release the run may start: baseline, candidate, and tags drills deploy."""
    needed = {releases.baseline.release_tag, releases.candidate}
    if target is not None:
        needed.add(target.release_tag)
    for loaded in drills:
        fault = loaded.drill.fault
        if isinstance(fault, DeployReleaseFault):
            needed.add(releases.resolve(fault.release))
    return needed


def consumer_target(request: RunRequest) -> ConsumerTarget:
    """The consumer under test the flags name (the reference one when none does)."""
    if request.probe_command:
        return ConsumerTarget(ConsumerKind.COMMAND, request.probe_command, request.restart_command)
    if request.probe_url:
        return ConsumerTarget(ConsumerKind.URL, request.probe_url, request.restart_command)
    if request.restart_command:
        raise DefinitionError(
            "--consumer-restart-command restarts a consumer of yours: give --probe-url or --probe-command"
        )
    if request.consumer_pin:
        raise DefinitionError(
            "--consumer-pin is the pin of a consumer of yours: give --probe-url or --probe-command "
            "(the reference consumer is built with --pin)"
        )
    return ConsumerTarget()


def proxy_listen_for(request: RunRequest, target: ConsumerTarget, pin: Pin) -> str | None:
    """Where the MemoryKernel proxy listens: the flag, else (your consumer) its pin's default_base_url."""
    if request.proxy_listen:
        return str(parse_listen(request.proxy_listen))
    if target.is_reference:
        return None
    return str(listen_from_base_url(pin.default_base_url))


def build_plan(
    request: RunRequest, run_id: str, ledger: Ledger | None, backend_releases: set[str] | None
) -> RunPlan:
    """Validate everything the run needs and fix its decisions."""
    catalog = load_drills([request.drills_dir or default_drills_dir()])
    suite = request.suite if (request.suite or request.drills) else "nightly"
    consumer = consumer_target(request)
    own_pin = load_consumer_pin(request.consumer_pin) if request.consumer_pin else None
    # The release under test defaults to the one your consumer is pinned to.
    consumer_pin = load_consumer_pin(request.pin or request.consumer_pin)
    timeout_ms, from_pin = consumer_timeout(request.consumer_timeout_ms, own_pin or consumer_pin)
    drills = resolve_drills(select_drills(catalog, request.drills, suite), timeout_ms)
    # The consumer runs as shipped: MemoryKernel at the release its pin names.
    baseline = consumer_pin
    releases = Releases(baseline=baseline, candidate=candidate_for(baseline))
    rollback = (
        rollback_target(consumer_pin, ledger)
        if any(d.drill.recover.to == "last-green" for d in drills)
        else None
    )
    repins = rollback is not None and rollback.crosses_contract(own_pin or consumer_pin)
    if all(not_applicable_reason(d.drill, consumer, repins) for d in drills):
        first = drills[0].drill
        raise DefinitionError(
            f"no selected drill can be applied to {consumer.describe()}: {first.name}: "
            f"{not_applicable_reason(first, consumer, repins)}"
        )
    try:
        consumer_trio: PinTrio | None = locate_trio(consumer_pin)
    except DrillError:
        consumer_trio = None  # a pin with no matrix beside it: recorded without them
    if request.memorykernel_bins:
        for tag in sorted(needed_releases(drills, releases, rollback)):
            if tag not in request.memorykernel_bins:
                raise DefinitionError(missing_binary_message(tag, request.memorykernel_bins))
    elif backend_releases is not None:
        for tag in sorted(needed_releases(drills, releases, rollback)):
            if tag not in backend_releases:
                raise DefinitionError(
                    f"--pin: release {tag} has no reference MemoryKernel on the {request.backend} backend "
                    f"(it serves {', '.join(sorted(RELEASES))}); use --backend compose with your own images"
                )
    out_dir = request.out or request.reports_root / run_id
    return RunPlan(
        run_id=run_id,
        drills=drills,
        consumer_pin=consumer_pin,
        releases=releases,
        backend=request.backend,
        suite=suite,
        out_dir=out_dir,
        drill_settings=DrillSettings(
            rate_hz=request.rate_hz,
            consumer_timeout_ms=timeout_ms,
            consumer_timeout_from_pin=from_pin,
            load_workers=request.load_workers,
            steady_rate_hz=request.steady_rate_hz,
            verify_rate_hz=request.verify_rate_hz or request.steady_rate_hz,
        ),
        ask_body=cast(AskBody, request.ask_body),
        consumer_defect=request.consumer_defect,
        fail_fast=request.fail_fast,
        drills_named=bool(request.drills),
        consumer_trio=consumer_trio,
        rollback_target=rollback,
        under_test=consumer,
        own_pin=own_pin,
        own_pin_from=f"--consumer-pin {request.consumer_pin}"
        if request.consumer_pin
        else "--pin (assumed)",
        proxy_listen=proxy_listen_for(request, consumer, own_pin or consumer_pin),
        settings={
            "rate_hz": f"{request.rate_hz:g}",
            "steady_rate_hz": f"{request.steady_rate_hz:g}",
            "verify_rate_hz": f"{request.verify_rate_hz or request.steady_rate_hz:g}",
            "consumer_timeout_ms": str(timeout_ms),
            "consumer_timeout_source": "pin default_timeout_ms"
            if from_pin
            else "--consumer-timeout-ms",
            "load_workers": str(request.load_workers),
            "drills_dir": str(request.drills_dir or default_drills_dir()),
        },
    )
