"""The `twin gate` command (placeholder: filled in by its owner)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `twin gate` to the `twin` app."""
