"""Benchmark the routing backends: time per wave by size, and the gap to CVRPLIB optima.

Usage: `python benchmarks/routing.py [--quick] [--seed N]`. Prints two tables and writes every figure
to `benchmarks/results/routing.json`. `ortools` (guided local search) and `pyvrp` run to their time
budget by design, so their wall time is the budget; `ortools-descent` (no metaheuristic: first
solution, then local search to the first local optimum) shows how soon OR-Tools has usable routes.
`--quick` uses a 1 s budget for the gaps and skips X-n101-k25. Exit code 2 only if routing fails.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vrplib
from results_file import write_results

from twin.errors import TwinError
from twin.optimize.routing import (
    Fleet,
    Router,
    RoutingParams,
    RoutingProblem,
    Stop,
    from_vrplib,
    make_router,
)

ROOT = Path(__file__).resolve().parents[1]
CVRP = ROOT / "tests" / "data" / "cvrp"  # public CVRPLIB instances with proven optima
SIZES = (10, 50, 200)
WAVE_BUDGET = 1.0


@dataclass(frozen=True, slots=True)
class Variant:
    """A named router configuration at a given time budget."""

    name: str
    backend: str
    local_search: str = "GUIDED_LOCAL_SEARCH"

    def router(self, budget: float, seed: int) -> Router:
        """The router for this variant."""
        params = RoutingParams(time_limit_s=budget, local_search=self.local_search, seed=seed)
        return make_router(self.backend, params)


VARIANTS = (
    Variant("nearest", "nearest"),
    Variant("ortools-descent", "ortools", "GREEDY_DESCENT"),
    Variant("ortools", "ortools"),
    Variant("pyvrp", "pyvrp"),
)


def wave(n: int, seed: int) -> RoutingProblem:
    """A last-mile wave: `n` stations within 20 km of the warehouse, 3 min service each."""
    rng = random.Random(seed)
    stops = tuple(
        Stop(f"st{i}", rng.uniform(-20, 20), rng.uniform(-20, 20), rng.randint(1, 8), 0.05)
        for i in range(n)
    )
    capacity = 40
    vehicles = math.ceil(sum(s.demand for s in stops) / capacity) + 2
    return RoutingProblem((0.0, 0.0), stops, Fleet(vehicles, capacity, 30.0, cost_per_km=1.0))


def run(variant: Variant, problem: RoutingProblem, budget: float, seed: int) -> dict[str, Any]:
    """Solve once and time it from the outside (model building included)."""
    router = variant.router(budget, seed)
    t0 = time.perf_counter()
    routes = router.solve(problem)
    wall = time.perf_counter() - t0
    return {
        "variant": variant.name,
        "budget": budget,
        "wall": wall,
        "cost": routes.cost,
        "routes": len(routes.routes),
        "fallback": routes.fallback,
    }


def fmt_time(seconds: float) -> str:
    """Seconds as ms below one second, else as s."""
    return f"{seconds * 1e3:8.1f} ms" if seconds < 1.0 else f"{seconds:8.3f} s "


def wave_table(seed: int) -> list[dict[str, Any]]:
    """Time and cost per wave size; ratios to the budget and to the best cost of that wave."""
    print(f"time per wave · budget {WAVE_BUDGET:g} s · random waves (seed {seed}), capacity 40")
    print(
        f"{'stops':>5}  {'variant':<16}{'wall':>11}  {'×budget':>7}  {'cost km':>9}  {'×best':>6}  {'routes':>6}"
    )
    rows = []
    for n in SIZES:
        problem = wave(n, seed + n)
        group = [run(v, problem, WAVE_BUDGET, seed) for v in VARIANTS]
        best = min(r["cost"] for r in group)
        for r in group:
            r |= {"stops": n, "x_budget": r["wall"] / WAVE_BUDGET, "x_best": r["cost"] / best}
            flag = "  fallback" if r["fallback"] else ""
            print(
                f"{n:>5}  {r['variant']:<16}{fmt_time(r['wall'])}  {r['x_budget']:7.3f}  "
                f"{r['cost']:9.1f}  {r['x_best']:6.3f}  {r['routes']:>6}{flag}"
            )
        rows += group
    return rows


def gap_table(budgets: tuple[float, ...], names: list[str], seed: int) -> list[dict[str, Any]]:
    """Gap to the proven optimum of each CVRPLIB instance, for each variant and budget."""
    print("\ngap to optimum · CVRPLIB, rounded Euclidean distances")
    heads = "".join(f"{f'{b:g} s':>14}" for b in budgets)
    print(f"{'instance':<12}{'optimum':>8}  {'variant':<16}{heads}   (gap %, wall s)")
    rows = []
    for name in names:
        problem = from_vrplib(vrplib.read_instance(CVRP / f"{name}.vrp"))
        optimum = vrplib.read_solution(CVRP / f"{name}.sol")["cost"]
        for variant in VARIANTS[1:]:
            cells = []
            for budget in budgets:
                r = run(variant, problem, budget, seed)
                r |= {"instance": name, "optimum": optimum, "gap": r["cost"] / optimum - 1}
                rows.append(r)
                cells.append(f"{r['gap']:6.1%} {r['wall']:4.1f}")
            print(f"{name:<12}{optimum:>8}  {variant.name:<16}{''.join(f'{c:>14}' for c in cells)}")
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s budget, skip X-n101-k25")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random waves and PyVRP")
    return parser.parse_args(argv)


def routed_flagship(stations: int = 12, seed: int = 0) -> Any:
    """The flagship with its two waved fwd_sh lanes (carrier zto) routed through `stations` lockers."""
    import yaml

    from twin.config import scenario_from_data

    path = ROOT / "scenarios" / "flagship_live_sale.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.pop("variants", None)  # the base design only
    rng = random.Random(seed)
    for lane in data["lanes"]:
        if lane["from"] == "fwd_sh" and lane.get("waves"):
            region = data["sites"][lane["to"]]
            x, y = region["location"]
            region["stations"] = [
                {
                    "id": f"{lane['to']}_{k}",
                    "location": [x + rng.uniform(-25, 25), y + rng.uniform(-25, 25)],
                }
                for k in range(stations)
            ]
            del lane["transit"]
            lane["routing"] = {
                "fleet": {
                    "vehicles": 40,
                    "capacity": 120,
                    "speed_kmh": 35,
                    "cost_per_km": 1.5,
                    "cost_per_vehicle": 30,
                    "service_time": "5min",
                }
            }
    return scenario_from_data(data, f"{path} (routed)")


def solver_share() -> dict[str, Any]:
    """Share of one replication's wall time spent in the routing solver."""
    from twin.config import load_scenario
    from twin.model.world import World

    out: dict[str, Any] = {}
    for name, scenario in [
        ("routed_last_mile", load_scenario(ROOT / "scenarios" / "routed_last_mile.yaml")),
        ("flagship, fwd_sh routed", routed_flagship()),
    ]:
        world = World(scenario)
        start = time.perf_counter()
        record = world.run()
        total = time.perf_counter() - start
        routed = [ln.routed for lanes in world.lanes.values() for ln in lanes if ln.routed]
        solver = sum(r.seconds for r in routed)
        out[name] = {"run_s": total, "solver_s": solver, "share": solver / total, **record.routing}
    print("\nsolver share of one replication (OR-Tools, default settings)")
    print(
        f"{'scenario':<26} {'run':>8} {'solver':>8} {'share':>6} {'waves':>6} {'vans':>6} {'fallbacks':>9}"
    )
    for name, r in out.items():
        print(
            f"{name:<26} {r['run_s']:>7.2f}s {r['solver_s']:>7.2f}s {r['share']:>6.1%} "
            f"{r['waves']:>6.0f} {r['vehicles']:>6.0f} {r['fallbacks']:>9.0f}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run both tables; exit 0, or 2 if a router raises."""
    args = parse_args(argv)
    budgets = (1.0,) if args.quick else (2.0, 10.0)
    names = sorted(p.stem for p in CVRP.glob("*.vrp"))
    if args.quick:
        names = [n for n in names if n != "X-n101-k25"]
    try:
        for variant in VARIANTS:  # untimed: lazy imports and first-call costs
            run(variant, wave(5, args.seed), 0.05, args.seed)
        res = {"waves": wave_table(args.seed), "cvrplib": gap_table(budgets, names, args.seed)}
        res["solver_share"] = solver_share()
    except TwinError as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        return 2
    write_results("routing", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
