"""The `twin compare` command (placeholder: filled in by its owner)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `twin compare` to the `twin` app."""
