"""`mkdrill env up|down|status|reset`: environments outside a run, and sweeping what killed runs left."""

from __future__ import annotations

from pathlib import Path

import typer

from runner.backends.base import Environment
from runner.backends.processes import pid_alive
from runner.env_reset import ENV_RUN_ID
from runner.errors import EnvironmentProblem
from runner.run_state import state_dir, sweep_run


def env_up(
    backend: str,
    pin: Path | None,
    reports_root: Path,
    toxiproxy_image: str | None = None,
    replace: bool = False,
    proxy_listen: str | None = None,
) -> None:
    """Start an environment at the given pin, else the last green one, and leave it running.

    The consumer runs as shipped: pinned to that pin, with the pin's own timeout. A running
    environment is never replaced unasked (`replace`). `proxy_listen`: `host:port` of the
    MemoryKernel proxy, e.g. where your consumer already calls.
    """
    from runner.backends.base import ConsumerSettings
    from runner.backends.listen_address import ensure_free, parse_listen
    from runner.drill_run import consumer_settings_for
    from runner.env_urls import EnvironmentUrls, save_urls
    from runner.ledger import Ledger
    from runner.outputs import check_output_folder
    from runner.plan import load_consumer_pin, pin_from_ledger
    from runner.probes.seed import seed_policy

    listen = str(parse_listen(proxy_listen)) if proxy_listen else None
    check_output_folder(reports_root, "--reports")
    state = state_dir(reports_root)
    running = environment_is_up(backend, state)
    if running and not replace:
        raise EnvironmentProblem(
            f"an environment is already up ({running}); use it (`mkdrill env status` shows its URLs), "
            "stop it with `mkdrill env down`, or replace it with `mkdrill env up --replace`"
        )
    ledger_path = reports_root / "ledger.sqlite3"
    with Ledger(ledger_path) as ledger:
        last_green = None if pin is not None else pin_from_ledger(ledger.last_green())
        consumer_pin = load_consumer_pin(pin if last_green is None else last_green.source)
        ledger.ensure_seeded(consumer_pin)
    baseline = consumer_pin
    replaced = _stop(backend, reports_root)  # the one being replaced, or what a dead one left
    if running:
        typer.echo(f"replaced the environment that was up: {', '.join(replaced) or 'nothing left'}")
    if listen:
        ensure_free(parse_listen(listen))
    env: Environment
    if backend == "local":
        from runner.backends.local import LocalEnvironment

        env = LocalEnvironment(state, ENV_RUN_ID, outlive_owner=True, proxy_listen=listen)
    else:
        from runner.backends.compose import ComposeEnvironment

        env = ComposeEnvironment(
            run_id=ENV_RUN_ID, toxiproxy_image=toxiproxy_image, proxy_listen=listen
        )
    endpoints = env.up(
        baseline.release_tag, consumer_settings_for(ConsumerSettings(pin=consumer_pin), None)
    )
    seed_policy(endpoints.memorykernel_url)
    urls = EnvironmentUrls.of(
        backend,
        baseline.release_tag,
        env.toxiproxy_kind,
        endpoints,
        consumer=f"consumer timeout {consumer_pin.default_timeout_ms} ms, the pin's",
    )
    for line in urls.lines(save_urls(state, urls)):
        typer.echo(line)
    typer.echo("stop it with `mkdrill env down`")


def environment_is_up(backend: str, state: Path) -> str:
    """What of the `env up` environment still runs ('' when nothing does)."""
    import json

    if backend == "local":
        try:
            data = json.loads((state / f"{ENV_RUN_ID}.json").read_text())
        except (OSError, ValueError):
            return ""
        alive = [
            f"{p['name']} pid {p['pid']}"
            for p in data.get("processes", [])
            if pid_alive(int(p.get("pid", 0)))
        ]
        return f"local: {', '.join(alive)}" if alive else ""
    from runner.backends.docker_client import LABEL_RUN_ID, connect
    from runner.backends.docker_containers import list_containers

    client = connect()
    try:
        filters = {"label": f"{LABEL_RUN_ID}={ENV_RUN_ID}"}
        names = [c.name for c in list_containers(client, filters, running_only=True)]
    finally:
        client.close()
    return f"compose: {', '.join(sorted(names))}" if names else ""


def _stop(backend: str, reports_root: Path) -> list[str]:
    from runner.env_urls import urls_path

    removed = sweep_run(backend, reports_root, ENV_RUN_ID)
    urls_path(state_dir(reports_root)).unlink(missing_ok=True)
    return removed


def env_down(backend: str, reports_root: Path) -> None:
    """Stop the environment `env up` started."""
    removed = _stop(backend, reports_root)
    typer.echo("stopped: " + ", ".join(removed) if removed else "no environment was up")


def env_status(backend: str, reports_root: Path) -> None:
    """The `env up` environment's URLs; environments that state files record, and whether they live."""
    import json

    from runner.env_urls import load_urls, urls_path

    state = state_dir(reports_root)
    urls = load_urls(state)
    if urls is not None and urls.backend == backend and environment_is_up(backend, state):
        for line in urls.lines(urls_path(state)):
            typer.echo(line)
    states = sorted(p for p in state.glob("*.json") if p.name != urls_path(state).name)
    if backend == "compose":
        from runner.backends.docker_sweep import describe_all

        for line in describe_all():
            typer.echo(line)
    if not states and backend == "local":
        typer.echo("no local environment recorded")
    for path in states:
        data = json.loads(path.read_text())
        owner = int(data.get("owner_pid", 0))
        procs = ", ".join(
            f"{p['name']} pid {p['pid']} {'running' if pid_alive(int(p['pid'])) else 'gone'}"
            for p in data.get("processes", [])
        )
        holder = (
            "env up"
            if path.stem == ENV_RUN_ID
            else f"run {path.stem} ({'runner alive' if pid_alive(owner) else 'runner gone: sweep with `mkdrill env reset`'})"
        )
        typer.echo(f"{holder}: {procs or 'no processes'}")


def env_reset(
    backend: str, reports_root: Path, *, force: bool = False, only: list[str] | None = None
) -> None:
    """Sweep what runs whose owner is gone left behind (never a live run unless forced; never the ledger)."""
    from runner.env_reset import describe_run, reset_compose, reset_local

    def announce(line: str) -> None:
        typer.echo(line, err=True)

    state = state_dir(reports_root)
    outcome = reset_local(state, force=force, only=only or (), announce=announce)
    if backend == "compose":
        on_engine = reset_compose(state, force=force, only=only or (), announce=announce)
        outcome.removed.extend(on_engine.removed)
        outcome.spared.extend(on_engine.spared)
    for run_id, why in outcome.spared:
        typer.echo(
            f"{describe_run(run_id)} left alone: {why} (`mkdrill env reset --all` removes it anyway)",
            err=True,
        )
    typer.echo("removed: " + ", ".join(outcome.removed) if outcome.removed else "nothing to remove")
