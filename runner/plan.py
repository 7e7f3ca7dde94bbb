"""Decide a run before anything starts: drills, pins, releases, folders. Bad input fails here, exit 2."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from runner.backends.base import AskBody, EnrichmentMode
from runner.backends.memorykernel_local import missing_binary_message
from runner.contract import RELEASES, TIMEOUT_MS_MAX, TIMEOUT_MS_MIN
from runner.drill_run import DrillSettings
from runner.engine import Releases, RunPlan, candidate_for
from runner.errors import DefinitionError
from runner.ledger import PinRow
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
    enrichment: str
    reports_root: Path
    load_workers: int = 0
    memorykernel_bins: dict[str, Path] = field(default_factory=dict)


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


def consumer_timeout(request: RunRequest, pin: Pin) -> tuple[int, bool]:
    """The consumer's per-request timeout and whether it is the pin's own (no override set)."""
    if request.consumer_timeout_ms is not None:
        return request.consumer_timeout_ms, False
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


def needed_releases(drills: Sequence[LoadedDrill], releases: Releases) -> set[str]:
    """Every MemoryKernel release the run may start: baseline, candidate, and tags drills deploy."""
    needed = {releases.baseline.release_tag, releases.candidate}
    for loaded in drills:
        fault = loaded.drill.fault
        if isinstance(fault, DeployReleaseFault):
            needed.add(releases.resolve(fault.release))
    return needed


def build_plan(
    request: RunRequest, run_id: str, last_green: Pin | None, backend_releases: set[str] | None
) -> RunPlan:
    """Validate everything the run needs and fix its decisions."""
    catalog = load_drills([request.drills_dir or default_drills_dir()])
    suite = request.suite if (request.suite or request.drills) else "nightly"
    consumer_pin = load_consumer_pin(request.pin)
    timeout_ms, from_pin = consumer_timeout(request, consumer_pin)
    drills = resolve_drills(select_drills(catalog, request.drills, suite), timeout_ms)
    # The consumer runs as shipped: MemoryKernel at the release its pin names.
    baseline = consumer_pin
    releases = Releases(baseline=baseline, candidate=candidate_for(baseline))
    if request.memorykernel_bins:
        for tag in sorted(needed_releases(drills, releases)):
            if tag not in request.memorykernel_bins:
                raise DefinitionError(missing_binary_message(tag, request.memorykernel_bins))
    elif backend_releases is not None:
        for tag in {baseline.release_tag, releases.candidate}:
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
        ),
        ask_body=cast(AskBody, request.ask_body),
        enrichment=cast(EnrichmentMode, request.enrichment),
        fail_fast=request.fail_fast,
        settings={
            "rate_hz": f"{request.rate_hz:g}",
            "consumer_timeout_ms": str(timeout_ms),
            "consumer_timeout_source": "pin default_timeout_ms"
            if from_pin
            else "--consumer-timeout-ms",
            "load_workers": str(request.load_workers),
            "drills_dir": str(request.drills_dir or default_drills_dir()),
        },
    )
