"""Carriers: scheduled line-haul lanes, last-mile delivery waves and the choice between carriers.

A `ScheduledLane` holds what is sent on a dock until the next departure (at `first + k * every`),
which loads FCFS up to its capacity and carries the rest over. It is event-driven but lazy: a
departure is put on the SimPy queue only while something waits on the dock, so an idle lane costs
nothing. `Waves` gives each last-mile order a slot in the first wave with room, arithmetically,
without SimPy events. `choose_carrier` is the pure rule that picks a carrier for a promise.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import simpy
from simpy.events import Event, Timeout

from twin.config.transport import DepartureSpec, WaveSpec
from twin.distributions import DrawBuffer
from twin.errors import ModelError

Items = list[tuple[int, int]]
"""(SKU index, units) pairs."""

_EPS = 1e-9
"""Slack (in periods, or units) against float rounding when mapping times and capacities."""


def first_index_at_or_after(t: float, first: float, every: float) -> int:
    """Index k of the first periodic time `first + k * every` at or after `t` (k >= 0)."""
    if t <= first:
        return 0
    # a time that is a period boundary up to rounding counts as that boundary
    return math.ceil((t - first) / every - _EPS)


class _Cuts:
    """Capacity cuts as (start, end, severity) windows; the most severe cut covering t applies."""

    __slots__ = ("windows",)

    def __init__(self) -> None:
        self.windows: list[tuple[float, float, float]] = []

    def add(self, start: float, duration: float, severity: float) -> None:
        """Record a cut of capacity by `severity` over [start, start + duration)."""
        if not 0.0 <= severity <= 1.0:
            raise ModelError(f"capacity cut severity (={severity!r}) must be in [0, 1]")
        if not duration >= 0.0:
            raise ModelError(f"capacity cut duration (={duration!r}) must be >= 0")
        if severity > 0.0 and duration > 0.0:
            self.windows.append((start, start + duration, severity))

    def capacity(self, base: int | None, t: float) -> int | None:
        """`base` at time t after the most severe cut; None (unlimited) stays so unless cut to 0."""
        severity = 0.0
        for start, end, s in self.windows:
            if start <= t < end and s > severity:
                severity = s
        if severity == 0.0:
            return base
        if base is None:
            return 0 if severity >= 1.0 else None
        return math.floor(base * (1.0 - severity) + _EPS)


class ScheduledLane:
    """A line-haul lane with scheduled departures of limited capacity; what doesn't fit waits.

    Conservation per SKU at any moment: `sent == on_dock + in_transit + arrived`. A departure at or
    after `horizon` never leaves (its load stays on the dock), and a load whose arrival falls at or
    after `horizon` stays in transit, as `World.at` drops events past the horizon.
    """

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        spec: DepartureSpec,
        transit: DrawBuffer,
        cost_per_shipment: float,
        cost_per_unit: float,
        horizon: float,
        arrive: Callable[[Items], None],
        n_skus: int,
    ) -> None:
        self.env = env
        self.name = name
        self.every = spec.every
        self.configured_every = spec.every
        self.first = spec.first
        self.capacity = spec.capacity
        self.transit = transit
        self.cost_per_shipment = cost_per_shipment
        self.cost_per_unit = cost_per_unit
        self.horizon = horizon
        self._on_arrive = arrive
        self.cost = 0.0
        """Transport cost booked so far: one shipment cost per departure that loaded anything."""
        self.shipments = 0
        self.sent = [0] * n_skus
        self.on_dock = [0] * n_skus
        self.in_transit = [0] * n_skus
        self.arrived = [0] * n_skus
        self.departures_log: list[tuple[float, int | None, int]] = []
        """(time, capacity or None if unlimited, units loaded) of every departure that left."""
        self._dock: deque[list[int]] = deque()
        self._cuts = _Cuts()
        self._pending: int | None = None
        """Index of the departure on the SimPy queue, if any (at most one at a time)."""
        self._next = 0
        """The lowest departure index that has not left yet."""

    # -- schedule ------------------------------------------------------------------------------

    def departure_time(self, index: int) -> float:
        """Time of the departure with this index."""
        return self.first + index * self.every

    def next_departure(self, t: float) -> float:
        """Time of the first departure at or after `t` that has not left yet."""
        return self.departure_time(
            max(self._next, first_index_at_or_after(t, self.first, self.every))
        )

    def capacity_at(self, t: float) -> int | None:
        """Capacity of a departure at time t after cuts (None is unlimited)."""
        return self._cuts.capacity(self.capacity, t)

    def cut(self, start: float, duration: float, severity: float) -> None:
        """Cut capacity to floor(capacity·(1 − severity)) for departures in [start, start + duration)."""
        self._cuts.add(start, duration, severity)

    @property
    def dock_units(self) -> int:
        """Units waiting on the dock, all SKUs."""
        return sum(self.on_dock)

    # -- flow ----------------------------------------------------------------------------------

    def send(self, items: Items) -> None:
        """Put (SKU, units) on the dock now, behind what already waits (FCFS)."""
        dock, on_dock, sent = self._dock, self.on_dock, self.sent
        for k, q in items:
            if q < 0:
                raise ModelError(f"lane {self.name}: units sent (={q}) must be >= 0")
            if q:
                dock.append([k, q])
                on_dock[k] += q
                sent[k] += q
        if dock and self._pending is None:
            self._schedule(
                max(self._next, first_index_at_or_after(self.env.now, self.first, self.every))
            )

    def _schedule(self, index: int) -> None:
        """Put departure `index` on the SimPy queue unless it is past the horizon."""
        t = self.first + index * self.every
        if t >= self.horizon:
            return
        self._pending = index
        ev = Timeout(self.env, max(0.0, t - self.env.now))
        ev.callbacks.append(self._depart)

    def _depart(self, _ev: Event) -> None:
        """Load FCFS up to this departure's capacity, book its cost and send it on its way."""
        index = self._pending
        assert index is not None
        self._pending = None
        self._next = index + 1
        t = self.first + index * self.every
        cap = self._cuts.capacity(self.capacity, t)
        dock, on_dock, in_transit = self._dock, self.on_dock, self.in_transit
        loaded: Items = []
        units = 0
        while dock and (cap is None or units < cap):
            item = dock[0]
            k, q = item
            take = q if cap is None else min(q, cap - units)
            if take == q:
                dock.popleft()
            else:
                item[1] = q - take
            loaded.append((k, take))
            on_dock[k] -= take
            in_transit[k] += take
            units += take
        self.departures_log.append((t, cap, units))
        if units:
            self.cost += self.cost_per_shipment + units * self.cost_per_unit
            self.shipments += 1
            arrival = t + self.transit.next()
            if arrival < self.horizon:
                ev = Timeout(self.env, max(0.0, arrival - self.env.now))
                ev.callbacks.append(lambda _e: self._arrive(loaded))
        if dock:
            self._schedule(index + 1)

    def _arrive(self, items: Items) -> None:
        """Move a shipment from in transit to arrived and hand it to the destination."""
        in_transit, arrived = self.in_transit, self.arrived
        for k, q in items:
            in_transit[k] -= q
            arrived[k] += q
        self._on_arrive(items)


class Waves:
    """Last-mile delivery waves with limited orders per wave; pure arithmetic, no SimPy events.

    Full waves are skipped with a union-find over wave indices (path compression), so `assign` is
    O(1) amortised whatever the order in which orders are offered. Waves go on past the horizon
    with the same capacity, so an order late in the run still gets an honest departure time.
    """

    def __init__(self, spec: WaveSpec, horizon: float) -> None:
        self.every = spec.every
        self.configured_every = spec.every
        self.first = spec.first
        self.capacity = spec.capacity
        self.horizon = horizon
        self.cost_per_wave = spec.cost_per_wave
        self._used: dict[int, int] = {}
        self._skip: dict[int, int] = {}
        """Full wave index -> a later index to try next."""
        self._cuts = _Cuts()
        self.launched: list[float] = []
        """Departure time of every wave that carries at least one order, in order of first use."""
        self._orders_at: dict[float, int] = {}
        """Wave time -> orders on it: survives `set_every` re-indexing."""

    def wave_time(self, index: int) -> float:
        """Departure time of the wave with this index."""
        return self.first + index * self.every

    def after(self, t: float) -> float:
        """Time of the first wave strictly after `t`, capacity aside: where a full wave's rest goes.

        A wave at `t` itself, up to rounding, is not after it.
        """
        n = first_index_at_or_after(t, self.first, self.every)
        if self.first + n * self.every <= t + _EPS * self.every:
            n += 1
        return self.first + n * self.every

    def capacity_at(self, t: float) -> int | None:
        """Orders a wave at time t can take after cuts (None is unlimited)."""
        return self._cuts.capacity(self.capacity, t)

    def cut(self, start: float, duration: float, severity: float) -> None:
        """Cut capacity to floor(capacity·(1 − severity)) for waves in [start, start + duration).

        Orders already assigned to a wave stay on it, even if it is now over its cut capacity.
        """
        self._cuts.add(start, duration, severity)

    def assign(self, ready: float) -> float:
        """Time of the first wave at or after `ready` with room; takes one slot of it."""
        used, skip, cuts, base = self._used, self._skip, self._cuts, self.capacity
        n = self._find(first_index_at_or_after(ready, self.first, self.every))
        while True:
            cap = cuts.capacity(base, self.first + n * self.every)
            count = used.get(n, 0)
            if cap is None or count < cap:
                break
            skip[n] = n + 1  # full (capacity only ever goes down, so for good)
            n = self._find(n + 1)
        count += 1
        used[n] = count
        t = self.first + n * self.every
        self._orders_at[t] = count
        if count == 1:
            self.launched.append(t)
        if cap is not None and count >= cap:
            skip[n] = n + 1
        return t

    def loads(self) -> list[tuple[float, int | None, int]]:
        """(time, capacity after cuts, orders) of every wave that carried orders, in time order."""
        base, cuts = self.capacity, self._cuts
        return [(t, cuts.capacity(base, t), n) for t, n in sorted(self._orders_at.items())]

    def set_every(self, t: float, every: float | None) -> None:
        """From the first departure at or after `t` on, waves leave every `every` hours.

        None restores the configured interval.
        Orders already given a later wave keep it: that wave still leaves, and where it falls on
        the new schedule it keeps its count against capacity.
        """
        if every is None:
            every = self.configured_every
        if every == self.every:
            return
        n0 = first_index_at_or_after(t, self.first, self.every)
        first = self.first + n0 * self.every
        carried: dict[int, int] = {}
        for n, count in self._used.items():
            if n >= n0:
                m = (self.first + n * self.every - first) / every
                if abs(m - round(m)) < 1e-9:
                    carried[round(m)] = count
        self.first, self.every = first, every
        self._used, self._skip = carried, {}

    def _find(self, n: int) -> int:
        """The first wave index >= n not known to be full (with path compression)."""
        skip = self._skip
        root = n
        while root in skip:
            root = skip[root]
        while n != root:
            nxt = skip[n]
            skip[n] = root
            n = nxt
        return root

    def used(self, wave_time: float) -> int:
        """Orders assigned to the wave leaving at `wave_time`."""
        x = (wave_time - self.first) / self.every
        n = round(x)
        if n < 0 or abs(x - n) > 1e-6:
            raise ModelError(f"no wave leaves at t (={wave_time!r})")
        return self._used.get(n, 0)


class Carrier(Protocol):
    """What carrier choice needs to know of an option (the model's run-time lane is one)."""

    @property
    def name(self) -> str:
        """The carrier's name (the tie-break)."""
        ...

    @property
    def mean_transit(self) -> float:
        """Mean transit hours."""
        ...

    @property
    def cost(self) -> float:
        """Cost of one shipment of one unit."""
        ...


C = TypeVar("C", bound=Carrier)


def choose_carrier(options: Sequence[C], ready: float, promise: float) -> C:
    """The first option, in the given order of preference, arriving by `promise`; else the fastest.

    Ties among the fastest go to the cheaper, then by name. With options sorted cheapest first
    (ties by name) this is "the cheapest carrier that meets the promise", the model's default.
    """
    if not options:
        raise ModelError("choose_carrier needs at least one carrier option")
    for o in options:
        if ready + o.mean_transit <= promise:
            return o
    return min(options, key=lambda o: (o.mean_transit, o.cost, o.name))
