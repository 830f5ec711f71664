"""`twin report DIR`: re-render a run's report from its results folder, without re-running."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli_errors import user_errors


def register(app: typer.Typer) -> None:
    """Add `twin report` to the `twin` app."""

    @app.command("report")
    @user_errors
    def report_command(
        folder: Annotated[
            Path, typer.Argument(help="A results folder written by `twin run --out`.")
        ],
        title: Annotated[str | None, typer.Option(help="Title of the report.")] = None,
    ) -> None:
        """Re-render FOLDER/report.html from the results in FOLDER (no simulation)."""
        from twin.report.html import write_atomic
        from twin.report.results_io import read_results
        from twin.report.run_report import render

        results = read_results(folder)
        html = render(results, title)  # rendered whole before the old report is replaced
        write_atomic(folder / "report.html", html)
        typer.echo(f"wrote {folder / 'report.html'}")
