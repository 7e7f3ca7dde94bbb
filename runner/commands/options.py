"""Choices and option types shared by the CLI's commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from runner.limits import MIN_RATE_HZ

DEFAULT_REPORTS = Path("reports")
DEFAULT_RATE_HZ = 25.0


class AskBody(StrEnum):
    """Which ask body the reference consumer sends (contract §3.4)."""

    shipped = "shipped"
    patched = "patched"


class Backend(StrEnum):
    """Where drills run."""

    local = "local"
    compose = "compose"


def reports_root(out: Path | None) -> Path:
    """The reports root (ledger, state) of a run: --out's parent, else reports/."""
    return out.parent if out is not None else DEFAULT_REPORTS


def compose_only_image(ctx: typer.Context, backend: Backend, image: str | None) -> str | None:
    """--toxiproxy-image applies to compose; on local the flag is an error, the env var is unused."""
    if image is None or backend is Backend.compose:
        return image
    # Compared by name: typer may bundle its own click, whose enum is not the public one.
    source = ctx.get_parameter_source("toxiproxy_image")
    if getattr(source, "name", "") == "ENVIRONMENT":
        return None
    raise typer.BadParameter(
        "is the compose backend's Toxiproxy image; on local put a toxiproxy-server on PATH "
        "or give --toxiproxy URL",
        param_hint="--toxiproxy-image",
    )


# An option whose help differs per command (what its default is there) is made by a function
# that holds its variable and limits; the commands give only the help.


def backend_option(help: str) -> Any:
    """--backend (MKDRILL_BACKEND) with this command's help."""
    return typer.Option(envvar="MKDRILL_BACKEND", help=help)


def out_option(help: str) -> Any:
    """--out (MKDRILL_OUT), the run's report folder, with this command's help."""
    return typer.Option(envvar="MKDRILL_OUT", help=help)


def rate_option(help: str) -> Any:
    """--rate (MKDRILL_RATE), Drafts/s during the fault, with this command's help."""
    return typer.Option(envvar="MKDRILL_RATE", min=MIN_RATE_HZ, max=200, help=help)


def consumer_timeout_option(help: str) -> Any:
    """--consumer-timeout-ms (MKDRILL_CONSUMER_TIMEOUT_MS) with this command's help."""
    return typer.Option(envvar="MKDRILL_CONSUMER_TIMEOUT_MS", min=100, max=30000, help=help)


def toxiproxy_image_option(help: str) -> Any:
    """--toxiproxy-image (MKDRILL_TOXIPROXY_IMAGE) with this command's help."""
    return typer.Option(envvar="MKDRILL_TOXIPROXY_IMAGE", help=help)


Host = Annotated[str, typer.Option(help="Address to bind; loopback unless told otherwise.")]

DrillsArgument = Annotated[
    list[str] | None, typer.Argument(help="Drill names or files; default: the suite.")
]
SuiteOption = Annotated[
    str | None,
    typer.Option(
        envvar="MKDRILL_SUITE",
        help="nightly, quarterly, rehearsal or contract (default nightly).",
    ),
]
DrillsDirOption = Annotated[
    Path | None,
    typer.Option(envvar="MKDRILL_DRILLS_DIR", help="Drill catalog folder; default drills/."),
]
BackendOption = Annotated[Backend, backend_option("local (processes, no Docker) or compose.")]
ConsumerTimeoutOption = Annotated[
    int | None,
    consumer_timeout_option(
        "ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS for the consumer; default: none set, so "
        "the pin's default_timeout_ms (2500 ms as shipped). 500 is the fast profile."
    ),
]
ToxiproxyUrlOption = Annotated[
    str | None,
    typer.Option(envvar="MKDRILL_TOXIPROXY", help="URL of a running Toxiproxy API to use."),
]
MemoryKernelImageOption = Annotated[
    str | None,
    typer.Option(
        envvar="MKDRILL_MEMORYKERNEL_IMAGE",
        help="compose: your MemoryKernel image repository (tags from the pins).",
    ),
]
ToxiproxyImageOption = Annotated[
    str | None,
    toxiproxy_image_option(
        "compose: the Toxiproxy image, e.g. your mirror of ghcr.io/shopify/toxiproxy:2.12.0 "
        "(default: ghcr.io/shopify/toxiproxy:2.9.0 when the engine has it, else the embedded "
        "mkdrill-toxiproxy)."
    ),
]
ToxiproxyImageBriefOption = Annotated[
    str | None, toxiproxy_image_option("compose: the Toxiproxy image.")
]
