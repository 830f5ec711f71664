"""Warehouses: stock by SKU, inbound, backorder queues, and an exact FCFS pick/pack queue.

Pick/pack is a multi-server first-come-first-served queue computed without a SimPy process per
order: a heap of the times each worker is next free. An order arriving at t starts at
max(t, earliest free time) on that worker. This is exact for FCFS when orders are offered in
time order, which the model guarantees.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

from twin.distributions import DrawBuffer


class PickPack:
    """`workers` parallel servers, FCFS; service times from a named stream."""

    __slots__ = ("_free", "_service", "busy", "closed_from", "closures", "horizon", "workers")

    def __init__(self, workers: int, service: DrawBuffer, horizon: float) -> None:
        self.closures: list[tuple[float, float]] = []
        """Windows [start, end) in which no service may start (a warehouse closure)."""
        self.closed_from = math.inf
        """No closure window starts before this time (a one-comparison check per order)."""
        self._free = [0.0] * workers
        self._service = service
        self.workers = workers
        self.horizon = horizon
        self.busy = 0.0
        """Worker-hours of service inside [0, horizon)."""

    def wait(self, t: float) -> float:
        """Hours an order arriving at `t` would queue before its pick/pack starts (closures aside)."""
        return max(0.0, self._free[0] - t)

    def busy_at(self, t: float) -> float:
        """Share of the servers busy at `t` (work already queued counts)."""
        return sum(1 for free in self._free if free > t) / self.workers

    def serve(self, t: float) -> float:
        """Queue an order arriving at `t`; return when its pick/pack is done."""
        start = heapq.heappop(self._free)
        if start < t:
            start = t
        if start >= self.closed_from:
            for begin, end in self.closures:
                if begin <= start < end:
                    start = end
        done = start + self._service.next()
        heapq.heappush(self._free, done)
        h = self.horizon
        self.busy += (done if done < h else h) - (start if start < h else h)
        return done


class Warehouse:
    """A central or forward warehouse: plain lists indexed by SKU, kept off pandas on the hot path."""

    __slots__ = (
        "_hold_rate",
        "_last_t",
        "backlog",
        "closed_from",
        "closures",
        "handling",
        "holding_by_day",
        "id",
        "inbound",
        "inbound_handling",
        "index",
        "inspect",
        "inspecting",
        "inspection_time",
        "pending",
        "pick_pack",
        "restock_fraction",
        "role",
        "stock",
        "transfer_backlog",
        "unit_hold_cost",
        "waiting",
    )

    def __init__(
        self,
        index: int,
        site_id: str,
        role: str,
        stock: list[int],
        unit_hold_cost: list[float],
        pick_pack: PickPack,
        inbound_handling: float,
        inspection_time: float,
        restock_fraction: float,
    ) -> None:
        n = len(stock)
        self.index = index
        self.id = site_id
        self.role = role
        self.stock = list(stock)
        self.inbound = [0] * n
        """Units decided for this warehouse and not yet put away."""
        self.backlog = [0] * n
        """Units of orders waiting here for stock."""
        self.waiting: list[deque[int]] = [deque() for _ in range(n)]
        """Order indices waiting here, FCFS, per SKU (cancelled ones are skipped lazily)."""
        self.pending: list[deque[list]] = [deque() for _ in range(n)]
        """Transfers asked of this warehouse and not yet shipped, per SKU: [time, destination, units]."""
        self.transfer_backlog = [0] * n
        """Units of `pending` transfers, per SKU."""
        self.handling = [0] * n
        """Units arrived and being put away (inbound handling)."""
        self.inspecting = [0] * n
        """Returned units under inspection."""
        self.pick_pack = pick_pack
        self.closures: list[tuple[float, float]] = []
        """Closure windows [start, end): no order is sourced here and no pick/pack starts."""
        self.closed_from = math.inf
        """The warehouse is open at any time before this (see `closed`)."""
        self.inspect: PickPack | None = None
        """Inspectors as an FCFS queue of returns; None for no limit."""
        self.inbound_handling = inbound_handling
        self.inspection_time = inspection_time
        self.restock_fraction = restock_fraction
        self.unit_hold_cost = unit_hold_cost
        self.holding_by_day = [0.0] * (int(pick_pack.horizon // 24.0) + 2)
        """Holding cost (units × hours × cost per unit-hour) by day, up to `_last_t`."""
        self._hold_rate = sum(q * c for q, c in zip(stock, unit_hold_cost, strict=True))
        self._last_t = 0.0

    def _accrue(self, t: float) -> None:
        last = self._last_t
        if t <= last:
            return
        rate, by_day = self._hold_rate, self.holding_by_day
        day = int(last // 24.0)
        while t > (day + 1) * 24.0:  # split the interval at midnights
            by_day[day] += rate * ((day + 1) * 24.0 - last)
            last = (day + 1) * 24.0
            day += 1
        by_day[day] += rate * (t - last)
        self._last_t = t

    def close_between(self, start: float, end: float) -> None:
        """Add a closure window [start, end) (before the run starts)."""
        self.closures.append((start, end))
        self.closed_from = min(self.closed_from, start)
        self.pick_pack.closures.append((start, end))
        self.pick_pack.closed_from = min(self.pick_pack.closed_from, start)

    def closed(self, t: float) -> bool:
        """Whether the warehouse is closed at `t`.

        Asked with non-decreasing times during a run; when the answer is no, `closed_from` moves
        to the next window's start, so until then the caller's check is one comparison.
        """
        if t < self.closed_from:
            return False
        for begin, end in self.closures:
            if begin <= t < end:
                return True
        self.closed_from = min((b for b, _ in self.closures if b > t), default=math.inf)
        return False

    def can_ship(self, sku: int, quantity: int) -> bool:
        """Whether `quantity` units can go now without jumping the queue of what already waits."""
        return self.stock[sku] >= quantity and not self.backlog[sku] and not self.pending[sku]

    def take(self, sku: int, quantity: int, t: float) -> None:
        """Remove units from stock at time `t` (the caller checked there are enough)."""
        self._accrue(t)
        self.stock[sku] -= quantity
        self._hold_rate -= quantity * self.unit_hold_cost[sku]

    def put(self, sku: int, quantity: int, t: float) -> None:
        """Add units to stock at time `t`."""
        self._accrue(t)
        self.stock[sku] += quantity
        self._hold_rate += quantity * self.unit_hold_cost[sku]

    def close(self, t: float) -> list[float]:
        """Accrue holding cost up to `t` (the horizon) and return it by day."""
        self._accrue(t)
        return self.holding_by_day
