"""The `twin` command: thin wrappers over the Python API, no logic of its own.

Any `TwinError` (bad input) is printed as its message with exit code 2, never a traceback.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from twin import cli_compare, cli_gate, cli_sweep
from twin.cli_errors import user_errors
from twin.cli_options import (
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
from twin.operate.cli import operate_app
from twin.plan.cli import plan_app
from twin.units import plain_number

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="twin: stress-test a livestream sale on a supply-chain digital twin.",
    pretty_exceptions_enable=False,
)
app.add_typer(operate_app, name="operate", help="Operating mode: live snapshots in, decisions out.")
app.add_typer(
    plan_app, name="plan", help="Planner optimisations: routes, pre-positioning, network."
)
for _module in (cli_compare, cli_sweep, cli_gate):
    _module.register(app)


@app.command()
@user_errors
def validate(file: Annotated[Path, typer.Argument(help="Scenario YAML file.")]) -> None:
    """Check a scenario file (and each of its variants) and say what is wrong, if anything."""
    from twin.experiments.overrides import load_designs

    designs = load_designs(file)
    scenario = next(iter(designs.values()))
    variants = f", {len(designs) - 1} variants" if len(designs) > 1 else ""
    typer.echo(
        f"{file}: ok ({len(scenario.skus)} SKUs, {len(scenario.sites)} sites, "
        f"{len(scenario.lanes)} lanes, {len(scenario.demand.livestreams)} livestreams, "
        f"horizon {scenario.horizon:g} h{variants})"
    )


@app.command()
@user_errors
def run(
    file: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    reps: Reps = 10,
    workers: Workers = 1,
    out: Annotated[
        Path | None, typer.Option(help="Folder for kpis.csv, summary.csv, report.html.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    variant: Annotated[
        str | None, typer.Option(help="Run this design of the file's `variants:` map.")
    ] = None,
    sets: Sets = None,
    scheduler: Scheduler = None,
    precision: PrecisionOpt = None,
    kpi: Kpi = "fill_rate",
    max_reps: MaxReps = 200,
    snapshot_at: Annotated[
        str | None,
        typer.Option(
            help="Also export the State of replication 0 at this time (e.g. 2d) "
            "as snapshot tables that `twin operate ingest` reads, into OUT/snapshot."
        ),
    ] = None,
    snapshot_format: Annotated[str, typer.Option(help="csv or json.")] = "csv",
) -> None:
    """Run replications, print KPIs with 95 % confidence intervals, write the report."""
    from twin.experiments.overrides import load_designs, pick_design
    from twin.experiments.runner import progress_bar, replicate, write_outputs

    check_out_folder(out)
    overrides = overrides_from(sets)
    if seed is not None:
        overrides["seed"] = seed
    designs = load_designs(file, overrides)
    scenario = pick_design(designs, variant, file)
    rule = precision_for(precision, kpi, max_reps)
    if snapshot_at is not None:
        folder = export_snapshot(
            scenario, snapshot_at, (out or Path(".")) / "snapshot", snapshot_format
        )
        typer.echo(f"wrote the State at {snapshot_at} to {folder}")
    with (
        executor_for(workers, scheduler) as executor,
        progress_bar(reps, f"{scenario.name}: replications") as progress,
    ):
        result = replicate(scenario, reps, progress=progress, executor=executor, precision=rule)
    typer.echo(format_summary(result.summary))
    if rule is not None:
        typer.echo(precision_line(result.meta, rule.kpi))
    if out is not None:
        paths = write_outputs(result, out)
        typer.echo(f"wrote {paths['kpis']}, {paths['summary']}, {paths['report']}")


def precision_line(meta: dict[str, Any], kpi: str) -> str:
    """What the sequential stopping rule did, in one line."""
    reached = meta.get("precision_reached")
    width, target, n = (
        meta.get("relative_half_width"),
        meta.get("precision_target"),
        meta.get("replications"),
    )
    verdict = "reached" if reached else "NOT reached (stopped at --max-reps)"
    return f"precision on {kpi}: ±{width:.2%} of the mean after {n} replications, " + (
        f"target ±{target:.2%} {verdict}"
    )


def export_snapshot(scenario: Any, at: str, folder: Path, fmt: str) -> Path:
    """Simulate replication 0 up to `at` and write its snapshot tables into `folder`."""
    from twin.model.world import World
    from twin.operate.ingest import write_snapshot
    from twin.operate.snapshot import tables_from_world
    from twin.units import parse_duration

    if fmt not in ("csv", "json"):
        raise TwinError(f"--snapshot-format (={fmt!r}) must be csv or json")
    try:
        time = parse_duration(at)
    except ValueError as exc:
        raise TwinError(f"--snapshot-at (={at!r}): {exc}") from None
    world = World(scenario, 0)
    world.run_until(time)  # a time outside the run is a ModelError, hence exit code 2
    write_snapshot(tables_from_world(world), folder, fmt)
    return folder


def format_summary(summary: Any) -> str:
    """The KPI table as text: mean ± half-width of the 95 % interval, and n."""
    width = max([26, *(len(str(name)) + 2 for name in summary.index)])
    lines = [f"{'kpi':<{width}}{'mean':>16}  {'± 95% CI':>14}  {'n':>3}"]
    for name, row in summary.iterrows():
        hw = row["half_width"]
        shown = f"± {plain_number(hw)}" if math.isfinite(hw) else ""
        lines.append(
            f"{name:<{width}}{plain_number(row['mean']):>16}  {shown:>14}  {int(row['n']):>3}"
        )
    return "\n".join(lines)


def main() -> None:
    """Entry point for `python -m twin`."""
    app()


if __name__ == "__main__":
    sys.exit(main())
