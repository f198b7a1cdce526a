"""Command group module: `register(app)` adds its commands to the `tickerlake` app."""

import typer


def register(app: typer.Typer) -> None:
    """Commands of this group are added here."""
