"""The `twin compare` command: designs on common random numbers, differences against a baseline.

Designs are each file's base scenario and (unless `--no-variants`) each entry of its `variants:`
map. Every input is checked before the first replication runs, and nothing is written when one
is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli_errors import user_errors
from twin.cli_options import (
    AllowLarge,
    Kpi,
    MaxReps,
    PrecisionOpt,
    Reps,
    Scheduler,
    Sets,
    Workers,
    check_out_folder,
    executor_for,
    overrides_from,
    precision_for,
)
from twin.errors import TwinError


def register(app: typer.Typer) -> None:
    """Add `twin compare` to the `twin` app."""

    @app.command("compare")
    @user_errors
    def compare_command(
        files: Annotated[
            list[Path],
            typer.Argument(
                help="Scenario YAML files: each gives its base design and its variants.",
                show_default=False,
            ),
        ],
        variants: Annotated[
            bool,
            typer.Option(
                "--variants/--no-variants",
                help="Also compare the designs in each file's `variants:` map.",
            ),
        ] = True,
        reps: Reps = 10,
        workers: Workers = 1,
        scheduler: Scheduler = None,
        precision: PrecisionOpt = None,
        kpi: Kpi = "fill_rate",
        max_reps: MaxReps = 200,
        sets: Sets = None,
        out: Annotated[
            Path | None,
            typer.Option(
                help="Folder for compare_kpis.csv, compare_summary.csv, "
                "compare_differences.csv and report.html."
            ),
        ] = None,
        baseline: Annotated[
            str | None,
            typer.Option(help="The design the others are compared with (default: the first)."),
        ] = None,
        allow_large: AllowLarge = False,
    ) -> None:
        """Compare designs on common random numbers: paired differences against a baseline."""
        from twin.experiments.budget import allowing_large, check_designs
        from twin.experiments.compare import compare
        from twin.experiments.designs import gather_designs, with_baseline
        from twin.experiments.runner import progress_bar, write_folder
        from twin.report.compare import (
            comparison_text,
            currency_of,
            main_kpis,
            precision_note,
            seed_warning,
            write_compare_outputs,
        )

        rule = precision_for(precision, kpi, max_reps)
        if reps < 1:
            raise TwinError(f"--reps (={reps}) must be >= 1")
        if workers < 1:
            raise TwinError(f"--workers (={workers}) must be >= 1")
        check_out_folder(out)
        designs, sources = gather_designs(files, overrides_from(sets), variants)
        designs = with_baseline(designs, baseline)
        with allowing_large(allow_large):
            check_designs(designs, reps, rule.max_reps if rule else None, sources)
            warning = seed_warning({name: s.seed for name, s in designs.items()})
            if warning:
                typer.echo(warning, err=True)

            executor = executor_for(workers, scheduler)
            try:
                total = len(designs) * (reps if rule is None else rule.max_reps)
                with progress_bar(total, f"{len(designs)} designs: replications") as progress:
                    result = compare(designs, reps, executor, rule, progress)
            finally:
                executor.close()
        extra = [kpi] if rule is not None else []
        typer.echo(comparison_text(result, main_kpis(result, extra), currency_of(designs)))
        note = precision_note(result.meta, kpi)
        if note:
            typer.echo(note)
        if out is not None:
            chosen = kpi if rule is not None else None
            paths = write_folder(
                out,
                lambda folder: write_compare_outputs(result, folder, designs, sources, chosen),
            )
            typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))
