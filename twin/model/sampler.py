"""Samples of a run's state on a fixed time grid: stock, backlog, inbound and resource load.

A planner's questions (where does stock run out, when, which resource saturates during a pulse)
need the state *through* the run, per SKU and site, for every replication, not one replication's
plot. The sampler reads the world's plain lists at the grid's times (hourly, every 15 minutes
around each livestream) into float32 arrays: a few hundred kilobytes per flagship replication,
cheap to ship back from a worker.

The grid depends only on the scenario (livestream starts are not random), so every replication
and every design of one scenario shares it and its samples line up for fan charts.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import simpy

    from twin.model.factory import Factory
    from twin.model.warehouse import Warehouse

MAKEABLE_CAP = 1.0e7
"""Units a SKU without components (no bill of materials) counts as makeable."""
FINE_STEP_H = 0.25
"""Sampling step through a pulse (hours)."""
FINE_BEFORE_H = 1.0
FINE_AFTER_H = 6.0
"""The fine grid runs from 1 h before a pulse starts to 6 h after it ends."""


def sample_grid(horizon: float, pulses: Sequence[tuple[float, float]]) -> np.ndarray:
    """Sample times in [0, horizon): every hour, and every 15 minutes around each (start, end)."""
    times = [np.arange(0.0, horizon, 1.0)]
    for start, end in pulses:
        lo = max(0.0, start - FINE_BEFORE_H)
        hi = min(horizon, end + FINE_AFTER_H)
        times.append(np.arange(lo, hi, FINE_STEP_H))
    grid = np.unique(np.round(np.concatenate(times), 9))
    return grid[grid < horizon]


@dataclass(frozen=True)
class Samples:
    """What the sampler saw, on `grid` (hours), as float32 arrays.

    - `on_hand`, `backlog`, `inbound`: [time, warehouse, SKU] units on the shelf, units of
      orders waiting at the warehouse, units decided for it and not yet put away;
    - `busy`: [resource, time] share of servers busy at the sample time (pick/pack and
      inspectors per warehouse) or, for factories, of regular line-hours worked in the interval
      up to the next sample, and of the elastic line's hours while it is switched on (0 while
      off); `resources` names each row (`pick_pack:<site>`, `inspection:<site>`,
      `factory:<site>`, `elastic:<site>`);
    - `queue_h`: [warehouse, time] hours an order arriving then would wait for pick/pack;
    - `makeable`, `to_make`: [time, SKU] units the factories' components allow (capped at
      `MAKEABLE_CAP`), and units ordered from the factories and not yet made.
    """

    grid: np.ndarray
    on_hand: np.ndarray
    backlog: np.ndarray
    inbound: np.ndarray
    resources: tuple[str, ...]
    busy: np.ndarray
    queue_h: np.ndarray
    makeable: np.ndarray
    to_make: np.ndarray


class Sampler:
    """Fills `Samples` from a running world's warehouses and factories."""

    def __init__(
        self, grid: np.ndarray, warehouses: list[Warehouse], factories: list[Factory], n_skus: int
    ) -> None:
        self.grid = grid
        self.warehouses = warehouses
        self.factories = factories
        t, w = len(grid), len(warehouses)
        self.on_hand = np.zeros((t, w, n_skus), np.float32)
        self.backlog = np.zeros((t, w, n_skus), np.float32)
        self.inbound = np.zeros((t, w, n_skus), np.float32)
        self.queue_h = np.zeros((w, t), np.float32)
        names = [f"pick_pack:{x.id}" for x in warehouses]
        names += [f"inspection:{x.id}" for x in warehouses if x.inspect is not None]
        names += [f"factory:{f.id}" for f in factories]
        names += [f"elastic:{f.id}" for f in factories if f.elastic_spec is not None]
        self.resources = tuple(names)
        self.busy = np.full((len(names), t), np.nan, np.float32)
        self._line_hours = np.zeros((len(factories), t), np.float64)
        self._elastic_hours = np.zeros((len(factories), t), np.float64)
        self._elastic_on = np.zeros((len(factories), t), bool)
        self.makeable = np.zeros((t, n_skus), np.float32)
        self.to_make = np.zeros((t, n_skus), np.float32)
        self.n_skus = n_skus

    def process(self, env: simpy.Environment) -> Generator[simpy.Event, None, None]:
        """The SimPy process: sample at each grid time."""
        for i, t in enumerate(self.grid.tolist()):
            if t > env.now:
                yield env.timeout(t - env.now)
            self._sample(i, t)

    def _sample(self, i: int, t: float) -> None:
        row = 0
        for w, wh in enumerate(self.warehouses):
            self.on_hand[i, w] = wh.stock
            self.backlog[i, w] = wh.backlog
            self.inbound[i, w] = wh.inbound
            self.queue_h[w, i] = wh.pick_pack.wait(t)
            self.busy[row, i] = wh.pick_pack.busy_at(t)
            row += 1
        for wh in self.warehouses:
            if wh.inspect is not None:
                self.busy[row, i] = wh.inspect.busy_at(t)
                row += 1
        for f, factory in enumerate(self.factories):
            self._line_hours[f, i] = factory.regular_busy_hours
            self._elastic_hours[f, i] = factory.elastic_busy_hours
            self._elastic_on[f, i] = factory.elastic_status(t) == "on"
            for k in range(self.n_skus):
                self.makeable[i, k] += min(factory.feasible(k), MAKEABLE_CAP)
            self.to_make[i] += factory.queued

    def finish(self, horizon: float) -> Samples:
        """The samples, with factory load per interval from the cumulative line-hours."""
        first = sum(1 for x in self.warehouses) + sum(
            1 for x in self.warehouses if x.inspect is not None
        )
        ends = np.append(self.grid[1:], horizon)
        width = ends - self.grid
        for f, factory in enumerate(self.factories):
            lines = max(1, factory.regular_lines)
            # hours are booked when a lot finishes, so the load of an interval is the next one's
            # increase: worked hours land at most one lot late
            worked = np.diff(np.append(self._line_hours[f], factory.regular_busy_hours))
            self.busy[first + f] = np.clip(worked / (width * lines), 0.0, 1.0)
        row = first + len(self.factories)
        for f, factory in enumerate(self.factories):
            if factory.elastic_spec is None:
                continue
            worked = np.diff(np.append(self._elastic_hours[f], factory.elastic_busy_hours))
            on = self._elastic_on[f]
            self.busy[row] = np.where(on, np.clip(worked / width, 0.0, 1.0), 0.0)
            row += 1
        return Samples(
            self.grid.astype(np.float32),
            self.on_hand,
            self.backlog,
            self.inbound,
            self.resources,
            self.busy,
            self.queue_h,
            self.makeable,
            self.to_make,
        )
