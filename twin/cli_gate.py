"""The `twin gate` command: a regression gate for CI (exit 0 pass, 1 a rule fails, 2 bad input)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli_errors import user_errors
from twin.cli_options import (
    AllowLarge,
    Scheduler,
    Sets,
    Workers,
    check_out_file,
    executor_for,
    overrides_from,
)

GateReps = Annotated[
    int | None, typer.Option(help="Replications per design (default: `reps` of the rules file).")
]
CandidateSets = Annotated[
    list[str] | None,
    typer.Option(
        "--set-candidate",
        help="Override a field of the candidate only: PATH=VALUE (repeatable; after --set).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add `twin gate` to the `twin` app."""

    @app.command("gate")
    @user_errors
    def gate_command(
        baseline: Annotated[Path, typer.Option(help="Baseline scenario YAML file.")],
        candidate: Annotated[
            Path, typer.Option(help="Candidate scenario YAML file (may be the same file).")
        ],
        rules: Annotated[Path, typer.Option(help="Rules YAML file, e.g. configs/gate.yaml.")],
        reps: GateReps = None,
        workers: Workers = 1,
        scheduler: Scheduler = None,
        sets: Sets = None,
        set_candidate: CandidateSets = None,
        junit: Annotated[
            Path | None, typer.Option(help="Also write the verdicts as JUnit XML here.")
        ] = None,
        markdown: Annotated[
            Path | None,
            typer.Option(help="Also write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)."),
        ] = None,
        allow_large: AllowLarge = False,
    ) -> None:
        """Fail (exit 1) when the candidate is significantly worse than the baseline on a KPI.

        Each rule: a one-sided paired t-test of worse-beyond-tolerance, at the rules' level.

        Exit codes: 0 every rule holds; 1 a rule fails; 2 bad input.
        """
        from twin.experiments import gate as g
        from twin.experiments.budget import allowing_large, check_designs
        from twin.experiments.runner import progress_bar

        for path, option in ((junit, "--junit"), (markdown, "--markdown")):
            check_out_file(path, option)
        gate_rules = g.load_rules(rules)
        base, cand = g.load_pair(
            baseline, candidate, overrides_from(sets), _candidate_overrides(set_candidate)
        )
        n = gate_rules.reps if reps is None else reps  # gate() checks it, and the rules, first
        with allowing_large(allow_large):
            if n >= 1:  # a count below 1 is gate()'s to refuse, in its words
                check_designs(
                    {"baseline": base, "candidate": cand},
                    n,
                    sources={"baseline": str(baseline), "candidate": str(candidate)},
                )
            with (
                executor_for(workers, scheduler) as executor,
                progress_bar(2 * n, "gate: replications") as progress,
            ):
                result = g.gate(base, cand, gate_rules, n, executor, progress)
        typer.echo(g.format_table(result))
        if junit is not None:
            g.write_atomic(junit, g.to_junit(result))
        if markdown is not None:
            g.write_atomic(markdown, g.to_markdown(result))
        if not result.passed:
            raise typer.Exit(1)


def _candidate_overrides(texts: list[str] | None) -> dict[str, object]:
    """`--set-candidate PATH=VALUE` options as a mapping; mistakes name --set-candidate."""
    from twin.errors import ConfigError
    from twin.experiments.overrides import parse_assignment

    out: dict[str, object] = {}
    for text in texts or []:
        try:
            path, value = parse_assignment(text)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("--set ", "--set-candidate ", 1)) from None
        out[path] = value
    return out
