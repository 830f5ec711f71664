"""The `twin` command: thin wrappers over the Python API, no logic of its own.

Any `TwinError` (bad input) is printed as its message with exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from twin import cli_compare, cli_gate, cli_report, cli_sweep, kpi
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
from twin.operate.cli import operate_app
from twin.plan.cli import plan_app

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
for _module in (cli_compare, cli_sweep, cli_gate, cli_report):
    _module.register(app)


def package_version() -> str:
    """The installed distribution's version (what `pip` sees), else the source tree's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("twin")
    except PackageNotFoundError:  # run from a checkout that was never installed
        from twin import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"twin {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """twin: stress-test a livestream sale on a supply-chain digital twin."""


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
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the summary as one JSON object on stdout (for scripts); "
            "messages go to stderr.",
        ),
    ] = False,
    allow_large: AllowLarge = False,
) -> None:
    """Run replications, print KPIs with 95 % confidence intervals, write the report."""
    import tempfile

    from twin.experiments.budget import allowing_large, check_designs
    from twin.experiments.overrides import load_designs, pick_design
    from twin.experiments.runner import progress_bar, replicate, write_outputs

    check_out_folder(out)
    if as_json and out is not None and out.suffix.lower() == ".json" and not out.is_dir():
        raise TwinError(
            f"--out {out}: --out names a folder (for kpis.csv, summary.csv, report.html); "
            f"--json prints to stdout, so save the JSON with '> {out}'"
        )
    if snapshot_at is not None and out is None:
        check_out_folder(Path("snapshot"), "--snapshot-at (into ./snapshot)")
    say = _stderr_echo if as_json else typer.echo  # stdout is the JSON alone
    overrides = overrides_from(sets)
    if seed is not None:
        overrides["seed"] = seed
    designs = load_designs(file, overrides)
    scenario = pick_design(designs, variant, file)
    rule = precision_for(precision, kpi, max_reps)
    source = str(file) if variant is None else f"{file} (variant {variant!r})"
    with allowing_large(allow_large), tempfile.TemporaryDirectory() as staging:
        # the whole run's work is checked before the snapshot's simulation, not only the run's
        check_designs(
            {scenario.name: scenario},
            reps,
            rule.max_reps if rule else None,
            {scenario.name: source},
        )
        extra: dict[str, Path] = {}
        if snapshot_at is not None:
            # with --out, the snapshot appears with the run's other results, or not at all
            folder = out / "snapshot" if out is not None else Path("snapshot")
            written = export_snapshot(
                scenario,
                snapshot_at,
                Path(staging) / "snapshot" if out is not None else folder,
                snapshot_format,
            )
            if out is None:
                say(f"wrote the State at {snapshot_at} to {written}")
            else:
                extra["snapshot"] = written
        with (
            executor_for(workers, scheduler) as executor,
            progress_bar(reps, f"{scenario.name}: replications") as progress,
        ):
            result = replicate(scenario, reps, progress=progress, executor=executor, precision=rule)
        if as_json:
            typer.echo(json.dumps(summary_json(result), indent=2, allow_nan=False))
        else:
            typer.echo(format_summary(result.summary, getattr(scenario, "currency", "") or ""))
        if rule is not None:
            say(precision_line(result.meta, rule.kpi))
        if out is not None:
            paths = write_outputs(result, out, extra)
            rest = ", ".join(path.name for name, path in paths.items() if name != "report")
            say(f"wrote {paths['report']} and its results ({rest}) in {out}")
            if extra:
                say(f"wrote the State at {snapshot_at} to {out / 'snapshot'}")


def _stderr_echo(message: str) -> None:
    typer.echo(message, err=True)


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


def format_summary(summary: Any, currency: str = "") -> str:
    """The KPI table as text, each value formatted as the report shows it (from `twin.kpi`).

    Columns: mean, ± 95 % half-width (percentage points for rates), the interval clipped to the
    KPI's range, and n. Widths follow the contents, so the table stays aligned whatever the
    magnitudes; a value that is not available (one replication, no delivered order) is `–`.
    """
    header = ("kpi", "mean", "± 95% CI", "95% interval", "n")
    rows = [header]
    for name, row in summary.iterrows():
        name = str(name)
        rows.append(
            (
                name,
                kpi.format_value(name, row["mean"], currency=currency),
                kpi.format_spread(name, row["half_width"]) or kpi.MISSING,
                kpi.format_ci(name, row["ci_low"], row["ci_high"], currency),
                str(int(row["n"])),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            [
                r[0].ljust(widths[0]),
                *(cell.rjust(w) for cell, w in zip(r[1:], widths[1:], strict=True)),
            ]
        ).rstrip()
        for r in rows
    )


def summary_json(result: Any) -> dict[str, Any]:
    """A run's summary as plain JSON types: what `twin run --json` prints for scripts.

    One object: `scenario`, `replications`, `seed`, the stopping rule's outcome when there was
    one, and per KPI every column of summary.csv (mean, std, n, half_width, ci_low, ci_high and
    whatever the statistics add) plus its unit, direction and description from the registry.
    Values that are not numbers (NaN, ±inf) are null, since JSON has no NaN.
    """
    kpis: dict[str, dict[str, Any]] = {}
    for name, row in result.summary.iterrows():
        entry = kpi.info(str(name))
        kpis[str(name)] = {
            **{str(column): _json_value(value) for column, value in row.items()},
            "n": int(row["n"]),
            "unit": entry.unit,
            "better": entry.better,
            "description": entry.description,
        }
    meta = result.meta
    out: dict[str, Any] = {
        "scenario": result.scenario,
        "replications": int(meta.get("replications", len(result.kpis))),
        "seed": meta.get("seed"),
    }
    if "precision_target" in meta:
        out["precision"] = {
            "target": _json_value(meta["precision_target"]),
            "relative_half_width": _json_value(meta["relative_half_width"]),
            "reached": bool(meta.get("precision_reached")),
        }
    out["kpis"] = kpis
    return out


def _json_value(value: Any) -> Any:
    """A summary cell as JSON takes it: a float, a string, or None for NaN, ±inf and blanks."""
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def main() -> None:
    """Entry point for `python -m twin`."""
    app()


if __name__ == "__main__":
    sys.exit(main())
