"""The `twin sweep` command: a grid of scenario field values on common random numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from twin.cli_errors import user_errors
from twin.cli_options import (
    AllowLarge,
    Reps,
    Scheduler,
    Sets,
    Workers,
    check_out_folder,
    executor_for,
    overrides_from,
)

if TYPE_CHECKING:
    from twin.experiments.sweep import SweepResult

TABLE_KPIS = ("fill_rate", "otd", "cost_total")
"""The KPIs the command prints for every point."""

GridOpt = Annotated[
    list[str],
    typer.Option(
        "--grid",
        help="A field path and the values to try: PATH=V1,V2,... (repeatable). Points are the "
        "cartesian product in the order the --grid options are given, the first varying slowest.",
    ),
]
Out = Annotated[
    Path | None,
    typer.Option(help="Folder for sweep.csv/.parquet, sweep_kpis.csv/.parquet and report.html."),
]
PlotKpis = Annotated[
    list[str] | None,
    typer.Option(
        "--kpi", help="A KPI the report plots (repeatable; default fill_rate, otd, cost_total)."
    ),
]
Cost = Annotated[str, typer.Option(help="Cost KPI of the Pareto front (lower is better).")]
Service = Annotated[str, typer.Option(help="Service KPI of the Pareto front (higher is better).")]


def register(app: typer.Typer) -> None:
    """Add `twin sweep` to the `twin` app."""
    app.command("sweep")(user_errors(sweep_command))


def sweep_command(
    file: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    grid: GridOpt,
    reps: Reps = 10,
    workers: Workers = 1,
    scheduler: Scheduler = None,
    sets: Sets = None,
    out: Out = None,
    kpi: PlotKpis = None,
    cost: Cost = "cost_total",
    service: Service = "fill_rate",
    allow_large: AllowLarge = False,
) -> None:
    """Run a grid of scenario values on the same seeds: a table by point, CSV/Parquet, report.

    Every point is the scenario (after --set) with the point's values; all are validated first.

    Example: twin sweep scenarios/tiny.yaml --grid policies.forward_replenishment.target=100,250,400
    --grid sites.central.pick_pack.workers=2,4 --out reports/sweep
    """
    from twin.experiments.budget import allowing_large, check_designs
    from twin.experiments.runner import progress_bar, write_folder
    from twin.experiments.sweep import (
        MAIN_KPIS,
        check_kpi_names,
        parse_grid_options,
        plan_sweep,
        run_sweep,
        write_sweep,
    )

    check_out_folder(out)
    plotted = list(dict.fromkeys(kpi or MAIN_KPIS))
    check_kpi_names(plotted, "--kpi")
    check_kpi_names([cost], "--cost")
    check_kpi_names([service], "--service")
    plan = plan_sweep(file, parse_grid_options(grid), overrides_from(sets))
    with allowing_large(allow_large):
        check_designs(plan.designs, reps, sources={name: str(file) for name in plan.designs})
        executor = executor_for(workers, scheduler)
        try:
            with progress_bar(len(plan.designs) * reps, f"{plan.scenario}: sweep") as progress:
                result = run_sweep(
                    plan, reps, executor, progress=progress, cost=cost, service=service
                )
        finally:
            executor.close()
    from twin.report.compare import currency_of

    currency = currency_of(plan.designs)
    typer.echo(format_sweep(result, currency=currency))
    if out is not None:
        paths = write_folder(out, lambda folder: write_sweep(result, folder, plotted))
        typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


def format_sweep(result: SweepResult, kpis: Sequence[str] = TABLE_KPIS, currency: str = "") -> str:
    """One row per point: grid values, each KPI's mean ± 95 % half-width, front marks.

    Each KPI is printed by the registry (`twin.kpi`) as the HTML report prints it: rates as
    percentages with the ± in percentage points, hours with `h`, money with separators. Above
    the table, warnings when the replications are few or intervals very wide; below it, the
    reference point, the verdict against it (paired t-tests) and both fronts.
    """
    from twin.kpi import format_difference, format_value
    from twin.report.compare import ALPHA, spread
    from twin.report.sweep import (
        judged_differences,
        reference_text,
        reliability_warnings,
        verdict_groups,
    )

    stats = result.summary.set_index(["point", "kpi"])
    kpis = [k for k in kpis if k in set(result.summary["kpi"])]
    front = set(result.front)
    undominated = set(result.paired_front)
    header = ["point", *result.grid, *kpis, "front", "undominated"]
    rows = []
    for _, point in result.points.iterrows():
        name = str(point["point"])
        cells = [name, *(str(point[p]) for p in result.grid)]
        for k in kpis:
            mean, hw = (float(stats.at[(name, k), c]) for c in ("mean", "half_width"))
            shown = format_value(k, mean, currency=currency)
            if math.isfinite(hw):
                shown += f" {spread(k, hw)}"
            cells.append(shown)
        cells.append("*" if name in front else "")
        cells.append("*" if name in undominated else "")
        rows.append(cells)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = [False, *(_numeric(result.points[p]) for p in result.grid), *[True] * len(kpis)]
    numeric += [False, False]  # the front marks

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    n = result.meta.get("replications", "?")
    shown_kpis = list(dict.fromkeys([result.cost, result.service, *kpis]))
    lines = [line(header), *(line(r) for r in rows)]
    lines.append(
        f"{len(result.points)} points × {n} replications on seed {result.meta.get('seed')} "
        "(common random numbers); ± is the 95 % CI half-width"
    )
    lines += [f"warning: {w}" for w in reliability_warnings(result, shown_kpis, currency)]
    lines.append(
        f"Pareto front of the means ({result.cost} lower, {result.service} higher): "
        + (", ".join(result.front) or "none")
    )
    lines.append(
        f"Not significantly dominated (paired t-tests at {ALPHA:.0%} on {result.cost} and "
        f"{result.service}): " + (", ".join(result.paired_front) or "none")
    )
    if len(result.points) > 1:
        pair = [result.cost, result.service]
        diffs = judged_differences(result, pair)
        lines.append(f"Against the reference {reference_text(result)}:")
        for group, members in verdict_groups(result, diffs).items():
            if not members:
                continue
            described = []
            for p in members:
                parts = [
                    f"{k} {format_difference(k, float(diffs.at[(p, k), 'diff']), currency)}"
                    for k in pair
                    if (p, k) in diffs.index
                ]
                described.append(f"{p} ({', '.join(parts)})")
            lines.append(f"  {group}: " + "; ".join(described))
    return "\n".join(lines)


def _numeric(column: object) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return is_numeric_dtype(column) and not is_bool_dtype(column)
