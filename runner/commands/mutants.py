"""`mkdrill mutants`: prove every drill can fail, against consumers broken on purpose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from runner.commands.options import (
    DEFAULT_RATE_HZ,
    Backend,
    BackendOption,
    DrillsArgument,
    DrillsDirOption,
    MemoryKernelImageOption,
    SuiteOption,
    ToxiproxyImageBriefOption,
    ToxiproxyUrlOption,
    compose_only_image,
    consumer_timeout_option,
    out_option,
    rate_option,
    reports_root,
)


def mutants(
    ctx: typer.Context,
    drills: DrillsArgument = None,
    suite: SuiteOption = None,
    out: Annotated[
        Path | None,
        out_option("Report folder (report.json, report.html); default reports/mutants-<run-id>."),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Every drill against every mutant (the whole matrix); default quick: each "
            "mutant until its first catch, each drill until its first catch.",
        ),
    ] = False,
    mutant: Annotated[
        list[str] | None,
        typer.Option("--mutant", help="Only this mutant (repeatable); default: the whole catalog."),
    ] = None,
    learn_from: Annotated[
        Path | None,
        typer.Option(
            help="An earlier mutants report.json: its catches are tried first (quick mode).",
            dir_okay=False,
        ),
    ] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="Print the mutant catalog and exit.")
    ] = False,
    backend: BackendOption = Backend.local,
    pin: Annotated[
        Path | None,
        typer.Option(
            envvar="MKDRILL_PIN", help="AssistSupport pin file; default: the one it ships."
        ),
    ] = None,
    drills_dir: DrillsDirOption = None,
    consumer_timeout_ms: Annotated[
        int | None,
        consumer_timeout_option(
            "The consumer's timeout; default the pin's (2500 ms). 500 is the fast profile."
        ),
    ] = None,
    rate: Annotated[float, rate_option("Drafts/s during the fault and restore.")] = DEFAULT_RATE_HZ,
    toxiproxy: ToxiproxyUrlOption = None,
    memorykernel_image: MemoryKernelImageOption = None,
    toxiproxy_image: ToxiproxyImageBriefOption = None,
    probe_url: Annotated[
        str | None,
        typer.Option(
            envvar="MKDRILL_PROBE_URL", help="Refused: mkdrill cannot mutate your consumer."
        ),
    ] = None,
    probe_command: Annotated[
        str | None, typer.Option(help="Refused: mkdrill cannot mutate your consumer.")
    ] = None,
) -> None:
    """Run the drills against the healthy consumer and against each mutant (a consumer with one
    AssistSupport rule broken); print the sensitivity matrix.

    Exit 0 when every mutant is caught by a drill and every drill catches one or is a declared
    control (`control: <why>` in its file); 1 names each surviving mutant and each drill with no
    teeth; 2 bad input (also --probe-url/--probe-command: your consumer cannot be mutated).
    """
    from runner.mutants.command import (
        MutantsRequest,
        chosen_defects,
        execute_mutants,
        list_catalog,
        refuse_own_consumer,
    )
    from runner.plan import RunRequest

    if list_only:
        list_catalog()
        raise typer.Exit(0)
    refuse_own_consumer(probe_url, probe_command)
    toxiproxy_image = compose_only_image(ctx, backend, toxiproxy_image)
    request = MutantsRequest(
        run=RunRequest(
            drills=list(drills or []),
            suite=suite,
            backend=backend.value,
            pin=pin,
            out=out,
            drills_dir=drills_dir,
            fail_fast=False,
            rate_hz=rate,
            consumer_timeout_ms=consumer_timeout_ms,
            ask_body="patched",
            reports_root=reports_root(out),
        ),
        mode="full" if full else "quick",
        defects=chosen_defects(list(mutant or [])),
        learn_from=learn_from,
        toxiproxy_url=toxiproxy,
        memorykernel_image=memorykernel_image,
        toxiproxy_image=toxiproxy_image,
    )
    raise typer.Exit(execute_mutants(request))
