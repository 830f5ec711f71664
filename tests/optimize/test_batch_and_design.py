"""Batch order sourcing and network design against exhaustive enumeration on small random cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from twin.optimize.allocation import AllocationError, source_batch
from twin.optimize.network_design import design_network

WAREHOUSES = ("c", "n", "s")


def brute_sourcing(qty: np.ndarray, stock: np.ndarray, cost: np.ndarray, penalty: float) -> float:
    best = np.inf
    n_o, n_w = cost.shape
    for choice in itertools.product([None, *range(n_w)], repeat=n_o):
        used = np.zeros_like(stock)
        total = 0.0
        for o, w in enumerate(choice):
            if w is None:
                total += penalty
            elif np.isfinite(cost[o, w]):
                used[w] += qty[o]
                total += cost[o, w]
            else:
                total = np.inf
        if np.all(used <= stock):
            best = min(best, total)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_batch_sourcing_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_o, n_k = 7, 2
    skus = rng.integers(0, n_k, n_o)
    units = rng.integers(1, 5, n_o)
    qty = np.zeros((n_o, n_k))
    qty[np.arange(n_o), skus] = units
    stock = rng.integers(0, 9, (len(WAREHOUSES), n_k)).astype(float)
    cost = rng.uniform(1, 10, (n_o, len(WAREHOUSES)))
    cost[rng.random(cost.shape) < 0.15] = np.inf  # some pairs not allowed
    orders = [(f"o{o}", int(skus[o]), int(units[o])) for o in range(n_o)]
    result = source_batch(orders, WAREHOUSES, stock, cost, unserved_cost=12.0)
    assert result.total_cost == pytest.approx(brute_sourcing(qty, stock, cost, 12.0), abs=1e-6)
    shipped = np.zeros_like(stock)
    for o, (oid, k, q) in enumerate(orders):
        w = result.assignment[oid]
        if w is not None:
            shipped[WAREHOUSES.index(w), k] += q
            assert np.isfinite(cost[o, WAREHOUSES.index(w)])
    assert np.all(shipped <= stock)
    assert np.array_equal(result.remaining, stock - shipped)


def test_batch_sourcing_says_when_every_order_cannot_be_served() -> None:
    with pytest.raises(AllocationError, match=r"orders\[0\] \(id='a'\): no eligible warehouse"):
        source_batch([("a", 0, 5)], WAREHOUSES, np.zeros((3, 1)), np.ones((1, 3)))


def transport(
    demand: np.ndarray, cost: np.ndarray, capacity: np.ndarray, open_: tuple[int, ...]
) -> float:
    """Least variable cost of meeting demand from the open warehouses (an LP), inf if infeasible."""
    n_r = len(demand)
    ws = list(open_)
    c = np.array([cost[r, w] for r in range(n_r) for w in ws])
    if not np.all(np.isfinite(c)):
        c = np.where(np.isfinite(c), c, 1e9)
    a_eq = np.zeros((n_r, n_r * len(ws)))
    for r in range(n_r):
        a_eq[r, r * len(ws) : (r + 1) * len(ws)] = 1
    a_ub = np.zeros((len(ws), n_r * len(ws)))
    for j in range(len(ws)):
        a_ub[j, j :: len(ws)] = 1
    res = linprog(c, A_ub=a_ub, b_ub=capacity[ws], A_eq=a_eq, b_eq=demand, method="highs")
    if res.status != 0 or res.fun >= 1e8:
        return np.inf
    return float(res.fun)


@pytest.mark.parametrize("seed", range(6))
def test_network_design_matches_enumeration(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n_w, n_r = 5, 4
    candidates = [f"w{w}" for w in range(n_w)]
    regions = [f"r{r}" for r in range(n_r)]
    demand = rng.integers(10, 60, n_r).astype(float)
    cost = rng.uniform(1, 8, (n_r, n_w))
    fixed = rng.uniform(20, 200, n_w)
    capacity = rng.integers(40, 120, n_w).astype(float)
    max_open = 3 if seed % 2 else None
    must = ("w0",) if seed % 3 == 0 else ()
    design = design_network(
        candidates, regions, demand, cost, fixed, capacity, must_open=must, max_open=max_open
    )
    best = np.inf
    for size in range(1, n_w + 1):
        for open_ in itertools.combinations(range(n_w), size):
            if max_open is not None and size > max_open:
                continue
            if must and 0 not in open_:
                continue
            best = min(best, fixed[list(open_)].sum() + transport(demand, cost, capacity, open_))
    assert design.total_cost == pytest.approx(best, rel=1e-6)
    assert design.optimal
    assert set(must) <= set(design.opened)
    assert max_open is None or len(design.opened) <= max_open
    served = {r: sum(v for (rr, _), v in design.flows.items() if rr == r) for r in regions}
    assert served == pytest.approx(dict(zip(regions, demand, strict=True)))


def test_network_design_explains_an_impossible_case() -> None:
    with pytest.raises(AllocationError, match="no design meets all demand"):
        design_network(["a"], ["r"], [100.0], [[1.0]], [5.0], [50.0])
