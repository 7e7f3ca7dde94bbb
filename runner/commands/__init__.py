"""Typer sub-apps and command functions that runner.cli registers on the `mkdrill` app."""
