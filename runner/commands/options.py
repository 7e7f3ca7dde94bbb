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
