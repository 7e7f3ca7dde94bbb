"""Command lists in `--help` show each command's whole first paragraph, never a cut one ending in "…"."""

from __future__ import annotations

import inspect

import typer
from typer.models import DefaultPlaceholder


def first_paragraph(text: str | None) -> str | None:
    """The first paragraph of a help text, on one line."""
    if not text:
        return None
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


def _given(value: object) -> str | None:
    return None if isinstance(value, DefaultPlaceholder) or not value else str(value)


def spell_out_short_help(app: typer.Typer) -> None:
    """Give every command and group of `app` (recursively) its full first paragraph as short help."""
    for command in app.registered_commands:
        if command.short_help is None:
            doc = command.callback.__doc__ if command.callback else None
            command.short_help = first_paragraph(command.help or doc)
    for group in app.registered_groups:
        instance = group.typer_instance
        if instance is None:
            continue
        callback = instance.registered_callback
        doc = callback.callback.__doc__ if callback and callback.callback else None
        text = _given(group.help) or _given(instance.info.help) or doc
        if _given(group.short_help) is None and text:
            group.short_help = first_paragraph(text)
        spell_out_short_help(instance)
