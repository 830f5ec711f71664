"""Allocation (DESIGN §6): exact batch order sourcing per wave, and the checks shared by its siblings.

Pre-positioning lives in `preposition` and network design in `network_design`; their public names
are also reachable from here (loaded on first use) so callers can import everything from one place.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.linear_solver import pywraplp

from twin.errors import TwinError

__all__ = ["AllocationError", "Order", "SourcingResult", "source_batch"]


class AllocationError(TwinError):
    """Bad input to an allocation solver, or a problem that cannot be satisfied as posed."""


# --- shared input checks (used by preposition and network_design too) -------------------------


def _where(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def as_array(
    field: str, value: npt.ArrayLike, shape: tuple[int | None, ...], dims: str
) -> np.ndarray:
    """`value` as a read-only float array of `shape` (None = any length), or raise naming `field`."""
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AllocationError(f"{field}: must be numbers ({exc})") from None
    if arr.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(arr.shape, shape, strict=True)
    ):
        raise AllocationError(f"{field}: shape {arr.shape} must be {dims}")
    bad = np.argwhere(np.isnan(arr))
    if bad.size:
        raise AllocationError(f"{field}{_where(tuple(bad[0]))} (=nan) must be a number")
    arr.flags.writeable = False
    return arr


def check_nonnegative(field: str, arr: np.ndarray, *, finite: bool = True) -> None:
    """Raise naming the first entry of `arr` that is negative (or infinite when `finite`)."""
    bad = np.argwhere((arr < 0) | (np.isinf(arr) if finite else False))
    if bad.size:
        index = tuple(bad[0])
        what = "must be >= 0" if arr[index] < 0 else "must be finite"
        raise AllocationError(f"{field}{_where(index)} (={arr[index]:g}) {what}")


def grid(field: str, value: npt.ArrayLike, n_rows: int, n_cols: int, vector: str) -> np.ndarray:
    """A scalar, a vector along one axis (`vector` = "rows" or "cols") or a full grid, as a grid."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AllocationError(f"{field}: must be numbers ({exc})") from None
    if arr.ndim == 0:
        arr = np.full((n_rows, n_cols), float(arr))
    elif arr.ndim == 1 and vector == "rows" and arr.shape == (n_rows,):
        arr = np.repeat(arr[:, None], n_cols, axis=1)
    elif arr.ndim == 1 and vector == "cols" and arr.shape == (n_cols,):
        arr = np.repeat(arr[None, :], n_rows, axis=0)
    length = n_rows if vector == "rows" else n_cols
    return as_array(field, arr, (n_rows, n_cols), f"(), ({length},) or ({n_rows}, {n_cols})")


def names(field: str, value: Sequence[str]) -> tuple[str, ...]:
    """`value` as a tuple of distinct names, or raise naming `field`."""
    out = tuple(value)
    seen: set[str] = set()
    for i, name in enumerate(out):
        if name in seen:
            raise AllocationError(f"{field}[{i}] (={name!r}) is a duplicate")
        seen.add(name)
    return out


def mip_solver(name: str, time_limit: float | None) -> pywraplp.Solver:
    """A fresh, quiet OR-Tools MPSolver backend (`GLOP` for LPs, `SCIP` for MIPs)."""
    solver = pywraplp.Solver.CreateSolver(name)
    if solver is None:  # pragma: no cover - every ortools wheel ships GLOP and SCIP
        raise AllocationError(f"OR-Tools was built without the {name} solver")
    if time_limit is not None:
        solver.SetTimeLimit(max(1, math.ceil(time_limit * 1000)))
    return solver


def solve(solver: pywraplp.Solver, gap: float | None) -> int:
    """Solve with a relative MIP gap (None leaves the backend default) and return the status."""
    params = pywraplp.MPSolverParameters()
    if gap is not None:
        params.SetDoubleParam(pywraplp.MPSolverParameters.RELATIVE_MIP_GAP, gap)
    return solver.Solve(params)


# --- batch order sourcing ----------------------------------------------------------------------

Order = tuple[Hashable, int, int] | tuple[Hashable, Sequence[tuple[int, int]]]
"""`(order id, sku index, quantity)` for one line, or `(order id, [(sku index, quantity), ...])`."""


@dataclass(frozen=True, eq=False)
class SourcingResult:
    """Which warehouse ships each order of a batch (None = left unserved), and what it costs."""

    assignment: dict[Hashable, str | None]
    total_cost: float
    serving_cost: float
    unserved_cost: float
    n_unserved: int
    remaining: np.ndarray
    """Stock (n_warehouses, n_skus) left after shipping the assigned orders."""
    optimal: bool
    solve_seconds: float


def _order_lines(orders: Sequence[Order], n_skus: int) -> tuple[list[Hashable], np.ndarray]:
    """Order ids and a (n_orders, n_skus) quantity matrix, checking ids, skus and quantities."""
    ids: list[Hashable] = []
    qty = np.zeros((len(orders), n_skus))
    seen: set[Hashable] = set()
    for o, order in enumerate(orders):
        if len(order) == 3:
            oid, lines = order[0], [(order[1], order[2])]
        elif len(order) == 2:
            oid, lines = order[0], list(order[1])  # type: ignore[arg-type]
        else:
            raise AllocationError(f"orders[{o}]: must be (id, sku, quantity) or (id, lines)")
        if oid in seen:
            raise AllocationError(f"orders[{o}]: id {oid!r} is a duplicate")
        seen.add(oid)
        ids.append(oid)
        if not lines:
            raise AllocationError(f"orders[{o}] (id={oid!r}): has no lines")
        for sku, q in lines:
            if not (isinstance(sku, int | np.integer) and 0 <= sku < n_skus):
                raise AllocationError(
                    f"orders[{o}] (id={oid!r}): sku index (={sku!r}) must be in 0..{n_skus - 1}"
                )
            if not (isinstance(q, int | np.integer) and q > 0):
                raise AllocationError(
                    f"orders[{o}] (id={oid!r}): quantity (={q!r}) must be an integer > 0"
                )
            qty[o, sku] += q
    return ids, qty


def source_batch(
    orders: Sequence[Order],
    warehouses: Sequence[str],
    stock: npt.ArrayLike,
    cost: npt.ArrayLike,
    eligible: npt.ArrayLike | None = None,
    *,
    unserved_cost: float | npt.ArrayLike | None = None,
    time_limit: float | None = None,
) -> SourcingResult:
    """Ship each order whole from one warehouse, within stock, at least total cost (exactly).

    `stock[w, k]` units on hand; `cost[o, w]` the cost of serving order `o` from `w` (np.inf, or
    False in the `eligible` mask, forbids it). Orders may have several lines; each is served whole
    or not at all. `unserved_cost` (scalar or per order) is the penalty for leaving an order
    unserved; None means every order must be served, and an AllocationError says why when that is
    impossible.

    Solver: SCIP through pywraplp with a zero optimality gap. Unsplittable orders with general
    quantities make this a multiple-knapsack problem, so a min-cost flow (exact only for unit
    quantities) would be a relaxation, and CP-SAT would need the float costs scaled to integers;
    a 0-1 MIP is exact on both counts and fast for wave-sized batches (hundreds of orders).
    """
    started = time.perf_counter()
    wh = names("warehouses", warehouses)
    n_w = len(wh)
    stock_arr = as_array("stock", stock, (n_w, None), f"(n_warehouses={n_w}, n_skus)")
    check_nonnegative("stock", stock_arr)
    n_k = stock_arr.shape[1]
    ids, qty = _order_lines(orders, n_k)
    n_o = len(ids)
    if n_o == 0:
        return SourcingResult({}, 0.0, 0.0, 0.0, 0, stock_arr, True, time.perf_counter() - started)
    dims = f"(n_orders={n_o}, n_warehouses={n_w})"
    cost_arr = as_array("cost", cost, (n_o, n_w), dims)
    check_nonnegative("cost", cost_arr, finite=False)
    allowed = np.isfinite(cost_arr)
    if eligible is not None:
        mask = np.asarray(eligible)
        if mask.shape != (n_o, n_w) or mask.dtype != bool:
            raise AllocationError(
                f"eligible: must be a bool array of shape {dims}, got {mask.shape}"
            )
        allowed &= mask
    if unserved_cost is None:
        penalty = None
    else:
        value = np.full(n_o, unserved_cost) if np.ndim(unserved_cost) == 0 else unserved_cost
        penalty = as_array("unserved_cost", value, (n_o,), f"() or (n_orders={n_o},)")
        check_nonnegative("unserved_cost", penalty)
    # a warehouse that cannot cover every line of an order can never serve it
    allowed &= (qty[:, None, :] <= stock_arr[None, :, :]).all(axis=2)
    if penalty is None:
        for o in np.flatnonzero(~allowed.any(axis=1)):
            raise AllocationError(
                f"orders[{o}] (id={ids[o]!r}): no eligible warehouse has stock for every line, "
                "and unserved_cost is None (every order must be served)"
            )

    solver = mip_solver("SCIP", time_limit)
    pairs = [(o, w) for o in range(n_o) for w in range(n_w) if allowed[o, w]]
    pick = {(o, w): solver.BoolVar("") for o, w in pairs}
    objective = solver.Objective()
    for (o, w), var in pick.items():
        objective.SetCoefficient(
            var, float(cost_arr[o, w]) - (0.0 if penalty is None else penalty[o])
        )
    if penalty is not None:
        objective.SetOffset(float(penalty.sum()))
    for o in range(n_o):
        ct = solver.Constraint(0.0 if penalty is not None else 1.0, 1.0)
        for w in range(n_w):
            if allowed[o, w]:
                ct.SetCoefficient(pick[o, w], 1.0)
    for w in range(n_w):
        for k in range(n_k):
            users = [o for o in range(n_o) if allowed[o, w] and qty[o, k] > 0]
            if sum(qty[o, k] for o in users) > stock_arr[w, k]:
                ct = solver.Constraint(0.0, float(stock_arr[w, k]))
                for o in users:
                    ct.SetCoefficient(pick[o, w], float(qty[o, k]))
    objective.SetMinimization()
    status = solve(solver, gap=0.0)
    if status == pywraplp.Solver.INFEASIBLE:
        raise AllocationError(
            f"no assignment serves all {n_o} orders within stock, and unserved_cost is None; "
            "pass unserved_cost to allow unserved orders"
        )
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise AllocationError(f"SCIP stopped without an assignment (status {status})")

    assignment: dict[Hashable, str | None] = dict.fromkeys(ids)
    remaining = np.array(stock_arr)
    serving = 0.0
    for (o, w), var in pick.items():
        if var.solution_value() > 0.5:
            assignment[ids[o]] = wh[w]
            remaining[w] -= qty[o]
            serving += float(cost_arr[o, w])
    unserved = [o for o in range(n_o) if assignment[ids[o]] is None]
    penalty_total = 0.0 if penalty is None else float(sum(penalty[o] for o in unserved))
    remaining.flags.writeable = False
    return SourcingResult(
        assignment=assignment,
        total_cost=serving + penalty_total,
        serving_cost=serving,
        unserved_cost=penalty_total,
        n_unserved=len(unserved),
        remaining=remaining,
        optimal=status == pywraplp.Solver.OPTIMAL,
        solve_seconds=time.perf_counter() - started,
    )


_SIBLINGS = {
    "PrepositionProblem": "preposition",
    "PrepositionPlan": "preposition",
    "solve_preposition": "preposition",
    "expected_cost": "preposition",
    "NetworkDesign": "network_design",
    "design_network": "network_design",
}


def __getattr__(name: str) -> object:
    """Load the pre-positioning and network-design names from their own modules on first use."""
    module = _SIBLINGS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"twin.optimize.{module}"), name)
