"""`mkdrill serve …`: run one reference service in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runner.commands.options import AskBody, Host

serve_app = typer.Typer(
    help="Run one reference service in the foreground.", no_args_is_help=True, rich_markup_mode=None
)


@serve_app.callback()
def serve_callback() -> None:
    """Run one reference service in the foreground (stops with its runner when started by one)."""
    from runner.backends.processes import watch_owner

    watch_owner()


@serve_app.command("memorykernel")
def serve_memorykernel(
    release: Annotated[str, typer.Option(help="MemoryKernel release tag: v0.3.2 or v0.4.0.")],
    db: Annotated[Path, typer.Option(help="SQLite database file.")] = Path(
        "./memory_kernel.sqlite3"  # DEFAULT_DB of runner.reference.memorykernel.server
    ),
    bind: Annotated[str, typer.Option(help="IP:PORT to listen on.")] = "127.0.0.1:4010",
) -> None:
    """Serve the MemoryKernel HTTP contract of one release (reference implementation).

    The real service's command line (`--db`, `--bind`), and like it, nothing is printed:
    it is ready when `GET /v1/health` answers.
    """
    from runner.reference import memorykernel

    memorykernel.serve(release=release, bind=bind, db=db)


@serve_app.command("assistsupport")
def serve_assistsupport(
    pin: Annotated[
        Path, typer.Option(help="AssistSupport pin file (memorykernel-integration-pin.json).")
    ],
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 4020,
    ask_body: Annotated[
        AskBody,
        typer.Option(help="shipped: AssistSupport's body (no as_of); patched: adds as_of null."),
    ] = AskBody.patched,
    defect: Annotated[
        str,
        typer.Option(
            help="none (AssistSupport's rules) or a consumer defect that breaks one of them "
            "(`mkdrill mutants --list`), for proving drills fail."
        ),
    ] = "none",
    enrichment: Annotated[
        str | None,
        typer.Option(
            hidden=True,
            help="Before --defect: fallback (none) or blocking (draft-blocks); kept so the "
            "consumer image still starts from an older checkout's compose file.",
        ),
    ] = None,
) -> None:
    """Serve the reference AssistSupport Draft consumer."""
    from runner.consumers.defects import parse_defect
    from runner.reference import assistsupport

    if enrichment is not None and defect == "none":
        defect = {"fallback": "none", "blocking": "draft-blocks"}.get(enrichment, enrichment)
    chosen = parse_defect(defect, "--defect")
    assistsupport.serve(pin=pin, host=host, port=port, ask_body=ask_body.value, defect=chosen.value)


@serve_app.command("toxiproxy")
def serve_toxiproxy(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port.")] = 8474,
    config: Annotated[
        Path | None, typer.Option(help="JSON file of proxies to create at start.")
    ] = None,
) -> None:
    """Serve the embedded Toxiproxy-compatible API and proxies."""
    from runner.reference import toxiproxy

    toxiproxy.serve(host=host, port=port, config=config)


@serve_app.command("responder")
def serve_responder(
    mode: Annotated[
        str,
        typer.Option(
            help="MODE or MODE@/route, comma-separated: junk-page, wrong-shape, degraded, empty-context, status:NNN, typed:CODE, hang, truncate, passthrough."
        ),
    ],
    upstream: Annotated[
        str | None, typer.Option(help="MemoryKernel base URL to forward to.")
    ] = None,
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 0,
) -> None:
    """Serve the HTTP fault responder that drills put in front of MemoryKernel."""
    from runner.faults.responder import serve_responder as serve

    serve(upstream, mode, host, port)
