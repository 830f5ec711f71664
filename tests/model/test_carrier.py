"""Scheduled line-haul lanes, last-mile waves and the carrier choice (twin.model.carrier).

Small hand-built cases assert the exact trace (what each departure loads, when each shipment
arrives); hypothesis checks the invariants (capacity per departure, conservation, FCFS waves)
against brute-force references.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from twin.config.transport import DepartureSpec, WaveSpec
from twin.distributions import Constant, DrawBuffer, Exponential
from twin.errors import ModelError
from twin.model.carrier import ScheduledLane, Waves, choose_carrier

# --- helpers -------------------------------------------------------------------------------------


class Harness:
    """A lane on its own environment, recording every arrival as (time, items)."""

    def __init__(
        self,
        every: float = 10.0,
        first: float = 0.0,
        capacity: int | None = 5,
        transit: object = None,
        cost_per_shipment: float = 0.0,
        cost_per_unit: float = 0.0,
        horizon: float = 1000.0,
        n_skus: int = 3,
        seed: int = 0,
    ) -> None:
        self.env = simpy.Environment()
        self.arrivals: list[tuple[float, list[tuple[int, int]]]] = []
        rng = np.random.default_rng(seed)
        self.lane = ScheduledLane(
            self.env,
            "lane/a->b",
            DepartureSpec(every=every, first=first, capacity=capacity),
            DrawBuffer(transit or Constant(5.0), rng),
            cost_per_shipment,
            cost_per_unit,
            horizon,
            lambda items: self.arrivals.append((self.env.now, list(items))),
            n_skus,
        )

    def send_at(self, t: float, items: list[tuple[int, int]]) -> None:
        """Send `items` at absolute time t (from a process started now)."""

        def proc() -> Generator[simpy.Event, None, None]:
            yield self.env.timeout(t - self.env.now)
            self.lane.send(items)

        self.env.process(proc())


sends = st.lists(
    st.tuples(
        st.floats(0.0, 200.0, allow_nan=False),  # time
        st.integers(0, 2),  # sku
        st.integers(0, 30),  # units
    ),
    max_size=40,
)


# --- (1) capacity per departure ------------------------------------------------------------------


def test_never_ships_more_than_capacity_on_a_random_stream() -> None:
    rng = np.random.default_rng(7)
    h = Harness(every=4.0, first=1.0, capacity=9, transit=Exponential(6.0), horizon=500.0)
    times = np.sort(rng.uniform(0, 400, 300))
    for t in times:
        h.send_at(float(t), [(int(rng.integers(3)), int(rng.integers(1, 8)))])
    h.env.run(until=500.0)
    log = h.lane.departures_log
    assert len(log) > 50
    assert all(cap == 9 and 0 < loaded <= 9 for _, cap, loaded in log)
    # departures leave only on the schedule, each at most once
    times_out = [t for t, _, _ in log]
    assert times_out == sorted(set(times_out))
    assert all(math.isclose((t - 1.0) / 4.0, round((t - 1.0) / 4.0)) for t in times_out)
    # the lane is overloaded (≈ 4 units/h offered vs 2.25/h): every departure leaves full
    assert sum(loaded for _, _, loaded in log) == 9 * len(log)


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.integers(1, 25),
    every=st.floats(0.25, 20.0),
    first=st.floats(0.0, 10.0),
    stream=sends,
)
def test_capacity_property(capacity: int, every: float, first: float, stream: list) -> None:
    h = Harness(every=every, first=first, capacity=capacity, transit=Constant(3.0), horizon=300.0)
    for t, k, q in sorted(stream):
        h.send_at(t, [(k, q)])
    h.env.run(until=300.0)
    lane = h.lane
    for _, cap, loaded in lane.departures_log:
        assert cap == capacity
        assert 0 <= loaded <= capacity
    # a departure that is not full emptied the dock, so the next one only takes later sends:
    # total loaded can never exceed what was sent, and the rest is still on the dock
    loaded_total = sum(loaded for _, _, loaded in lane.departures_log)
    assert loaded_total + lane.dock_units == sum(q for _, _, q in stream)


# --- (2) backlog carries over FCFS; exact arrivals with constant transit ---------------------


def test_backlog_carries_over_first_come_first_served() -> None:
    h = Harness(every=10.0, first=0.0, capacity=5, transit=Constant(5.0))
    h.lane.send([(0, 6)])  # at t=0, in time for the departure at 0
    h.send_at(1.0, [(1, 3)])
    h.send_at(12.0, [(2, 4)])
    h.env.run()
    assert h.lane.departures_log == [(0.0, 5, 5), (10.0, 5, 4), (20.0, 5, 4)]
    assert h.arrivals == [
        (5.0, [(0, 5)]),
        (15.0, [(0, 1), (1, 3)]),
        (25.0, [(2, 4)]),
    ]
    assert h.lane.on_dock == [0, 0, 0]
    assert h.lane.in_transit == [0, 0, 0]
    assert h.lane.arrived == [6, 3, 4]


def test_split_items_keep_their_place_in_the_queue() -> None:
    h = Harness(every=2.0, first=1.0, capacity=4, transit=Constant(5.0))
    h.lane.send([(0, 3), (1, 6), (2, 1)])
    h.env.run()
    assert h.lane.departures_log == [(1.0, 4, 4), (3.0, 4, 4), (5.0, 4, 2)]
    assert h.arrivals == [
        (6.0, [(0, 3), (1, 1)]),
        (8.0, [(1, 4)]),
        (10.0, [(1, 1), (2, 1)]),
    ]


def test_a_send_just_after_a_departure_waits_for_the_next_one() -> None:
    h = Harness(every=10.0, first=0.0, capacity=None, transit=Constant(5.0))

    def proc() -> Generator[simpy.Event, None, None]:
        yield h.env.timeout(3.0)
        h.lane.send([(0, 2)])  # puts the departure at 10 on the queue
        yield h.env.timeout(7.0)  # queued after it: at t=10 the departure has left already
        h.lane.send([(1, 1)])

    h.env.process(proc())
    h.env.run()
    assert h.lane.departures_log == [(10.0, None, 2), (20.0, None, 1)]
    assert h.arrivals == [(15.0, [(0, 2)]), (25.0, [(1, 1)])]


def test_a_send_at_a_departure_time_makes_it_if_the_lane_was_idle() -> None:
    h = Harness(every=10.0, first=0.0, capacity=None, transit=Constant(5.0))
    h.send_at(30.0, [(0, 1)])
    h.env.run()
    assert h.lane.departures_log == [(30.0, None, 1)]
    assert h.arrivals == [(35.0, [(0, 1)])]


def test_nothing_leaves_or_arrives_past_the_horizon() -> None:
    h = Harness(every=10.0, first=0.0, capacity=2, transit=Constant(5.0), horizon=25.0)
    h.send_at(1.0, [(0, 7)])
    h.env.run()
    # departures at 10 and 20 leave; 30 is past the horizon; the one at 20 would arrive at 25
    assert h.lane.departures_log == [(10.0, 2, 2), (20.0, 2, 2)]
    assert h.arrivals == [(15.0, [(0, 2)])]
    assert (h.lane.on_dock[0], h.lane.in_transit[0], h.lane.arrived[0]) == (3, 2, 2)
    assert h.env.peek() == math.inf


# --- (3) conservation at every moment ------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.one_of(st.none(), st.integers(1, 20)),
    every=st.floats(0.5, 12.0),
    stream=sends,
    seed=st.integers(0, 2**16),
)
def test_units_are_conserved_at_every_check(
    capacity: int | None, every: float, stream: list, seed: int
) -> None:
    h = Harness(every=every, capacity=capacity, transit=Exponential(8.0), horizon=250.0, seed=seed)
    for t, k, q in sorted(stream):
        h.send_at(t, [(k, q)])
    lane = h.lane
    checks = 0

    def monitor() -> Generator[simpy.Event, None, None]:
        nonlocal checks
        while True:
            arrived = [0, 0, 0]
            for _, items in h.arrivals:
                for k, q in items:
                    arrived[k] += q
            now = h.env.now
            for k in range(3):
                # a send at this very instant may run before or after the monitor
                before = sum(q for t, kk, q in stream if kk == k and t < now)
                upto = sum(q for t, kk, q in stream if kk == k and t <= now)
                assert before <= lane.sent[k] <= upto
                assert lane.sent[k] == lane.on_dock[k] + lane.in_transit[k] + lane.arrived[k]
                assert lane.arrived[k] == arrived[k]
                assert min(lane.on_dock[k], lane.in_transit[k]) >= 0
            checks += 1
            yield h.env.timeout(0.7)

    h.env.process(monitor())
    h.env.run(until=260.0)
    assert checks > 300
    assert lane.sent == [sum(q for _, kk, q in stream if kk == k) for k in range(3)]


# --- (4) capacity cuts ---------------------------------------------------------------------------


def test_a_cut_reduces_capacity_in_its_window_only() -> None:
    h = Harness(every=1.0, first=0.0, capacity=10, transit=Constant(1.0), horizon=12.0)
    h.lane.cut(5.0, 3.0, 0.5)  # departures at 5, 6, 7
    h.lane.cut(6.0, 1.0, 0.9)  # overlapping: the departure at 6 takes the more severe
    h.lane.send([(0, 1000)])
    h.env.run()
    caps = [(t, cap) for t, cap, _ in h.lane.departures_log]
    assert caps == [
        (0.0, 10),
        (1.0, 10),
        (2.0, 10),
        (3.0, 10),
        (4.0, 10),
        (5.0, 5),
        (6.0, 1),
        (7.0, 5),
        (8.0, 10),
        (9.0, 10),
        (10.0, 10),
        (11.0, 10),
    ]
    assert all(loaded == cap for _, cap, loaded in h.lane.departures_log)


def test_a_full_cut_stops_departures_and_an_unlimited_lane_stays_unlimited_otherwise() -> None:
    h = Harness(every=2.0, capacity=None, transit=Constant(1.0), horizon=20.0)
    h.lane.cut(0.0, 3.0, 1.0)  # departures at 0 and 2 take nothing
    h.lane.cut(4.0, 2.0, 0.5)  # half of unlimited is unlimited
    h.lane.send([(0, 50)])
    h.env.run()
    assert h.lane.departures_log == [(0.0, 0, 0), (2.0, 0, 0), (4.0, None, 50)]
    assert h.arrivals == [(5.0, [(0, 50)])]


def test_cut_capacity_rounds_down_without_float_noise() -> None:
    h = Harness(capacity=100)
    h.lane.cut(0.0, 1.0, 0.9)
    h.lane.cut(1.0, 1.0, 0.3)
    assert h.lane.capacity_at(0.5) == 10  # not 9 from 100 * 0.09999999999999998
    assert h.lane.capacity_at(1.0) == 70
    assert h.lane.capacity_at(2.0) == 100


def test_a_bad_cut_is_refused() -> None:
    h = Harness()
    with pytest.raises(ModelError, match=r"severity \(=1.5\)"):
        h.lane.cut(0.0, 1.0, 1.5)
    with pytest.raises(ModelError, match=r"duration \(=-1.0\)"):
        h.lane.cut(0.0, -1.0, 0.5)


# --- (5) cost per loaded departure ---------------------------------------------------------------


def test_shipment_cost_is_booked_per_loaded_departure_only() -> None:
    h = Harness(
        every=10.0, capacity=5, transit=Constant(5.0), cost_per_shipment=100.0, cost_per_unit=2.0
    )
    h.lane.cut(10.0, 1.0, 1.0)  # the departure at 10 leaves empty: no cost
    h.lane.send([(0, 6)])
    h.send_at(55.0, [(1, 1)])
    h.env.run()
    assert h.lane.departures_log == [(0.0, 5, 5), (10.0, 0, 0), (20.0, 5, 1), (60.0, 5, 1)]
    assert h.lane.shipments == 3
    assert h.lane.cost == pytest.approx((100 + 5 * 2) + (100 + 1 * 2) + (100 + 1 * 2))


# --- (6) waves -----------------------------------------------------------------------------------


def test_waves_fill_in_order_and_skip_full_ones() -> None:
    w = Waves(WaveSpec(every=2.0, first=1.0, capacity=3), horizon=100.0)
    assert [w.assign(0.0) for _ in range(7)] == [1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 5.0]
    assert w.assign(2.5) == 5.0  # 3 is full
    assert w.assign(5.0) == 5.0  # a wave leaving exactly when the order is ready takes it
    assert w.assign(4.0) == 7.0  # 5 is now full
    assert w.assign(7.1) == 9.0
    assert [w.used(t) for t in (1.0, 3.0, 5.0, 7.0, 9.0, 11.0)] == [3, 3, 3, 1, 1, 0]
    with pytest.raises(ModelError):
        w.used(2.0)


def test_unlimited_waves_return_the_next_wave() -> None:
    w = Waves(WaveSpec(every=0.5, first=0.25), horizon=10.0)
    assert [w.assign(t) for t in (0.0, 0.25, 0.26, 3.0, 3.0, 3.0)] == [
        0.25,
        0.25,
        0.75,
        3.25,
        3.25,
        3.25,
    ]
    assert w.used(3.25) == 3


def test_wave_cuts_apply_in_their_window() -> None:
    w = Waves(WaveSpec(every=1.0, capacity=4), horizon=10.0)
    w.cut(1.0, 2.0, 0.5)  # waves at 1 and 2 take 2 orders
    w.cut(3.0, 1.0, 1.0)  # the wave at 3 takes none
    got = [w.assign(0.5) for _ in range(10)]
    assert got == [1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 4.0, 4.0, 5.0, 5.0]


def reference_waves(capacity: int | None, every: float, first: float, readies: list[float]):
    """Brute force: scan waves one by one from the first at or after `ready`."""
    used: dict[int, int] = {}
    out = []
    for r in readies:
        n = 0 if r <= first else math.ceil((r - first) / every - 1e-9)
        while capacity is not None and used.get(n, 0) >= capacity:
            n += 1
        used[n] = used.get(n, 0) + 1
        out.append(first + n * every)
    return out


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.one_of(st.none(), st.integers(1, 6)),
    every=st.floats(0.1, 5.0),
    first=st.floats(0.0, 3.0),
    readies=st.lists(st.floats(0.0, 50.0), max_size=80),
    shuffle=st.booleans(),
)
def test_waves_match_a_brute_force_reference(
    capacity: int | None, every: float, first: float, readies: list[float], shuffle: bool
) -> None:
    if not shuffle:
        readies = sorted(readies)
    w = Waves(WaveSpec(every=every, first=first, capacity=capacity), horizon=50.0)
    got = [w.assign(r) for r in readies]
    assert got == reference_waves(capacity, every, first, readies)
    for r, t in zip(readies, got, strict=True):
        assert t >= r - 1e-9
        if capacity is not None:
            assert w.used(t) <= capacity


# --- (7) choosing a carrier ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CarrierOption:
    """A test double of a carrier: what `choose_carrier` reads, and a payload it must carry."""

    name: str
    mean_transit: float
    cost_per_shipment: float
    cost_per_unit: float
    payload: object = None

    @property
    def cost(self) -> float:
        return self.cost_per_shipment + self.cost_per_unit


def test_choose_carrier_picks_the_first_preferred_that_meets_the_promise() -> None:
    fast = CarrierOption("fast", 10.0, 50.0, 5.0, payload="F")
    mid = CarrierOption("mid", 20.0, 30.0, 2.0)
    slow = CarrierOption("slow", 40.0, 10.0, 1.0)
    options = [slow, mid, fast]  # cheapest first: the model's default preference
    assert choose_carrier(options, ready=0.0, promise=48.0) is slow
    assert choose_carrier(options, ready=10.0, promise=48.0) is mid
    assert choose_carrier(options, ready=28.0, promise=48.0) is mid  # exactly on time counts
    assert choose_carrier(options, ready=30.0, promise=48.0) is fast
    # nobody makes it: the fastest
    assert choose_carrier(options, ready=45.0, promise=48.0) is fast
    assert choose_carrier(options[::-1], ready=45.0, promise=48.0) is fast
    # a preference other than price: the first listed that makes it
    assert choose_carrier([mid, slow], ready=0.0, promise=48.0) is mid
    assert choose_carrier([fast, slow], ready=0.0, promise=48.0) is fast
    assert choose_carrier(options, 0.0, 48.0).payload is None
    assert fast.payload == "F"


def test_choose_carrier_breaks_ties_deterministically() -> None:
    a = CarrierOption("a", 10.0, 5.0, 1.0)
    b = CarrierOption("b", 5.0, 5.0, 1.0)
    c = CarrierOption("c", 5.0, 4.0, 1.0)
    d = CarrierOption("d", 5.0, 4.0, 1.0)
    assert choose_carrier([a, b], 0.0, 100.0) is a  # both on time: the first preferred
    assert choose_carrier([d, c, b, a], 0.0, 1.0) is c  # fastest, then cheaper, then by name
    assert choose_carrier([b, a], 0.0, 1.0) is b
    with pytest.raises(ModelError):
        choose_carrier([], 0.0, 1.0)


# --- (8) an idle lane costs nothing --------------------------------------------------------------


def test_an_idle_lane_schedules_no_events() -> None:
    h = Harness(every=1.0)
    assert h.env.peek() == math.inf
    h.lane.send([])
    h.lane.send([(0, 0)])
    assert h.env.peek() == math.inf
    h.env.run(until=500.0)
    assert h.lane.departures_log == []


def test_a_drained_lane_goes_back_to_sleep() -> None:
    h = Harness(every=1.0, capacity=None, transit=Constant(2.0))
    h.lane.send([(0, 3)])
    assert h.env.peek() == 0.0  # the departure at 0
    h.env.run()
    # one departure and one arrival, then nothing more on the queue however long the horizon
    assert h.lane.departures_log == [(0.0, None, 3)]
    assert h.arrivals == [(2.0, [(0, 3)])]
    assert h.env.now == 2.0
    h.send_at(100.5, [(1, 1)])
    h.env.run()
    assert h.lane.departures_log[-1] == (101.0, None, 1)
    assert h.env.peek() == math.inf


# --- config --------------------------------------------------------------------------------------


def test_specs_parse_durations_and_refuse_bad_values() -> None:
    spec = DepartureSpec.model_validate({"every": "12h", "first": "90min", "capacity": 400})
    assert (spec.every, spec.first, spec.capacity) == (12.0, 1.5, 400)
    assert WaveSpec.model_validate({"every": "2h"}).capacity is None
    for bad in ({"every": 0}, {"every": "1h", "capacity": 0}, {"every": "1h", "speed": 3}):
        with pytest.raises(ValidationError):
            DepartureSpec.model_validate(bad)
