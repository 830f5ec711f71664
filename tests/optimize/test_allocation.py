"""Batch order sourcing against brute force, and the AllocationError messages for its inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from twin.errors import TwinError
from twin.optimize import allocation
from twin.optimize.allocation import AllocationError, source_batch

WAREHOUSES = ("central", "fwd_a", "fwd_b")


def random_batch(seed: int, n_orders: int, multi_line: bool):
    rng = np.random.default_rng(seed)
    n_w, n_k = len(WAREHOUSES), 3
    orders = []
    for o in range(n_orders):
        if multi_line and rng.random() < 0.5:
            skus = rng.choice(n_k, size=2, replace=False)
            orders.append((f"o{o}", [(int(k), int(rng.integers(1, 4))) for k in skus]))
        else:
            orders.append((f"o{o}", int(rng.integers(n_k)), int(rng.integers(1, 5))))
    stock = rng.integers(0, 7, size=(n_w, n_k)).astype(float)
    cost = rng.uniform(1.0, 10.0, size=(n_orders, n_w))
    cost[rng.random((n_orders, n_w)) < 0.15] = np.inf
    eligible = rng.random((n_orders, n_w)) < 0.85
    unserved = rng.uniform(4.0, 15.0, size=n_orders)
    return orders, stock, cost, eligible, unserved


def quantity_matrix(orders, n_k: int) -> np.ndarray:
    qty = np.zeros((len(orders), n_k))
    for o, order in enumerate(orders):
        lines = [(order[1], order[2])] if len(order) == 3 else order[1]
        for k, q in lines:
            qty[o, k] += q
    return qty


def brute_force(orders, stock, cost, eligible, unserved) -> float:
    """Cheapest cost over every assignment of orders to a warehouse or to nobody (index n_w)."""
    n_o, n_w = cost.shape
    qty = quantity_matrix(orders, stock.shape[1])
    table = np.where(eligible, cost, np.inf)
    options = n_w + (1 if unserved is not None else 0)
    if unserved is not None:
        table = np.hstack([table, unserved[:, None]])
    choice = np.array(list(itertools.product(range(options), repeat=n_o)))
    total = table[np.arange(n_o)[None, :], choice].sum(axis=1)
    for w in range(n_w):
        used = (choice == w).astype(float) @ qty  # (combos, n_skus)
        total[(used > stock[w][None, :]).any(axis=1)] = np.inf
    return float(total.min())


@pytest.mark.parametrize("seed", range(10))
def test_source_batch_matches_brute_force(seed: int) -> None:
    n_orders = 3 + seed % 5  # 3..7 orders
    orders, stock, cost, eligible, unserved = random_batch(seed, n_orders, multi_line=seed % 2 == 1)
    result = source_batch(orders, WAREHOUSES, stock, cost, eligible, unserved_cost=unserved)

    assert result.optimal
    assert result.total_cost == pytest.approx(
        brute_force(orders, stock, cost, eligible, unserved), abs=1e-9
    )
    # the reported cost is the cost of the reported assignment
    again = 0.0
    shipped = np.zeros_like(stock)
    qty = quantity_matrix(orders, stock.shape[1])
    for o, (oid, *_) in enumerate(orders):
        w_name = result.assignment[oid]
        if w_name is None:
            again += unserved[o]
            continue
        w = WAREHOUSES.index(w_name)
        assert eligible[o, w] and np.isfinite(cost[o, w]), "served from a forbidden warehouse"
        again += cost[o, w]
        shipped[w] += qty[o]
    assert again == pytest.approx(result.total_cost)
    assert (shipped <= stock).all(), "shipped more than the stock"
    np.testing.assert_allclose(result.remaining, stock - shipped)
    assert result.n_unserved == sum(v is None for v in result.assignment.values())


def test_source_batch_all_must_be_served_matches_brute_force() -> None:
    found = 0
    for seed in range(40):
        orders, stock, cost, eligible, _ = random_batch(100 + seed, 5, multi_line=False)
        best = brute_force(orders, stock, cost, eligible, None)
        if not np.isfinite(best):
            with pytest.raises(AllocationError, match="unserved_cost is None"):
                source_batch(orders, WAREHOUSES, stock, cost, eligible)
            continue
        found += 1
        result = source_batch(orders, WAREHOUSES, stock, cost, eligible)
        assert result.n_unserved == 0
        assert result.total_cost == pytest.approx(best)
    assert found >= 3, "too few feasible instances to test anything"


def test_unsplittable_orders_are_not_split() -> None:
    # 5 units wanted, 3 + 3 on hand in two places: a flow would split it, an order must not be
    result = source_batch(
        [("big", 0, 5), ("small", 0, 3)],
        ("a", "b"),
        stock=[[3.0], [3.0]],
        cost=[[1.0, 1.0], [1.0, 2.0]],
        unserved_cost=100.0,
    )
    assert result.assignment["big"] is None
    assert result.assignment["small"] == "a"
    assert result.total_cost == pytest.approx(101.0)


def test_empty_batch() -> None:
    result = source_batch([], ("a",), stock=[[2.0]], cost=np.zeros((0, 1)))
    assert result.assignment == {} and result.total_cost == 0.0


def test_sibling_names_are_reachable_from_allocation() -> None:
    from twin.optimize.network_design import design_network
    from twin.optimize.preposition import solve_preposition

    assert allocation.solve_preposition is solve_preposition
    assert allocation.design_network is design_network
    with pytest.raises(AttributeError):
        _ = allocation.no_such_name


def test_allocation_error_is_a_twin_error() -> None:
    assert issubclass(AllocationError, TwinError)


GOOD = {
    "orders": [("o1", 0, 1), ("o2", 1, 2)],
    "warehouses": ("a", "b"),
    "stock": [[1.0, 2.0], [0.0, 5.0]],
    "cost": [[1.0, 2.0], [1.0, 1.0]],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"orders": [("o1", 2, 1)]}, r"orders\[0\] \(id='o1'\): sku index \(=2\) must be in 0..1"),
        (
            {"orders": [("o1", 0, 0)]},
            r"orders\[0\] \(id='o1'\): quantity \(=0\) must be an integer",
        ),
        ({"orders": [("o1", 0, 1), ("o1", 1, 1)]}, r"orders\[1\]: id 'o1' is a duplicate"),
        ({"orders": [("o1", [])]}, r"orders\[0\] \(id='o1'\): has no lines"),
        ({"orders": [("o1",)]}, r"orders\[0\]: must be \(id, sku, quantity\) or \(id, lines\)"),
        ({"warehouses": ("a", "a")}, r"warehouses\[1\] \(='a'\) is a duplicate"),
        ({"stock": [[1.0, -2.0], [0.0, 5.0]]}, r"stock\[0, 1\] \(=-2\) must be >= 0"),
        ({"stock": [1.0, 2.0]}, r"stock: shape \(2,\) must be \(n_warehouses=2, n_skus\)"),
        ({"cost": [[1.0, 2.0]]}, r"cost: shape \(1, 2\) must be \(n_orders=2, n_warehouses=2\)"),
        ({"cost": [[1.0, np.nan], [1.0, 1.0]]}, r"cost\[0, 1\] \(=nan\) must be a number"),
        ({"cost": [[1.0, -1.0], [1.0, 1.0]]}, r"cost\[0, 1\] \(=-1\) must be >= 0"),
        ({"eligible": np.ones((2, 3), bool)}, r"eligible: must be a bool array of shape"),
        ({"unserved_cost": -1.0}, r"unserved_cost\[0\] \(=-1\) must be >= 0"),
        (
            {"unserved_cost": [1.0, 2.0, 3.0]},
            r"unserved_cost: shape \(3,\) must be \(\) or \(n_orders=2,\)",
        ),
        (
            {"orders": [("o1", 0, 2)], "cost": [[1.0, 1.0]]},
            r"orders\[0\] \(id='o1'\): no eligible warehouse has stock for every line",
        ),
        (
            {"orders": [("o1", 1, 2), ("o2", 1, 2)], "stock": [[1.0, 3.0], [0.0, 0.0]]},
            r"no assignment serves all 2 orders within stock",
        ),
    ],
)
def test_source_batch_bad_input_names_the_field(change: dict, message: str) -> None:
    kwargs = {**GOOD, **change}
    with pytest.raises(AllocationError, match=message):
        source_batch(**kwargs)
