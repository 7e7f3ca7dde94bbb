"""Choices and option types shared by the CLI's commands."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class AskBody(StrEnum):
    """Which ask body the reference consumer sends (contract §3.4)."""

    shipped = "shipped"
    patched = "patched"


class EnrichmentMode(StrEnum):
    """How the reference consumer treats enrichment: AssistSupport's fallback, or a blocking defect."""

    fallback = "fallback"
    blocking = "blocking"


class Backend(StrEnum):
    """Where drills run."""

    local = "local"
    compose = "compose"


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
