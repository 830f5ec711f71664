"""`twin plan ...`: planner commands, each one optimisation, printed and optionally plotted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli_errors import user_errors
from twin.cli_options import check_out_file

plan_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)


@plan_app.command("routes")
@user_errors
def routes(
    scenario: Annotated[Path, typer.Option(help="Scenario YAML file.")],
    warehouse: Annotated[str, typer.Option(help="The warehouse the wave leaves from.")],
    orders: Annotated[Path, typer.Option(help="CSV of the wave's orders: order_id,station,units.")],
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of the routes here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the routes as JSON.")] = False,
) -> None:
    """Route one wave of orders from a warehouse with the scenario's fleet and solver."""
    from twin.config import load_scenario
    from twin.plan.routes import format_plans, plan_routes

    check_out_file(plot, "--plot")  # before the solver runs, not after
    plans = plan_routes(load_scenario(scenario), warehouse, orders, str(scenario))
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "region": p.region,
                        "carrier": p.carrier,
                        "cost": p.routes.cost,
                        "km": p.routes.distance_km,
                        "fallback": p.routes.fallback,
                        "routes": [
                            {
                                "stops": list(r.stops),
                                "load": r.load,
                                "km": r.distance_km,
                                "arrivals": list(r.arrivals),
                                "back": r.end,
                            }
                            for r in p.routes.routes
                        ],
                    }
                    for p in plans
                ],
                indent=2,
            )
        )
    else:
        typer.echo(format_plans(plans))
    if plot is not None:
        _plot(plans, plot)
        typer.echo(f"wrote {plot}", err=True)


def _plot(plans: list, path: Path) -> None:  # type: ignore[type-arg]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from twin.optimize.routing import plot_routes

    fig, axes = plt.subplots(1, len(plans), figsize=(6 * len(plans), 5), squeeze=False)
    for ax, p in zip(axes[0], plans, strict=True):
        plot_routes(p.problem, p.routes, ax)
        ax.set_title(f"{p.region} ({p.carrier}): {p.routes.distance_km:.1f} km")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


@plan_app.command("network")
@user_errors
def network(
    scenario: Annotated[Path, typer.Option(help="Scenario YAML file.")],
    reps: Annotated[int, typer.Option(min=1, help="Replications of demand to average.")] = 5,
    max_open: Annotated[
        int | None, typer.Option(min=0, help="At most this many warehouses open.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the chosen design as a scenario variant here.")
    ] = None,
) -> None:
    """Choose which warehouses to keep open (fixed + variable cost, capacities) as a MIP."""
    from twin.config import load_scenario
    from twin.plan.network import format_design, plan_network, variant

    check_out_file(out, "--out")  # before the optimisation runs, not after
    loaded = load_scenario(scenario)
    data, design = plan_network(loaded, reps, max_open)
    typer.echo(format_design(data, design))
    if out is not None:
        closed = set(data.candidates) - set(design.opened)
        _write_variant(scenario, out, lambda raw: variant(raw, closed))


@plan_app.command("preposition")
@user_errors
def preposition(
    scenario: Annotated[Path, typer.Option(help="Scenario YAML file.")],
    event: Annotated[str, typer.Option(help="The livestream to pre-position for.")],
    reps: Annotated[int, typer.Option(min=1, help="Demand scenarios (replications).")] = 100,
    window: Annotated[
        str, typer.Option(help="Demand counted from the event's start to its end plus this.")
    ] = "24h",
    lead: Annotated[str, typer.Option(help="Start pushing this long before the event.")] = "24h",
    late_penalty: Annotated[
        float,
        typer.Option(help="Cost per unit served from central instead (on top of its last mile)."),
    ] = 2.0,
    budget: Annotated[float | None, typer.Option(help="Cap on total transfer cost.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the scenario with the plan as its policy here.")
    ] = None,
) -> None:
    """Choose forward stock per SKU for an event by sample average approximation (OR-Tools)."""
    from twin.config import load_scenario
    from twin.errors import ConfigError
    from twin.plan.preposition import format_plan, plan_preposition, preposition_inputs, variant
    from twin.units import parse_duration

    check_out_file(out, "--out")  # before the optimisation runs, not after
    try:
        window_h, lead_h = parse_duration(window), parse_duration(lead)
    except ValueError as exc:
        raise ConfigError(f"--window/--lead: {exc}") from None
    loaded = load_scenario(scenario)
    inputs = preposition_inputs(loaded, event, reps, window_h, late_penalty, budget)
    plan = plan_preposition(inputs)
    typer.echo(format_plan(inputs, plan))
    if out is not None:
        _write_variant(scenario, out, lambda raw: variant(raw, inputs, plan, lead_h))


def _write_variant(
    scenario: Path, out: Path, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Write `change(scenario's data)` to `out`, once it loads as a scenario (else exit 2)."""
    import yaml

    from twin.config import scenario_from_data

    chosen = change(yaml.safe_load(scenario.read_text(encoding="utf-8")))
    scenario_from_data(chosen, str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(chosen, sort_keys=False), encoding="utf-8")
    typer.echo(f"wrote {out}", err=True)
