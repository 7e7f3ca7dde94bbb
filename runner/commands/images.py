"""`mkdrill images …`: build the reference Docker images (MemoryKernel per release, consumer, Toxiproxy)."""

from __future__ import annotations

from typing import Annotated

import typer

images_app = typer.Typer(
    help="Build the reference Docker images.", no_args_is_help=True, rich_markup_mode=None
)


@images_app.callback()
def images() -> None:
    """Build the reference Docker images; `build --offline-base` needs no container registry."""


@images_app.command("build")
def build(
    offline_base: Annotated[
        bool,
        typer.Option(
            "--offline-base",
            help="Build on mkdrill-base:bookworm, made from Debian packages (debootstrap) when missing: "
            "for hosts without a container registry.",
        ),
    ] = False,
    release: Annotated[
        list[str] | None,
        typer.Option(
            help="MemoryKernel release to build (repeatable); default: every known release."
        ),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option(
            help="BASE_IMAGE build argument; default python:3.11-slim, or the offline base."
        ),
    ] = None,
    mirror: Annotated[
        str | None,
        typer.Option(help="Debian mirror for the offline base; default: the host's apt sources."),
    ] = None,
) -> None:
    """Build memorykernel:<release>, mkdrill-assistsupport, mkdrill-toxiproxy and mkdrill-runtime."""
    from runner.backends.docker_client import connect
    from runner.images import build_reference_images, check_releases

    check_releases(release)  # bad input is exit 2 before anything is touched
    client = connect()
    try:
        report = build_reference_images(
            client,
            offline_base=offline_base,
            base_image=base_image,
            releases=release,
            mirror=mirror,
            progress=lambda line: typer.echo(line, err=True),
        )
    finally:
        client.close()
    if report.base_seconds is not None:
        typer.echo(f"base {report.base_image} made in {report.base_seconds:.1f} s")
    typer.echo(f"wheels ready in {report.wheels_seconds:.1f} s")
    for image in report.images:
        if image.up_to_date:
            typer.echo(f"{image.tag} up to date, checked in {image.seconds:.1f} s")
        else:
            typer.echo(f"built {image.tag} in {image.seconds:.1f} s")
    typer.echo(f"images built on {report.base_image} in {report.total_seconds:.1f} s")
