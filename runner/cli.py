"""The `mkdrill` command line: parses, resolves settings, delegates, maps outcomes to exit codes."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from runner.errors import DrillError

app = typer.Typer(
    name="mkdrill",
    help="Chaos and rollback drills: the AssistSupport Draft flow must survive every MemoryKernel fault.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
serve_app = typer.Typer(help="Run one reference service in the foreground.", no_args_is_help=True)
app.add_typer(serve_app, name="serve")


class AskBody(StrEnum):
    """Which ask body the reference consumer sends (contract §3.4)."""

    shipped = "shipped"
    patched = "patched"


class EnrichmentMode(StrEnum):
    """How the reference consumer treats enrichment: AssistSupport's fallback, or a blocking defect."""

    fallback = "fallback"
    blocking = "blocking"


Host = Annotated[str, typer.Option(help="Address to bind; loopback unless told otherwise.")]


@serve_app.command("memorykernel")
def serve_memorykernel(
    release: Annotated[str, typer.Option(help="MemoryKernel release tag: v0.3.2 or v0.4.0.")],
    db: Annotated[Path, typer.Option(help="SQLite database file.")],
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 4010,
) -> None:
    """Serve the MemoryKernel HTTP contract of one release (reference implementation)."""
    from runner.reference import memorykernel

    memorykernel.serve(release=release, host=host, port=port, db=db)


@serve_app.command("assistsupport")
def serve_assistsupport(
    pin: Annotated[Path, typer.Option(help="AssistSupport pin file (memorykernel-integration-pin.json).")],
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 4020,
    ask_body: Annotated[AskBody, typer.Option(help="shipped: AssistSupport's body (no as_of); patched: adds as_of null.")] = AskBody.patched,
    enrichment: Annotated[EnrichmentMode, typer.Option(help="fallback (AssistSupport) or blocking (a defect, for proving drills fail).")] = EnrichmentMode.fallback,
) -> None:
    """Serve the reference AssistSupport Draft consumer."""
    from runner.reference import assistsupport

    assistsupport.serve(pin=pin, host=host, port=port, ask_body=ask_body.value, enrichment=enrichment.value)


@serve_app.command("toxiproxy")
def serve_toxiproxy(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port.")] = 8474,
    config: Annotated[Path | None, typer.Option(help="JSON file of proxies to create at start.")] = None,
) -> None:
    """Serve the embedded Toxiproxy-compatible API and proxies."""
    from runner.reference import toxiproxy

    toxiproxy.serve(host=host, port=port, config=config)


def main() -> None:
    """Console entry: run the app, turning mkdrill errors into one line and an exit code."""
    try:
        app(standalone_mode=False)
    except DrillError as exc:
        typer.echo(f"mkdrill: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("mkdrill: interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise
