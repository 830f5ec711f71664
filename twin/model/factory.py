"""A factory: production lines, reserved elastic capacity, a bill of materials and a yield.

Production orders wait in one queue (higher priority first, then first come). Each line takes the
first order it can make (it has a rate for the SKU's family and there are components for at least
one unit) in lots of at most an hour of output, losing `changeover` time when it switches SKU.
Components are consumed when a lot starts; a share `1 − yield` of each lot is scrapped at the end
and made again. Elastic capacity is one more line that makes any family, paid per unit-hour
reserved whether used or not, dearer per unit, and running only `activation_delay` after it is
asked for. A line that is down (a disruption) finishes its lot and starts no other until it is up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
import simpy

from twin.config.schema import FactorySpec, Rates

LOT_HOURS = 1.0

Book = Callable[[str, float, str, float], None]
"""`book(part, amount, site, time)`: record a cost."""


@dataclass(slots=True)
class Job:
    """A production order in the queue."""

    priority: int
    seq: int
    sku: int
    remaining: int
    """Good units still to make."""
    unassigned: int
    """Units no line has started yet (remaining minus lots in progress)."""
    destination: str


@dataclass(slots=True)
class Line:
    """A production line: its rate per SKU (0: cannot make it) and its state."""

    id: str
    rates: list[float]
    changeover: float
    elastic: bool = False
    down: list[tuple[float, float]] = field(default_factory=list)
    last_sku: int | None = None
    busy_hours: float = 0.0

    def down_until(self, t: float) -> float | None:
        """When the line is next up, if it is down at `t`."""
        ends = [end for start, end in self.down if start <= t < end]
        return max(ends) if ends else None


def rates_by_sku(rates: Rates, families: list[str]) -> list[float]:
    """Units/h per SKU from a rate for all families or a mapping by family (0: cannot make)."""
    if isinstance(rates, int | float):
        return [float(rates)] * len(families)
    return [float(rates.get(f, rates.get("default", 0.0))) for f in families]


class Factory:
    """One factory's lines, queue, component stock and production processes."""

    def __init__(
        self,
        env: simpy.Environment,
        site_id: str,
        spec: FactorySpec,
        skus: list[str],
        families: list[str],
        unit_costs: list[float],
        horizon: float,
        rng: np.random.Generator,
        ship: Callable[[str, str, int, int], None],
        book: Book,
    ) -> None:
        self.env = env
        self.id = site_id
        self.spec = spec
        self.elastic_spec = spec.elastic
        self.horizon = horizon
        self._rng = rng
        self._ship = ship
        self._book = book
        self._unit_costs = unit_costs
        n = len(skus)
        self.bom: list[list[tuple[str, int]]] = [
            sorted(spec.bom.get(sku, {}).items()) for sku in skus
        ]
        self.components: dict[str, int] = dict(spec.initial_components)
        for needs in self.bom:
            for comp, _ in needs:
                self.components.setdefault(comp, 0)
        self.initial_components = dict(self.components)
        self.consumed: dict[str, int] = dict.fromkeys(self.components, 0)
        self.received: dict[str, int] = dict.fromkeys(self.components, 0)
        self.queue: list[Job] = []
        self.queued = [0] * n
        """Good units ordered and not yet made, by SKU."""
        self.wip = [0] * n
        self.started = [0] * n
        """Units whose production has started (WIP until their lot is done)."""
        self.scrapped = [0] * n
        self.produced_regular = [0] * n
        self.produced_elastic = [0] * n
        self.lines = [
            Line(
                lid,
                rates_by_sku(line.capacity, families),
                spec.changeover if line.changeover is None else line.changeover,
            )
            for lid, line in spec.line_specs().items()
        ]
        if spec.elastic is not None:
            self.lines.append(
                Line("elastic", [spec.elastic.capacity] * n, spec.changeover, elastic=True)
            )
        self._seq = 0
        self._wake = env.event()
        self._elastic_on_at: float | None = None
        for line in self.lines:
            env.process(self._run(line))

    # -- elastic capacity --------------------------------------------------------------------

    def _reserved(self, t: float) -> bool:
        e = self.elastic_spec
        if e is None:
            return False
        until = self.horizon if e.reserved_until is None else e.reserved_until
        return e.reserved_from <= t < until

    def elastic_status(self, t: float) -> str:
        """`unavailable`, `off`, `pending` or `on` at time t."""
        if not self._reserved(t):
            return "unavailable"
        if self._elastic_on_at is None:
            return "off"
        return "on" if t >= self._elastic_on_at else "pending"

    def set_elastic(self, active: bool, t: float) -> None:
        """Ask for elastic capacity (on after the activation delay) or release it (at once)."""
        if not active:
            self._elastic_on_at = None
        elif self._elastic_on_at is None and self.elastic_spec is not None:
            delay = self.elastic_spec.activation_delay
            self._elastic_on_at = t + delay
            self.env.timeout(delay).callbacks.append(lambda _ev: self._notify())

    def reservation_hours(self) -> float:
        """Hours of elastic capacity reserved inside the horizon."""
        e = self.elastic_spec
        if e is None:
            return 0.0
        until = self.horizon if e.reserved_until is None else min(e.reserved_until, self.horizon)
        return max(0.0, until - e.reserved_from)

    # -- orders, components, disruptions --------------------------------------------------------

    def order(self, sku: int, quantity: int, destination: str, priority: int = 0) -> None:
        """Queue a production order (higher priority first, then first come)."""
        self._seq += 1
        self.queue.append(Job(-priority, self._seq, sku, quantity, quantity, destination))
        self.queue.sort(key=lambda j: (j.priority, j.seq))
        self.queued[sku] += quantity
        self._notify()

    def receive_components(self, component: str, units: int) -> None:
        """Components arrive from a supplier."""
        self.components[component] = self.components.get(component, 0) + units
        self.received[component] = self.received.get(component, 0) + units
        self.consumed.setdefault(component, 0)
        self._notify()

    def line_down(self, line_id: str, start: float, end: float) -> None:
        """Take a line down over [start, end) (it finishes a lot in progress)."""
        for line in self.lines:
            if line.id == line_id:
                line.down.append((start, end))

    def _notify(self) -> None:
        wake, self._wake = self._wake, self.env.event()
        wake.succeed()

    # -- production ---------------------------------------------------------------------------

    def feasible(self, sku: int) -> int:
        """Units of `sku` the component stock allows."""
        limit = math.inf
        for comp, per_unit in self.bom[sku]:
            limit = min(limit, self.components[comp] // per_unit)
        return int(limit) if limit != math.inf else 1 << 62

    def _next_lot(self, line: Line) -> tuple[Job, int] | None:
        for job in self.queue:
            rate = line.rates[job.sku]
            if job.unassigned <= 0 or rate <= 0:
                continue
            lot = min(job.unassigned, max(1, math.ceil(rate * LOT_HOURS)), self.feasible(job.sku))
            if lot > 0:
                return job, lot
        return None

    def _run(self, line: Line) -> Generator[simpy.Event, None, None]:
        env = self.env
        while True:
            now = env.now
            if line.elastic and self.elastic_status(now) != "on":
                yield self._wake
                continue
            up_at = line.down_until(now)
            if up_at is not None:
                yield env.timeout(up_at - now)
                continue
            picked = self._next_lot(line)
            if picked is None:
                yield self._wake
                continue
            job, lot = picked
            k = job.sku
            job.unassigned -= lot
            for comp, per_unit in self.bom[k]:
                self.components[comp] -= lot * per_unit
                self.consumed[comp] += lot * per_unit
            self.started[k] += lot
            self.wip[k] += lot
            hours = lot / line.rates[k]
            if line.last_sku is not None and line.last_sku != k:
                hours += line.changeover
            line.last_sku = k
            yield env.timeout(hours)
            line.busy_hours += hours
            self._finish_lot(line, job, lot)

    def _finish_lot(self, line: Line, job: Job, lot: int) -> None:
        k = job.sku
        good = lot if self.spec.yield_ >= 1.0 else int(self._rng.binomial(lot, self.spec.yield_))
        self.wip[k] -= lot
        self.scrapped[k] += lot - good
        job.unassigned += lot - good  # the loss is made again
        job.remaining -= good
        self.queued[k] -= good
        if job.remaining <= 0:
            self.queue.remove(job)
        now = self.env.now
        if line.elastic:
            self.produced_elastic[k] += lot
            premium = self.elastic_spec.premium_per_unit if self.elastic_spec else 0.0
            self._book("production_elastic", lot * (self._unit_costs[k] + premium), self.id, now)
        else:
            self.produced_regular[k] += lot
            self._book("production_regular", lot * self._unit_costs[k], self.id, now)
        if good:
            self._ship(self.id, job.destination, k, good)
        if lot > good:
            self._notify()  # remade units are back in the queue

    @property
    def regular_busy_hours(self) -> float:
        """Busy hours of the regular lines (changeovers included)."""
        return sum(line.busy_hours for line in self.lines if not line.elastic)

    @property
    def elastic_busy_hours(self) -> float:
        """Busy hours of the elastic line (changeovers included); 0 without one."""
        return sum(line.busy_hours for line in self.lines if line.elastic)

    @property
    def regular_lines(self) -> int:
        """How many regular lines the factory has."""
        return sum(1 for line in self.lines if not line.elastic)
