"""Choices and option types shared by the CLI's commands."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class AskBody(StrEnum):
    """Which ask body the reference consumer sends (contract §3.4)."""

    shipped = "shipped"
    patched = "patched"


class Backend(StrEnum):
    """Where drills run."""

    local = "local"
    compose = "compose"


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


Host = Annotated[str, typer.Option(help="Address to bind; loopback unless told otherwise.")]

ConsumerTimeoutOption = Annotated[
    int | None,
    typer.Option(
        envvar="MKDRILL_CONSUMER_TIMEOUT_MS",
        min=100,
        max=30000,
        help="ASSISTSUPPORT_MEMORY_KERNEL_TIMEOUT_MS for the consumer; default: none set, so "
        "the pin's default_timeout_ms (2500 ms as shipped). 500 is the fast profile.",
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
