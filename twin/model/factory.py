"""A factory: regular capacity plus reserved elastic capacity, producing queued orders in lots.

Production runs in lots of at most one hour of output, so a change of rate (elastic capacity
coming on or going off) takes effect within the hour. Elastic capacity is paid per unit-hour
reserved whether used or not, costs a premium per unit when used, and comes on `activation_delay`
after it is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import simpy

from twin.config.schema import FactorySpec

LOT_HOURS = 1.0


@dataclass(slots=True)
class Job:
    """A production order being worked on."""

    priority: int
    seq: int
    sku: int
    remaining: int
    destination: str


class Factory:
    """One factory's queue and production process."""

    def __init__(
        self,
        env: simpy.Environment,
        site_id: str,
        spec: FactorySpec,
        n_skus: int,
        horizon: float,
        ship: Callable[[str, str, int, int], None],
    ) -> None:
        self.env = env
        self.id = site_id
        self.regular = spec.capacity
        self.elastic_spec = spec.elastic
        self.horizon = horizon
        self._ship = ship
        self.queue: list[Job] = []
        self.queued = [0] * n_skus
        """Units ordered and not yet produced, by SKU."""
        self.wip = [0] * n_skus
        self.started = [0] * n_skus
        """Units whose production has started (they are WIP until their lot is done)."""
        self.produced_regular = [0.0] * n_skus
        self.produced_elastic = [0.0] * n_skus
        self.busy_hours = 0.0
        self.elastic_hours = 0.0
        self._seq = 0
        self._wake: simpy.Event | None = None
        self._elastic_on_at: float | None = None
        env.process(self._run())

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
            self._elastic_on_at = t + self.elastic_spec.activation_delay

    def reservation_hours(self) -> float:
        """Hours of elastic capacity reserved inside the horizon."""
        e = self.elastic_spec
        if e is None:
            return 0.0
        until = self.horizon if e.reserved_until is None else min(e.reserved_until, self.horizon)
        return max(0.0, until - e.reserved_from)

    # -- production ---------------------------------------------------------------------------

    def order(self, sku: int, quantity: int, destination: str, priority: int = 0) -> None:
        """Queue a production order (higher priority first, then first come)."""
        self._seq += 1
        self.queue.append(Job(-priority, self._seq, sku, quantity, destination))
        self.queue.sort(key=lambda j: (j.priority, j.seq))
        self.queued[sku] += quantity
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _run(self) -> Generator[simpy.Event, None, None]:
        env = self.env
        while True:
            if not self.queue:
                self._wake = env.event()
                yield self._wake
                continue
            job = self.queue[0]
            elastic = self.elastic_spec.capacity if self.elastic_status(env.now) == "on" else 0.0
            rate = self.regular + elastic  # type: ignore[union-attr]
            lot = min(job.remaining, max(1, math.ceil(rate * LOT_HOURS)))
            hours = lot / rate
            self.wip[job.sku] += lot
            self.started[job.sku] += lot
            yield env.timeout(hours)
            self.wip[job.sku] -= lot
            job.remaining -= lot
            self.queued[job.sku] -= lot
            if job.remaining == 0:
                self.queue.pop(0)
            self.busy_hours += hours
            if elastic:
                self.elastic_hours += hours
            self.produced_elastic[job.sku] += lot * elastic / rate
            self.produced_regular[job.sku] += lot * self.regular / rate
            self._ship(self.id, job.destination, job.sku, lot)
