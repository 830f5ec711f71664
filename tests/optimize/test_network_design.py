"""Network design against exhaustive enumeration of open sets, and its input errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from twin.optimize.allocation import AllocationError
from twin.optimize.network_design import design_network


def random_instance(seed: int):
    rng = np.random.default_rng(seed)
    n_w, n_r = int(rng.integers(3, 7)), int(rng.integers(2, 5))
    candidates = tuple(f"w{i}" for i in range(n_w))
    regions = tuple(f"r{i}" for i in range(n_r))
    demand = rng.integers(1, 11, size=n_r).astype(float)
    cost = rng.uniform(1.0, 10.0, size=(n_r, n_w))
    cost[rng.random((n_r, n_w)) < 0.2] = np.inf
    cost[np.arange(n_r), rng.integers(n_w, size=n_r)] = rng.uniform(5, 15, n_r)  # one route each
    fixed = rng.uniform(5.0, 40.0, size=n_w)
    capacity = np.where(rng.random(n_w) < 0.3, np.inf, rng.uniform(5.0, 25.0, size=n_w))
    must_open = tuple(
        str(m) for m in rng.choice(candidates, int(rng.integers(0, 2)), replace=False)
    )
    max_open = None if rng.random() < 0.4 else int(rng.integers(max(len(must_open), 1), n_w + 1))
    return candidates, regions, demand, cost, fixed, capacity, must_open, max_open


def transport_cost(demand, cost, capacity, subset) -> float:
    """Cheapest fractional flow from the open `subset` (an LP, solved by scipy's HiGHS)."""
    n_r = len(demand)
    cols = [(r, w) for r in range(n_r) for w in subset if np.isfinite(cost[r, w])]
    if not cols:
        return np.inf
    c = np.array([cost[r, w] for r, w in cols])
    a_eq = np.array([[1.0 if r == rr else 0.0 for rr, _ in cols] for r in range(n_r)])
    caps = [w for w in subset if np.isfinite(capacity[w])]
    a_ub = np.array([[1.0 if w == ww else 0.0 for _, ww in cols] for w in caps]).reshape(
        -1, len(cols)
    )
    res = linprog(
        c,
        A_ub=a_ub if caps else None,
        b_ub=capacity[caps] if caps else None,
        A_eq=a_eq,
        b_eq=demand,
        method="highs",
    )
    return float(res.fun) if res.status == 0 else np.inf


def enumerate_fractional(candidates, demand, cost, fixed, capacity, must_open, max_open) -> float:
    n_w = len(candidates)
    forced = {candidates.index(m) for m in must_open}
    best = np.inf
    for size in range(n_w + 1):
        if max_open is not None and size > max_open:
            break
        for subset in itertools.combinations(range(n_w), size):
            if forced <= set(subset):
                total = fixed[list(subset)].sum() + transport_cost(demand, cost, capacity, subset)
                best = min(best, total)
    return best


def enumerate_single(candidates, demand, cost, fixed, capacity, must_open, max_open) -> float:
    n_w, n_r = len(candidates), len(demand)
    forced = {candidates.index(m) for m in must_open}
    best = np.inf
    for choice in itertools.product(range(n_w), repeat=n_r):
        load = np.zeros(n_w)
        np.add.at(load, list(choice), demand)
        opened = forced | set(choice)
        if (load > capacity).any() or (max_open is not None and len(opened) > max_open):
            continue
        total = fixed[list(opened)].sum() + sum(
            cost[r, w] * demand[r] for r, w in enumerate(choice)
        )
        best = min(best, total)
    return best


def check_design(design, candidates, regions, demand, cost, fixed, capacity, must_open, max_open):
    assert set(must_open) <= set(design.opened)
    if max_open is not None:
        assert len(design.opened) <= max_open
    assert design.fixed_cost == pytest.approx(
        sum(fixed[candidates.index(w)] for w in design.opened)
    )
    served = dict.fromkeys(regions, 0.0)
    load = dict.fromkeys(candidates, 0.0)
    variable = 0.0
    for (r, w), units in design.flows.items():
        assert w in design.opened, f"flow from unopened {w}"
        assert np.isfinite(cost[regions.index(r), candidates.index(w)]), "flow on a forbidden pair"
        served[r] += units
        load[w] += units
        variable += units * cost[regions.index(r), candidates.index(w)]
    np.testing.assert_allclose([served[r] for r in regions], demand, atol=1e-6)
    assert all(load[w] <= capacity[candidates.index(w)] + 1e-6 for w in candidates)
    assert design.variable_cost == pytest.approx(variable)
    assert design.total_cost == pytest.approx(design.fixed_cost + design.variable_cost)


@pytest.mark.parametrize("seed", range(12))
def test_design_matches_enumeration_fractional(seed: int) -> None:
    inst = random_instance(seed)
    best = enumerate_fractional(inst[0], *inst[2:])
    if not np.isfinite(best):
        with pytest.raises(AllocationError, match="no design meets all demand"):
            design_network(*inst)
        return
    design = design_network(*inst)
    assert design.optimal
    assert design.total_cost == pytest.approx(best, rel=1e-6)
    assert design.bound <= design.total_cost + 1e-6
    check_design(design, *inst)


@pytest.mark.parametrize("seed", range(12))
def test_design_matches_enumeration_single_sourcing(seed: int) -> None:
    inst = random_instance(1000 + seed)
    best = enumerate_single(inst[0], *inst[2:])
    if not np.isfinite(best):
        with pytest.raises(AllocationError, match="no design meets all demand"):
            design_network(*inst, single_sourcing=True)
        return
    design = design_network(*inst, single_sourcing=True)
    assert design.total_cost == pytest.approx(best, rel=1e-6)
    check_design(design, *inst)
    assert len({r for r, _ in design.flows}) == len(design.flows), "a region is split"


def test_enough_instances_are_feasible() -> None:
    feasible = 0
    for seed in range(12):
        inst = random_instance(seed)
        feasible += np.isfinite(enumerate_fractional(inst[0], *inst[2:]))
    assert feasible >= 8


def test_must_open_and_max_open_change_the_answer() -> None:
    # two regions each next to their own warehouse; a third, pricey warehouse nobody needs
    args = (
        ("a", "b", "c"),
        ("ra", "rb"),
        [10.0, 10.0],
        [[1.0, 5.0, 3.0], [5.0, 1.0, 3.0]],
        [10.0, 10.0, 8.0],
        [np.inf, np.inf, np.inf],
    )
    assert design_network(*args).opened == ("a", "b")
    assert design_network(*args, must_open=("c",)).opened == ("a", "b", "c")
    only_one = design_network(*args, max_open=1)
    assert only_one.opened == ("c",)  # 8 + 60 beats 10 + 10 + 50 with a or b alone
    assert only_one.total_cost == pytest.approx(68.0)
    with pytest.raises(AllocationError, match="no design meets all demand"):
        design_network(*args[:5], [5.0, 5.0, 5.0], max_open=1)


GOOD = {
    "candidates": ("a", "b"),
    "regions": ("r1", "r2"),
    "demand": [1.0, 2.0],
    "cost": [[1.0, 2.0], [2.0, 1.0]],
    "fixed": [1.0, 1.0],
    "capacity": [5.0, 5.0],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"demand": [1.0, -2.0]}, r"demand\[1\] \(=-2\) must be >= 0"),
        ({"demand": [1.0]}, r"demand: shape \(1,\) must be \(n_regions=2,\)"),
        ({"cost": [[1.0, 2.0]]}, r"cost: shape \(1, 2\) must be \(n_regions=2, n_candidates=2\)"),
        ({"fixed": [1.0, np.inf]}, r"fixed\[1\] \(=inf\) must be finite"),
        ({"capacity": [-1.0, 5.0]}, r"capacity\[0\] \(=-1\) must be >= 0"),
        ({"candidates": ("a", "a")}, r"candidates\[1\] \(='a'\) is a duplicate"),
        ({"must_open": ("z",)}, r"must_open\[0\] \(='z'\) is not one of the candidates"),
        ({"must_open": ("a", "b"), "max_open": 1}, r"max_open \(=1\) must be an integer >= len"),
        ({"cost": [[1.0, 2.0], [np.inf, np.inf]]}, r"cost\[1, :\]: region 'r2' has demand but no"),
        ({"capacity": [1.0, 1.0]}, r"no design meets all demand \(total 3\)"),
    ],
)
def test_design_bad_input_names_the_field(change: dict, message: str) -> None:
    with pytest.raises(AllocationError, match=message):
        design_network(**{**GOOD, **change})
