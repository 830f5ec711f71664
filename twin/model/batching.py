"""Batch order sourcing in the model: a region's orders are held, then assigned together at least cost.

A `BatchSourcing` decision (see `twin.state`) puts a region's orders on hold until their batch
closes, at the next multiple of the rule's `every` hours. The world then hands every order of
every batch closing at that moment to `assign`, which chooses a warehouse for each (or none) with
`twin.optimize.allocation.source_batch`, an exact 0-1 MIP; the world ships the chosen ones and
sends the rest down the per-order path. Only regions under such a rule pay for any of this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin.optimize.allocation import AllocationError, source_batch

Items = list[tuple[int, int]]
"""(SKU index, units) lines of an order."""


@dataclass(frozen=True, slots=True)
class BatchRule:
    """A `BatchSourcing` decision resolved to the world's warehouse indices."""

    every: float
    warehouses: tuple[int, ...]
    cost_per_order: tuple[float, ...]
    cost_per_unit: tuple[float, ...]
    hours: tuple[float, ...]
    unserved_penalty: float
    late_cost: float
    time_limit: float


@dataclass(frozen=True, slots=True)
class Held:
    """An order waiting for its batch: its index, lines, promise and the rule it arrived under."""

    order: int
    lines: Items
    promised: float
    rule: BatchRule


@dataclass(slots=True)
class BatchStats:
    """What batch sourcing did in a run (for tests and benchmarks; not a KPI)."""

    batches: int = 0
    orders: int = 0
    solved: int = 0
    """Batches that needed the MIP (the cheapest choice of each order did not fit the stock)."""
    unserved: int = 0
    """Orders a batch left to the per-order path."""
    seconds: float = 0.0
    """Solver wall-clock seconds."""
    timed_out: int = 0
    """Batches whose MIP hit `time_limit` unproven, left whole to the per-order path."""


def closes_at(t: float, every: float) -> float:
    """When the batch an order arriving at `t` joins closes: the first multiple of `every` after t."""
    return (math.floor(t / every) + 1) * every


def assign(
    held: Sequence[Held],
    stock: Sequence[Sequence[int]],
    is_open: Sequence[bool],
    queue: Sequence[float],
    now: float,
    names: Sequence[str],
    stats: BatchStats | None = None,
) -> list[int | None]:
    """The warehouse (index) that ships each held order whole, or None to leave it unserved.

    `stock[w][k]` is what warehouse w may ship of SKU k now, `queue[w]` the hours an order would
    queue for pick/pack there, `names` the warehouses' ids. An order may go to an open warehouse of
    its rule that holds all its lines; serving it costs the option's per-order and per-unit cost
    plus `late_cost` per hour its expected delivery (now + queue + the option's hours) falls after
    its promise, and leaving it costs `unserved_penalty` per unit. When each order's cheapest
    choice fits the stock together, that is the optimum and no solver runs; otherwise
    `source_batch` finds the least-cost assignment. If the solver fails, every order is left.
    """
    stats = stats if stats is not None else BatchStats()
    stats.batches += 1
    stats.orders += len(held)
    costs: list[dict[int, float]] = []
    penalty: list[float] = []
    best: list[int | None] = []
    for h in held:
        need: dict[int, int] = {}
        for k, q in h.lines:
            need[k] = need.get(k, 0) + q
        units = sum(need.values())
        rule = h.rule
        options: dict[int, float] = {}
        for j, w in enumerate(rule.warehouses):
            if not is_open[w] or any(stock[w][k] < q for k, q in need.items()):
                continue
            late = now + queue[w] + rule.hours[j] - h.promised
            options[w] = (
                rule.cost_per_order[j]
                + units * rule.cost_per_unit[j]
                + (rule.late_cost * late if late > 0.0 else 0.0)
            )
        costs.append(options)
        penalty.append(rule.unserved_penalty * units)
        cheapest = min(options, key=options.__getitem__, default=None)  # ties: the rule's order
        best.append(cheapest if cheapest is not None and options[cheapest] <= penalty[-1] else None)
    if _fits(held, best, stock):
        stats.unserved += best.count(None)
        return best
    choice = _solve(held, costs, penalty, stock, names, stats)
    stats.unserved += choice.count(None)
    return choice


def _fits(
    held: Sequence[Held], choice: Sequence[int | None], stock: Sequence[Sequence[int]]
) -> bool:
    """Whether the chosen warehouses hold enough for all the orders sent to them."""
    used: dict[tuple[int, int], int] = {}
    for h, w in zip(held, choice, strict=True):
        if w is not None:
            for k, q in h.lines:
                used[w, k] = used.get((w, k), 0) + q
    return all(stock[w][k] >= q for (w, k), q in used.items())


def _solve(
    held: Sequence[Held],
    costs: list[dict[int, float]],
    penalty: list[float],
    stock: Sequence[Sequence[int]],
    names: Sequence[str],
    stats: BatchStats,
) -> list[int | None]:
    """The least-cost assignment by `source_batch`, over the warehouses some order may use."""
    used = sorted({w for options in costs for w in options})
    column = {w: c for c, w in enumerate(used)}
    cost = np.full((len(held), len(used)), np.inf)
    for o, options in enumerate(costs):
        for w, c in options.items():
            cost[o, column[w]] = c
    orders = [(o, h.lines) for o, h in enumerate(held)]
    limit = min(h.rule.time_limit for h in held)
    stats.solved += 1
    try:
        result = source_batch(
            orders,
            [names[w] for w in used],
            np.array([stock[w] for w in used], dtype=float),
            cost,
            unserved_cost=np.array(penalty),
            time_limit=limit,
        )
    except AllocationError:
        return [None] * len(held)
    stats.seconds += result.solve_seconds
    if not result.optimal:
        # stopped by its wall-clock limit: what it holds then depends on the machine's load, so
        # the batch goes to the per-order path instead (a replication depends on its seed only)
        stats.timed_out += 1
        return [None] * len(held)
    index = {names[w]: w for w in used}
    return [None if (wid := result.assignment[o]) is None else index[wid] for o in range(len(held))]
