"""A supplier (DESIGN §2 "Supplier tier"): takes purchase orders, produces them FCFS, ships them.

Production works through purchase orders first come, first served, in chunks of at most one hour
of output at the supplier's capacity (regular plus reserved). Each finished chunk ships at once and
reaches the buying factory `lead_time` later (one draw per chunk), times the lead-time spike factor
active at dispatch.

Nothing is produced while the supplier is down. An outage that starts while a chunk is in progress
pauses that chunk, which resumes where it stopped when the supplier is up again (preemptive
resume); the chunk's units ship together when its remaining work is done.

The supplier is down while any outage is active (overlapping outages merge). Random outages are an
alternating renewal process of its own: exponential up times of mean `mtbf`, then a duration from
`reliability.outage`, both from stream `supplier/<id>/outages`. It runs independently of scheduled
outages, so that adding a scheduled disruption leaves the random outages where they were (common
random numbers); a random onset falling inside a scheduled outage merges with it. Random onsets
stop at the horizon.

Units ordered but not yet shipped are still the supplier's: per component, at every instant,
`ordered == queued + in_transit + delivered` and `shipped == in_transit + delivered`.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial

import numpy as np
import simpy

from twin.config.supply import ComponentTerms, ReliabilitySpec, SupplierSpec
from twin.distributions import DrawBuffer, Exponential
from twin.errors import ModelError
from twin.rng import Streams

CHUNK_HOURS = 1.0
"""Longest stretch of output that ships as one chunk."""
_EPS = 1e-9
"""Work (hours) below which a paused chunk counts as finished: absorbs float round-off."""


@dataclass(slots=True)
class PurchaseJob:
    """A purchase order waiting for or in production at the supplier."""

    component: str
    factory: str
    remaining: int


class Supplier:
    """One supplier site: its order queue, production, outages, shipments and costs."""

    def __init__(
        self,
        env: simpy.Environment,
        site_id: str,
        spec: SupplierSpec,
        streams: Streams,
        horizon: float,
        deliver: Callable[[str, str, int], None],
    ) -> None:
        self.env = env
        self.id = site_id
        self.spec = spec
        self.tier: str = spec.tier
        self.horizon = horizon
        self._deliver = deliver
        reserved = spec.reserved.units_per_day if spec.reserved is not None else 0.0
        self.rate = (spec.capacity_per_day + reserved) / 24.0
        """Production rate in component units per hour, regular plus reserved."""
        self.chunk_units = max(1, math.floor(self.rate * CHUNK_HOURS + _EPS))
        """Units in a full chunk: at most one hour of output (one unit if the rate is below 1/h)."""
        self._lead_dist = spec.lead_time.build()
        self._lead = DrawBuffer(self._lead_dist, streams.get(f"supplier/{site_id}/leadtime"))

        names = list(spec.components)
        self.ordered: dict[str, int] = dict.fromkeys(names, 0)
        """Units ordered (after raising to the MOQ), by component."""
        self.queued: dict[str, int] = dict.fromkeys(names, 0)
        """Units ordered and not yet shipped (waiting or in production), by component."""
        self.shipped: dict[str, int] = dict.fromkeys(names, 0)
        """Units dispatched, by component."""
        self.in_transit: dict[str, int] = dict.fromkeys(names, 0)
        """Units dispatched and not yet arrived, by component."""
        self.delivered: dict[str, int] = dict.fromkeys(names, 0)
        """Units arrived at the buying factory, by component."""
        self.topup_units: dict[str, int] = dict.fromkeys(names, 0)
        """Units bought beyond the contracted quantity (at the surcharge), by component."""
        self.procurement_cost = 0.0
        """Cost of all units ordered so far, booked at order time."""
        self._contract_left: dict[str, int | None] = {
            c: t.contracted for c, t in spec.components.items()
        }

        self.outage_log: list[tuple[float, float]] = []
        """Every outage (random or scheduled) as (start, end), appended when it starts."""
        self._spikes: list[tuple[float, float, float]] = []
        self._active = 0
        self._down_since = 0.0
        self._down_closed = 0.0
        self._went_down: simpy.Event = env.event()
        self._came_up: simpy.Event = env.event()
        self._queue: deque[PurchaseJob] = deque()
        self._wake: simpy.Event | None = None
        env.process(self._produce())
        if spec.reliability is not None:
            rng = streams.get(f"supplier/{site_id}/outages")
            env.process(self._random_outages(spec.reliability, rng))

    # -- what policies may see ----------------------------------------------------------------

    @property
    def lead_time_mean(self) -> float:
        """Mean of the lead-time distribution (hours), without any spike: the planner's estimate."""
        return self._lead_dist.mean

    def contract_remaining(self, component: str) -> int | None:
        """Units of `component` still available at contract price; None when unlimited."""
        self._terms(component)
        return self._contract_left[component]

    def status(self, t: float) -> str:
        """`up` or `down` at a time t no later than now (the future outages are not known)."""
        if t > self.env.now:
            raise ModelError(
                f"supplier {self.id}: status at t (={t:g}) is in the future (now {self.env.now:g})"
            )
        for start, end in self.outage_log:
            if start <= t < end:
                return "down"
        return "up"

    def spike_factor(self, t: float) -> float:
        """Lead-time multiplier at dispatch time t: the largest active spike's factor, else 1."""
        factor = 1.0
        for start, end, f in self._spikes:
            if start <= t < end and f > factor:
                factor = f
        return factor

    # -- costs and availability (read by the world at the end) ---------------------------------

    def reserved_fee(self) -> float:
        """Fee for reserved capacity over the whole horizon, paid whether used or not."""
        r = self.spec.reserved
        if r is None:
            return 0.0
        return r.fee_per_unit_day * r.units_per_day * self.horizon / 24.0

    @property
    def down_hours(self) -> float:
        """Hours inside [0, horizon) the supplier has been down so far."""
        hours = self._down_closed
        if self._active:
            hours += self._clip(self.env.now) - self._clip(self._down_since)
        return hours

    @property
    def availability(self) -> float:
        """Fraction of the horizon the supplier was up: 1 − down_hours / horizon."""
        return 1.0 - self.down_hours / self.horizon

    # -- purchase orders ----------------------------------------------------------------------

    def order(self, component: str, quantity: int, factory: str) -> int:
        """Place a purchase order now for delivery to `factory`; returns the units ordered (≥ MOQ)."""
        terms = self._terms(component)
        try:
            units = operator.index(quantity)
        except TypeError:
            raise ModelError(
                f"supplier {self.id}: order quantity (={quantity!r}) must be an integer"
            ) from None
        if units < 1:
            raise ModelError(f"supplier {self.id}: order quantity (={units}) must be >= 1")
        units = max(units, self.spec.moq)
        left = self._contract_left[component]
        if left is None:
            within = units
        else:
            within = min(units, left)
            self._contract_left[component] = left - within
        topup = units - within
        self.topup_units[component] += topup
        self.procurement_cost += terms.price * (within + topup * (1.0 + terms.topup_surcharge))
        self.ordered[component] += units
        self.queued[component] += units
        self._queue.append(PurchaseJob(component, factory, units))
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()
        return units

    def _terms(self, component: str) -> ComponentTerms:
        terms = self.spec.components.get(component)
        if terms is None:
            raise ModelError(
                f"supplier {self.id}: component (={component!r}) is not sold here;"
                f" it sells {sorted(self.spec.components)}"
            )
        return terms

    # -- disruptions --------------------------------------------------------------------------

    def schedule_outage(self, start: float, duration: float) -> None:
        """Take the supplier down over [start, start + duration), merging with any other outage."""
        if not (math.isfinite(start) and start >= self.env.now):
            raise ModelError(
                f"supplier {self.id}: outage start (={start!r}) must be >= now (={self.env.now:g})"
            )
        if not (math.isfinite(duration) and duration >= 0):
            raise ModelError(f"supplier {self.id}: outage duration (={duration!r}) must be >= 0")
        if duration > 0:
            self.env.process(self._scheduled_outage(start, duration))

    def lead_time_spike(self, start: float, duration: float, factor: float) -> None:
        """Multiply the lead time of chunks dispatched in [start, start + duration) by `factor`."""
        if not (math.isfinite(start) and math.isfinite(duration) and duration >= 0):
            raise ModelError(
                f"supplier {self.id}: lead-time spike window (start={start!r},"
                f" duration={duration!r}) must be finite with duration >= 0"
            )
        if not (math.isfinite(factor) and factor > 0):
            raise ModelError(
                f"supplier {self.id}: lead-time spike factor (={factor!r}) must be > 0"
            )
        self._spikes.append((start, start + duration, factor))

    def _scheduled_outage(
        self, start: float, duration: float
    ) -> Generator[simpy.Event, None, None]:
        yield self.env.timeout(start - self.env.now)
        self._go_down(duration)
        yield self.env.timeout(duration)
        self._go_up()

    def _random_outages(
        self, spec: ReliabilitySpec, rng: np.random.Generator
    ) -> Generator[simpy.Event, None, None]:
        env = self.env
        up_time = DrawBuffer(Exponential(spec.mtbf), rng, block=256)
        length = DrawBuffer(spec.outage.build(), rng, block=256)
        while True:
            yield env.timeout(up_time.next())
            if env.now >= self.horizon:
                return
            duration = length.next()
            self._go_down(duration)
            yield env.timeout(duration)
            self._go_up()

    def _go_down(self, duration: float) -> None:
        now = self.env.now
        self.outage_log.append((now, now + duration))
        self._active += 1
        if self._active == 1:
            self._down_since = now
            went_down, self._came_up = self._went_down, self.env.event()
            went_down.succeed()

    def _go_up(self) -> None:
        self._active -= 1
        if self._active == 0:
            self._down_closed += self._clip(self.env.now) - self._clip(self._down_since)
            came_up, self._went_down = self._came_up, self.env.event()
            came_up.succeed()

    def _clip(self, t: float) -> float:
        return min(max(t, 0.0), self.horizon)

    # -- production and shipping --------------------------------------------------------------

    def _produce(self) -> Generator[simpy.Event, None, None]:
        env = self.env
        queue = self._queue
        while True:
            if not queue:
                self._wake = env.event()
                yield self._wake
                continue
            job = queue[0]
            units = min(job.remaining, self.chunk_units)
            work = units / self.rate
            while work > _EPS:
                if self._active:
                    yield self._came_up
                    continue
                began = env.now
                done = env.timeout(work)
                fired = yield done | self._went_down
                if done in fired:
                    break
                work -= env.now - began
            job.remaining -= units
            if job.remaining == 0:
                queue.popleft()
            self._ship(job.component, job.factory, units)

    def _ship(self, component: str, factory: str, units: int) -> None:
        env = self.env
        lead = self._lead.next() * self.spike_factor(env.now)
        self.queued[component] -= units
        self.shipped[component] += units
        self.in_transit[component] += units
        arrival = env.timeout(lead)
        arrival.callbacks.append(partial(self._arrive, factory, component, units))

    def _arrive(self, factory: str, component: str, units: int, _event: simpy.Event) -> None:
        self.in_transit[component] -= units
        self.delivered[component] += units
        self._deliver(factory, component, units)
