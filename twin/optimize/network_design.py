"""Network design (DESIGN §6): which forward warehouses to open, as a capacitated facility location MIP.

Open y[w] in {0, 1} at `fixed[w]`; ship x[r, w] >= 0 units of region r's demand from w at
`cost[r, w]` per unit, at most `capacity[w]` in total and only if w is open. Every region's demand
must be met. With `single_sourcing` each region is served by exactly one warehouse.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.linear_solver import pywraplp

from twin.optimize.allocation import (
    AllocationError,
    as_array,
    check_nonnegative,
    mip_solver,
    names,
    solve,
)

__all__ = ["NetworkDesign", "design_network"]


@dataclass(frozen=True, eq=False)
class NetworkDesign:
    """The warehouses to open, the flows from them to regions, and the cost split."""

    opened: tuple[str, ...]
    flows: dict[tuple[str, str], float]
    """Units per (region, warehouse), positive flows only."""
    fixed_cost: float
    variable_cost: float
    total_cost: float
    optimal: bool
    bound: float
    """The solver's proven lower bound on total cost (equal to it, within the gap, when optimal)."""
    solve_seconds: float


def design_network(
    candidates: Sequence[str],
    regions: Sequence[str],
    demand: npt.ArrayLike,
    cost: npt.ArrayLike,
    fixed: npt.ArrayLike,
    capacity: npt.ArrayLike,
    must_open: Sequence[str] = (),
    max_open: int | None = None,
    *,
    single_sourcing: bool = False,
    time_limit: float | None = None,
    mip_gap: float = 1e-6,
) -> NetworkDesign:
    """Choose warehouses to open and route each region's demand at least fixed + variable cost.

    `demand[r]` units, `cost[r, w]` per unit (np.inf forbids the pair), `fixed[w]`, `capacity[w]`
    (np.inf for none). Solver: SCIP through pywraplp, because the model mixes binaries (open,
    single-sourcing) with continuous flows; CP-SAT would need flows and costs made integer.
    Raises AllocationError when no allowed design meets all demand.
    """
    started = time.perf_counter()
    cand = names("candidates", candidates)
    reg = names("regions", regions)
    n_w, n_r = len(cand), len(reg)
    demand_arr = as_array("demand", demand, (n_r,), f"(n_regions={n_r},)")
    check_nonnegative("demand", demand_arr)
    cost_arr = as_array("cost", cost, (n_r, n_w), f"(n_regions={n_r}, n_candidates={n_w})")
    check_nonnegative("cost", cost_arr, finite=False)
    fixed_arr = as_array("fixed", fixed, (n_w,), f"(n_candidates={n_w},)")
    check_nonnegative("fixed", fixed_arr)
    cap_arr = as_array("capacity", capacity, (n_w,), f"(n_candidates={n_w},)")
    check_nonnegative("capacity", cap_arr, finite=False)
    forced: set[int] = set()
    for i, name in enumerate(must_open):
        if name not in cand:
            raise AllocationError(f"must_open[{i}] (={name!r}) is not one of the candidates")
        forced.add(cand.index(name))
    if max_open is not None and not (isinstance(max_open, int) and max_open >= len(forced)):
        raise AllocationError(
            f"max_open (={max_open!r}) must be an integer >= len(must_open) (={len(forced)})"
        )
    allowed = np.isfinite(cost_arr)
    for r in np.flatnonzero((demand_arr > 0) & ~allowed.any(axis=1)):
        raise AllocationError(
            f"cost[{r}, :]: region {reg[r]!r} has demand but no allowed candidate"
        )

    solver = mip_solver("SCIP", time_limit)
    inf = solver.infinity()
    objective = solver.Objective()
    total = float(demand_arr.sum())
    big = np.minimum(cap_arr, total)  # capacity beyond total demand is never used
    y = [solver.BoolVar("") for _ in range(n_w)]
    for w in range(n_w):
        objective.SetCoefficient(y[w], float(fixed_arr[w]))
        if w in forced:
            y[w].SetLb(1.0)
    pairs = [(r, w) for r in range(n_r) for w in range(n_w) if allowed[r, w] and demand_arr[r] > 0]
    if single_sourcing:
        z = {(r, w): solver.BoolVar("") for r, w in pairs}
        flow = {key: (var, float(demand_arr[key[0]])) for key, var in z.items()}
    else:
        flow = {(r, w): (solver.NumVar(0.0, float(demand_arr[r]), ""), 1.0) for r, w in pairs}
    need = {r: 1.0 if single_sourcing else float(demand_arr[r]) for r, _ in pairs}
    meet = {r: solver.Constraint(units, units) for r, units in need.items()}
    load = [solver.Constraint(-inf, 0.0) for _ in range(n_w)]
    for w in range(n_w):
        load[w].SetCoefficient(y[w], -float(big[w]))
    for (r, w), (var, units) in flow.items():
        objective.SetCoefficient(var, float(cost_arr[r, w]) * units)
        meet[r].SetCoefficient(var, 1.0)
        load[w].SetCoefficient(var, units)
        # x[r, w] <= demand[r] * y[w]: redundant for integers but tightens the LP relaxation
        link = solver.Constraint(-inf, 0.0)
        link.SetCoefficient(var, 1.0)
        link.SetCoefficient(y[w], -(1.0 if single_sourcing else float(demand_arr[r])))
    if max_open is not None:
        ct = solver.Constraint(-inf, float(max_open))
        for var in y:
            ct.SetCoefficient(var, 1.0)
    objective.SetMinimization()
    status = solve(solver, gap=mip_gap)
    if status == pywraplp.Solver.INFEASIBLE:
        raise AllocationError(
            f"no design meets all demand (total {total:g}) within capacity, "
            f"must_open={tuple(must_open)!r} and max_open={max_open!r}"
        )
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise AllocationError(f"SCIP stopped without a design (status {status})")

    opened = tuple(cand[w] for w in range(n_w) if y[w].solution_value() > 0.5)
    flows: dict[tuple[str, str], float] = {}
    variable = 0.0
    for (r, w), (var, units) in flow.items():
        value = var.solution_value() * units
        if single_sourcing:
            value = units if var.solution_value() > 0.5 else 0.0
        if value > 1e-9:
            flows[reg[r], cand[w]] = value
            variable += value * float(cost_arr[r, w])
    fixed_cost = float(sum(fixed_arr[cand.index(name)] for name in opened))
    return NetworkDesign(
        opened=opened,
        flows=flows,
        fixed_cost=fixed_cost,
        variable_cost=variable,
        total_cost=fixed_cost + variable,
        optimal=status == pywraplp.Solver.OPTIMAL,
        bound=solver.Objective().BestBound(),
        solve_seconds=time.perf_counter() - started,
    )
