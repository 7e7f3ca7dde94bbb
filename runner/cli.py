"""The `mkdrill` command line: parses, resolves settings, delegates, maps outcomes to exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

from runner._imports import skip_httpx_command_line

skip_httpx_command_line()  # before any command module imports httpx; the package itself stays inert

import typer

from runner.collector import imports_uncollected, leave_objects_to_the_os
from runner.commands import bench as bench_options
from runner.commands.help import spell_out_short_help
from runner.commands.mutants import mutants as mutants_command
from runner.commands.options import (
    DEFAULT_RATE_HZ,
    DEFAULT_REPORTS,
    AskBody,
    Backend,
    BackendOption,
    ConsumerTimeoutOption,
    DrillsArgument,
    DrillsDirOption,
    MemoryKernelImageOption,
    SuiteOption,
    ToxiproxyImageOption,
    ToxiproxyUrlOption,
    backend_option,
    compose_only_image,
    out_option,
    rate_option,
    reports_root,
)
from runner.commands.serve import serve_app
from runner.errors import DrillError
from runner.limits import MIN_RATE_HZ

app = typer.Typer(
    name="mkdrill",
    help="Chaos and rollback drills: the AssistSupport Draft flow must survive every MemoryKernel fault.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs more than the rest of start-up
)
app.add_typer(serve_app, name="serve")


def _print_version(value: bool) -> None:
    if value:
        from runner import __version__

        typer.echo(f"mkdrill {__version__}")
        raise typer.Exit(0)


@app.callback()
def mkdrill(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Chaos and rollback drills: the AssistSupport Draft flow must survive every MemoryKernel fault."""


STEADY_RATE_HZ = 100.0  # the probe's default while waiting for the steady state


@app.command("run")
def run(
    ctx: typer.Context,
    drills: DrillsArgument = None,
    suite: SuiteOption = None,
    backend: BackendOption = Backend.local,
    pin: Annotated[
        Path | None,
        typer.Option(
            envvar="MKDRILL_PIN",
            help="AssistSupport pin file; default: the one it ships (embedded v0.4.0 / service.v3).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        out_option("Report folder; default reports/<run-id>. The ledger lives in its parent."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and print the plan; start nothing.")
    ] = False,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Skip the remaining drills after the first failure.")
    ] = False,
    drills_dir: DrillsDirOption = None,
    toxiproxy: ToxiproxyUrlOption = None,
    rate: Annotated[
        float,
        rate_option(
            f"Drafts/s during the fault and restore (at least {MIN_RATE_HZ:g}; at most 70% "
            "of the consumer's capacity)."
        ),
    ] = DEFAULT_RATE_HZ,
    consumer_timeout_ms: ConsumerTimeoutOption = None,
    steady_rate: Annotated[
        float,
        typer.Option(
            envvar="MKDRILL_STEADY_RATE",
            min=1,
            max=500,
            help="Drafts/s while waiting for the steady state (at most 70% of the consumer's capacity).",
        ),
    ] = STEADY_RATE_HZ,
    verify_rate: Annotated[
        float | None,
        typer.Option(
            envvar="MKDRILL_VERIFY_RATE",
            min=1,
            max=500,
            help="Drafts/s while verifying the restored steady state (default: --steady-rate).",
        ),
    ] = None,
    ask_body: Annotated[
        AskBody,
        typer.Option(
            envvar="MKDRILL_ASK_BODY",
            help="Reference consumer ask body: patched (adds as_of null) or shipped (AssistSupport's, no as_of); not with --probe-*.",
        ),
    ] = AskBody.patched,
    consumer_defect: Annotated[
        str,
        typer.Option(
            envvar="MKDRILL_CONSUMER_DEFECT",
            help="Run the reference consumer with one defect that breaks an AssistSupport rule "
            "(`mkdrill mutants --list`); default none.",
        ),
    ] = "none",
    memorykernel_image: MemoryKernelImageOption = None,
    toxiproxy_image: ToxiproxyImageOption = None,
    memorykernel_bin: Annotated[
        list[str] | None,
        typer.Option(
            "--memorykernel-bin",
            help="local: RELEASE=PATH of your MemoryKernel service binary, one per release the run needs (e.g. v0.4.0=./memory-kernel-service); run as the real one: --bind IP:PORT --db PATH.",
        ),
    ] = None,
    probe_url: Annotated[
        str | None,
        typer.Option(
            envvar="MKDRILL_PROBE_URL",
            help='Watch your own consumer: POST {"ticket"} to this Draft URL instead of the reference consumer\'s.',
        ),
    ] = None,
    probe_command: Annotated[
        str | None,
        typer.Option(
            help="Watch your own consumer: run this command per Draft (needs --allow-command-probe)."
        ),
    ] = None,
    allow_command_probe: Annotated[
        bool,
        typer.Option(
            "--allow-command-probe",
            help="Allow --probe-command and --consumer-restart-command to run commands (never from drill files).",
        ),
    ] = False,
    consumer_restart_command: Annotated[
        str | None,
        typer.Option(
            help="Your consumer: restarts it with AssistSupport's variables and MKDRILL_PIN_FILE set "
            "(pin swaps, flags); needs --allow-command-probe."
        ),
    ] = None,
    consumer_pin: Annotated[
        Path | None,
        typer.Option(
            envvar="MKDRILL_CONSUMER_PIN",
            help="The pin your consumer carries (default: what its preflight answer says, else --pin).",
        ),
    ] = None,
    proxy_listen: Annotated[
        str | None,
        typer.Option(
            envvar="MKDRILL_PROXY_LISTEN",
            help="HOST:PORT of the MemoryKernel proxy (default with --probe-*: the pin's default_base_url).",
        ),
    ] = None,
    load: Annotated[
        int,
        typer.Option(
            envvar="MKDRILL_LOAD",
            min=0,
            max=500,
            help="Extra concurrent Drafters during each fault window (load drill).",
        ),
    ] = 0,
) -> None:
    """Run drills (default: the nightly suite on the local backend) and write reports."""
    with imports_uncollected():  # the run's modules and models, made once for the whole run
        from runner.backends.memorykernel_local import parse_binaries
        from runner.consumers.defects import ConsumerDefect, parse_defect
        from runner.run_command import RunRequest, execute

    binaries = parse_binaries(list(memorykernel_bin or []))
    toxiproxy_image = compose_only_image(ctx, backend, toxiproxy_image)
    if binaries and backend is not Backend.local:
        raise typer.BadParameter(
            "runs binaries on the local backend; on compose give --memorykernel-image",
            param_hint="--memorykernel-bin",
        )
    request = RunRequest(
        drills=list(drills or []),
        suite=suite,
        backend=backend.value,
        pin=pin,
        out=out,
        drills_dir=drills_dir,
        fail_fast=fail_fast,
        rate_hz=rate,
        consumer_timeout_ms=consumer_timeout_ms,
        ask_body=ask_body.value,
        consumer_defect=parse_defect(consumer_defect),
        reports_root=reports_root(out),
        load_workers=load,
        memorykernel_bins=binaries,
        steady_rate_hz=steady_rate,
        verify_rate_hz=verify_rate,
        probe_url=probe_url,
        probe_command=probe_command,
        restart_command=consumer_restart_command,
        consumer_pin=consumer_pin,
        proxy_listen=proxy_listen,
    )
    if probe_command and not allow_command_probe:
        raise typer.BadParameter(
            "runs a shell command per Draft; add --allow-command-probe to allow it",
            param_hint="--probe-command",
        )
    if consumer_restart_command and not allow_command_probe:
        raise typer.BadParameter(
            "runs a command to restart your consumer; add --allow-command-probe to allow it",
            param_hint="--consumer-restart-command",
        )
    if probe_command and probe_url:
        raise typer.BadParameter(
            "give --probe-url or --probe-command, not both", param_hint="--probe-command"
        )
    # Compared by name: typer may bundle its own click, whose enum is not the public one.
    ask_body_given = getattr(ctx.get_parameter_source("ask_body"), "name", "") == "COMMANDLINE"
    if ask_body_given and (probe_url or probe_command):
        raise typer.BadParameter(
            "is the reference consumer's ask body; mkdrill cannot choose what your consumer sends",
            param_hint="--ask-body",
        )
    if request.consumer_defect is not ConsumerDefect.NONE and (probe_url or probe_command):
        raise typer.BadParameter(
            "is a defect of the reference consumer; mkdrill cannot change your consumer's code",
            param_hint="--consumer-defect",
        )
    raise typer.Exit(
        execute(
            request,
            dry_run=dry_run,
            toxiproxy_url=toxiproxy,
            memorykernel_image=memorykernel_image,
            toxiproxy_image=toxiproxy_image,
        )
    )


@app.command("list")
def list_drills(
    suite: Annotated[str | None, typer.Option(help="Only drills of this suite.")] = None,
    drills_dir: Annotated[
        Path | None, typer.Option(envvar="MKDRILL_DRILLS_DIR", help="Drill catalog folder.")
    ] = None,
) -> None:
    """List the drill catalog: name, suites, fault, expected fallback, recovery."""
    from tabulate import tabulate

    from runner.loader import default_drills_dir, load_drills, select_drills
    from runner.spec import describe_fault as describe

    catalog = load_drills([drills_dir or default_drills_dir()])
    chosen = select_drills(catalog, [], suite) if suite else catalog
    rows = [
        (
            d.drill.name,
            ",".join(d.drill.suites),
            describe(d.drill.fault),
            d.drill.expect.during.value
            + (
                ": " + ",".join(r.value for r in d.drill.expect.fallback_reasons)
                if d.drill.expect.fallback_reasons
                else ""
            ),
            f"{d.drill.recover.kind} ≤{_seconds(d.drill.recover.budget_s)}",
        )
        for d in chosen
    ]
    typer.echo(
        tabulate(rows, headers=["drill", "suites", "fault", "expect during fault", "recover"])
    )


def _seconds(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:g}s"


@app.command("validate")
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Drill or scenario files or folders; default drills/ and rehearsals/."),
    ] = None,
) -> None:
    """Validate drill and scenario files; print every problem as `file: field: message` (exit 2 if any).

    A file in a `rehearsals/` folder is a rehearsal scenario; any other is a drill.
    """
    from runner.loader import DrillFilesInvalid, Problem, default_drills_dir, load_drills
    from runner.rehearsal.catalog import default_scenarios_dir, is_scenario_path, load_scenarios

    given = paths or [default_drills_dir(), default_scenarios_dir()]
    problems: list[Problem] = []
    counts = {"drill": 0, "scenario": 0}
    for kind, chosen, load in (
        ("drill", [p for p in given if not is_scenario_path(p)], load_drills),
        ("scenario", [p for p in given if is_scenario_path(p)], load_scenarios),
    ):
        if not chosen:
            continue
        try:
            counts[kind] = len(load(chosen))
        except DrillFilesInvalid as exc:
            problems.extend(exc.problems)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        raise typer.Exit(2)
    shown = [f"{n} {kind} files valid" for kind, n in counts.items() if n]
    typer.echo(", ".join(shown))


env_app = typer.Typer(
    help="Bring a drill environment up or down, show it, or sweep leftovers.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(env_app, name="env")
EnvBackendOption = Annotated[Backend, backend_option("local or compose.")]
RootOption = Annotated[
    Path,
    typer.Option(
        "--reports", envvar="MKDRILL_REPORTS", help="Reports root (holds the ledger and state)."
    ),
]


@env_app.command("up")
def env_up(
    ctx: typer.Context,
    backend: EnvBackendOption = Backend.local,
    pin: Annotated[Path | None, typer.Option(help="AssistSupport pin file.")] = None,
    reports: RootOption = DEFAULT_REPORTS,
    toxiproxy_image: ToxiproxyImageOption = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Stop the environment that is up and start a new one."),
    ] = False,
    proxy_listen: Annotated[
        str | None,
        typer.Option(
            envvar="MKDRILL_PROXY_LISTEN",
            help="HOST:PORT of the MemoryKernel proxy, e.g. where your consumer already calls.",
        ),
    ] = None,
) -> None:
    """Start an environment at the last green pin and leave it running (for rehearsals); prints its URLs."""
    from runner.env_command import env_up as up

    up(
        backend.value,
        pin,
        reports,
        compose_only_image(ctx, backend, toxiproxy_image),
        replace=replace,
        proxy_listen=proxy_listen,
    )


@env_app.command("down")
def env_down(
    backend: EnvBackendOption = Backend.local, reports: RootOption = DEFAULT_REPORTS
) -> None:
    """Stop the environment started by `mkdrill env up`."""
    from runner.env_command import env_down as down

    down(backend.value, reports)


@env_app.command("status")
def env_status(
    backend: EnvBackendOption = Backend.local, reports: RootOption = DEFAULT_REPORTS
) -> None:
    """Show the `env up` environment's URLs, other environments and leftovers of mkdrill runs."""
    from runner.env_command import env_status as status

    status(backend.value, reports)


@env_app.command("reset")
def env_reset(
    backend: EnvBackendOption = Backend.local,
    reports: RootOption = DEFAULT_REPORTS,
    force_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Remove live runs too (says which first): use when you know they are dead.",
        ),
    ] = False,
    run: Annotated[
        list[str] | None, typer.Option("--run", help="Only this run id (repeatable).")
    ] = None,
) -> None:
    """Sweep what runs whose owner is gone left behind (processes, containers, toxics); a live run and the ledger are kept."""
    from runner.env_command import env_reset as reset

    reset(backend.value, reports, force=force_all, only=list(run or []))


def _register_images() -> None:
    from runner.commands.images import images_app

    app.add_typer(images_app, name="images")


_register_images()


def _register_rehearse() -> None:
    from runner.commands.rehearse import rehearse

    app.command("rehearse")(rehearse)


_register_rehearse()
app.command("mutants")(mutants_command)

report_app = typer.Typer(
    help="Show a stored run, or compare two runs.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(report_app, name="report")
RunArgument = Annotated[
    str, typer.Argument(help="A run id under --reports-dir, a run folder, or a report.json path.")
]
ReportsDir = Annotated[
    Path,
    typer.Option(
        "--reports-dir",
        envvar="MKDRILL_REPORTS_DIR",
        help="Where run folders are kept.",
        file_okay=False,
    ),
]
LedgerPath = Annotated[
    Path,
    typer.Option(
        "--ledger",
        envvar="MKDRILL_LEDGER",
        help="Pin ledger and run history (SQLite).",
        dir_okay=False,
    ),
]
DEFAULT_LEDGER = DEFAULT_REPORTS / "ledger.sqlite3"


@report_app.command("show")
def report_show(run: RunArgument, reports_dir: ReportsDir = DEFAULT_REPORTS) -> None:
    """Re-render a stored run in the terminal."""
    from runner.commands.report import show

    show(run, reports_dir)


@report_app.command("compare")
def report_compare(
    run_a: Annotated[str, typer.Argument(help="The earlier run (baseline).")],
    run_b: Annotated[str, typer.Argument(help="The later run (candidate).")],
    reports_dir: ReportsDir = DEFAULT_REPORTS,
) -> None:
    """What regressed from RUN_A to RUN_B; exit 1 when something did, 0 otherwise."""
    from runner.commands.report import compare

    compare(run_a, run_b, reports_dir)


@app.command("history")
def history(
    drill: Annotated[
        str | None, typer.Option(help="Only this drill, with each of its results.")
    ] = None,
    last: Annotated[
        int, typer.Option(min=1, help="Window: the last N results of each drill.")
    ] = 20,
    ledger: LedgerPath = DEFAULT_LEDGER,
) -> None:
    """Per drill: pass rate, time-to-restore p50/p95 and trend, flaky drills; the last green pin."""
    from runner.commands.history import history as show_history

    show_history(drill, last, ledger)


@app.command("pins")
def pins(
    ledger: LedgerPath = DEFAULT_LEDGER,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print pins with state, last run and last green as JSON."),
    ] = False,
) -> None:
    """The pins the ledger has seen with their state; `*` marks the last green pin."""
    from runner.commands.pins import pins as show_pins

    show_pins(ledger, as_json)


@app.command("bench")
def bench(
    quick: bench_options.QuickOption = False,
    out: bench_options.OutOption = DEFAULT_REPORTS / "bench",
    only: bench_options.OnlyOption = None,
    toxiproxy_server: bench_options.ToxiproxyServerOption = None,
    change: bench_options.ChangeOption = None,
    before: bench_options.BeforeOption = None,
) -> None:
    """Benchmarks side by side with Chaos Toolkit: peer run, suite overhead, restore accuracy, probe, proxy, CLI."""
    bench_options.bench(quick, out, only, toxiproxy_server, change, before)


spell_out_short_help(app)


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's usage errors: typer ≥ 0.2x bundles its own click (no `click` install needed);
    older typer depends on the public one."""
    kinds: list[type[Exception]] = []
    bundled = getattr(typer, "exceptions", None)
    if bundled is not None and hasattr(bundled, "TyperException"):
        kinds.append(bundled.TyperException)
    try:
        import click
    except ImportError:
        pass
    else:
        kinds.append(click.ClickException)
    return tuple(kinds)


def main() -> None:
    """Console entry: run the app, turning mkdrill errors into one line and an exit code."""
    leave_objects_to_the_os()  # no collection over all a command imported when the process ends
    try:
        code = app(standalone_mode=False)
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
    except Exception as exc:
        if not isinstance(exc, _usage_errors()):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help was shown: nothing went wrong
            sys.exit(0)
        # A usage error (bad flag or value) is bad input: one line, exit 2.
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        typer.echo(f"mkdrill: {' '.join(str(message).split())}; see --help", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
