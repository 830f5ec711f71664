"""Routed last mile in the model: every route the model uses is feasible, deliveries follow it."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.config import scenario_from_data
from twin.errors import ConfigError
from twin.kpi import compute
from twin.model.last_mile import SLACK, next_serving_wave, window_on
from twin.model.ledger import ALLOCATED
from twin.model.world import World
from twin.optimize.routing import Router, Routes, RoutingProblem

REPO = Path(__file__).resolve().parents[2]
ROUTED = yaml.safe_load((REPO / "scenarios" / "routed_last_mile.yaml").read_text())


class Recording:
    """A router that remembers every problem and the routes it returned."""

    def __init__(self, inner: Router, world: World) -> None:
        self.inner = inner
        self.world = world
        self.seen: list[tuple[RoutingProblem, Routes]] = []
        self.in_run: list[Routes] = []
        """Routes of waves that left before the horizon (the rest are routed at the end)."""

    def solve(self, problem: RoutingProblem) -> Routes:
        routes = self.inner.solve(problem)
        self.seen.append((problem, routes))
        if self.world.env.now < self.world.horizon:
            self.in_run.append(routes)
        return routes


def run(data: dict[str, Any], replication: int = 0) -> tuple[World, list[Recording]]:
    world = World(scenario_from_data(data, "routed_last_mile.yaml"), replication)
    recorders = []
    for lanes in world.lanes.values():
        for lane in lanes:
            if lane.routed is not None:
                rec = Recording(lane.routed.router.inner, world)
                lane.routed.router.inner = rec
                recorders.append(rec)
    world.record = world.run()  # type: ignore[attr-defined]
    return world, recorders


def variant(
    vehicles: int,
    capacity: int,
    max_duration: str | None,
    backend: str,
    windows: dict[str, list[str] | None] | None = None,
) -> dict[str, Any]:
    """The routed scenario with another fleet; `windows` replaces the stations' windows."""
    data = copy.deepcopy(ROUTED)
    for lane in data["lanes"]:
        if "routing" in lane:
            fleet = lane["routing"]["fleet"]
            fleet.update(vehicles=vehicles, capacity=capacity)
            fleet.pop("max_duration", None)
            if max_duration:
                fleet["max_duration"] = max_duration
            lane["routing"]["backend"] = backend
    if windows is not None:
        for region in ("north", "south"):
            for station in data["sites"][region]["stations"]:
                station.pop("window", None)
                if windows.get(station["id"]) is not None:
                    station["window"] = windows[station["id"]]
    return data


def check_routes(problem: RoutingProblem, routes: Routes) -> None:
    """Every stop once, within capacity, fleet and duration; service begins inside each window."""
    fleet = problem.fleet
    demand = {s.id: s.demand for s in problem.stops}
    visited = [s for r in routes.routes for s in r.stops]
    assert sorted(visited) == sorted(demand)  # every stop once
    assert len(routes.routes) <= fleet.vehicles
    stops = {s.id: s for s in problem.stops}
    for r in routes.routes:
        assert sum(demand[s] for s in r.stops) == r.load <= fleet.capacity
        if fleet.max_duration is not None:
            assert r.duration <= fleet.max_duration + 1e-9
        # arrivals follow the drive at the fleet's speed, waiting for windows, plus each service
        clock, here = problem.start, problem.depot
        for stop_id, arrival in zip(r.stops, r.arrivals, strict=True):
            stop = stops[stop_id]
            clock += math.dist(here, (stop.x, stop.y)) / fleet.speed_kmh
            assert arrival == pytest.approx(clock, abs=1e-9)
            if stop.window is not None:
                assert stop.window[1] - stop.window[0] < 24.0
                assert arrival <= stop.window[1] + 1e-9
                clock = max(clock, stop.window[0])
            clock += stop.service
            here = (stop.x, stop.y)
        back = clock + math.dist(here, problem.depot) / fleet.speed_kmh
        assert r.end == pytest.approx(back, abs=1e-9)


STATIONS = [s["id"] for r in ("north", "south") for s in ROUTED["sites"][r]["stations"]]


@st.composite
def daily_windows(draw: st.DrawFn) -> list[str] | None:
    """No window, or a daily one at least an hour long."""
    if draw(st.booleans()):
        return None
    opens = round(draw(st.floats(0.0, 22.0)), 2)
    closes = round(draw(st.floats(opens + 1.0, 24.0)), 2)
    return [f"{opens}h", f"{closes}h"]


def test_a_window_open_all_day_is_no_window() -> None:
    """Found by the property test below: [0h, 24h] routed as a 24-hour window, not as open."""
    data = variant(2, 12, None, "ortools", {s: None for s in STATIONS} | {"s_airport": ["0h", "24h"]})
    region = scenario_from_data(data).sites["south"]
    assert all(s.window is None for s in region.station_list())  # type: ignore[union-attr]


def routed_orders(world: World) -> list[tuple[int, tuple[float, float] | None]]:
    """(order, its station's daily window) of every order sent on a routed lane."""
    led, out = world.ledger, []
    for lanes in world.lanes.values():
        for lane in lanes:
            if lane.routed is None:
                continue
            g, w = world.regions.index(lane.destination), world.by_id[lane.origin].index
            region = world.scenario.sites[lane.destination]
            windows = [s.window for s in region.station_list()]  # type: ignore[union-attr]
            out += [
                (i, windows[world._station[i]])
                for i, status in enumerate(led.status)
                if status == ALLOCATED and world._region[i] == g and led.warehouse[i] == w
            ]
    return out


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    vehicles=st.integers(2, 4),
    capacity=st.integers(12, 40),
    max_duration=st.sampled_from([None, "6h"]),
    backend=st.sampled_from(["ortools", "nearest"]),
    replication=st.integers(0, 3),
    windows=st.fixed_dictionaries({s: daily_windows() for s in STATIONS}),
)
def test_every_route_the_model_uses_is_feasible(
    vehicles: int,
    capacity: int,
    max_duration: str | None,
    backend: str,
    replication: int,
    windows: dict[str, list[str] | None],
) -> None:
    data = variant(vehicles, capacity, max_duration, backend, windows)
    world, recorders = run(data, replication)
    problems = [pr for rec in recorders for pr in rec.seen]
    assert problems
    for problem, routes in problems:
        check_routes(problem, routes)
    # every routed order gets a delivery, and service begins inside its station's window
    orders = routed_orders(world)
    assert len(orders) > 500
    delivered = world.ledger.delivered
    for i, window in orders:
        assert math.isfinite(delivered[i])
        if window is not None:
            hour = delivered[i] % 24.0
            hour += 24.0 if hour < window[0] - 1e-9 else 0.0  # a delivery at a 24 h close
            assert window[0] - 1e-9 <= hour <= window[1] + 1e-9, (i, window, delivered[i])


def kiosk(waves: dict[str, Any], max_duration: str | None) -> dict[str, Any]:
    """North delivers to one kiosk open 9–12 (a 0.4 h drive from fwd_north), on roomy vans."""
    data = variant(10, 50, max_duration, "ortools")
    data["horizon"] = "3d"
    data["sites"]["north"]["stations"] = [
        {"id": "kiosk", "location": [12, 52], "window": ["9h", "12h"]}
    ]
    for lane in data["lanes"]:
        if lane["from"] == "fwd_north" and lane["to"] == "north":
            lane["waves"] = waves
    return data


def north_routed(world: World) -> np.ndarray:
    led = world.ledger
    return (
        (np.asarray(led.status) == ALLOCATED)
        & (np.asarray(world._region) == world.regions.index("north"))
        & (np.asarray(led.warehouse) == world.by_id["fwd_north"].index)
    )


def test_a_wave_leaving_after_the_window_delivers_inside_the_next_days_window() -> None:
    # one wave a day, at 13:00: the kiosk closed at 12, so the van waits for 9:00 tomorrow
    world, _ = run(kiosk({"every": "24h", "first": "13h"}, None))
    led = world.ledger
    shipped, delivered = np.asarray(led.shipped), np.asarray(led.delivered)
    first_wave = north_routed(world) & (shipped == 13.0)
    assert first_wave.sum() > 30
    # service begins at the opening, 9:00 on day 1, pieces one after another inside the window
    assert delivered[first_wave].min() == 33.0
    assert np.all(delivered[first_wave] <= 36.0)
    mine = north_routed(world)
    hours = delivered[mine] % 24.0
    assert np.all((hours >= 9.0) & (hours <= 12.0))


def test_a_wave_that_cannot_wait_for_the_window_leaves_its_orders_to_a_later_wave() -> None:
    # hourly waves, 6 h shifts: a van leaving at 12:00 or 13:00 cannot wait for 9:00 tomorrow;
    # the first wave that can is 04:00 (4 + 0.4 h drive, wait to 9:00, 0.1 h service, 0.4 h back)
    world, _ = run(kiosk({"every": "1h"}, "6h"))
    led = world.ledger
    mine = north_routed(world)
    shipped, delivered = np.asarray(led.shipped)[mine], np.asarray(led.delivered)[mine]
    packed = np.asarray(led.allocated)[mine]  # no pick/pack queue to speak of: ~ when packed
    hours = shipped % 24.0
    assert not np.any((hours > 11.6) | (hours < 4.0))  # no wave outside 04:00–11:00 served it
    late = (packed % 24.0 > 11.7) & (packed < 24.0)  # ready after the day-0 11:00 wave left
    assert late.sum() > 10
    assert np.all(shipped[late] == 28.0)
    assert np.all((delivered[late] >= 33.0) & (delivered[late] <= 36.0))
    delivered_hours = delivered % 24.0
    assert np.all((delivered_hours >= 9.0) & (delivered_hours <= 12.0))


def test_deliveries_follow_the_routes_and_overflow_waits_for_the_next_wave() -> None:
    world, _ = run(variant(2, 15, None, "ortools"))
    led = world.ledger
    status = np.asarray(led.status)
    shipped, delivered = np.asarray(led.shipped), np.asarray(led.delivered)
    allocated_at = np.asarray(led.allocated)
    north = world.regions.index("north")
    fwd = world.by_id["fwd_north"].index
    mine = (
        (status == ALLOCATED)
        & (np.asarray(world._region) == north)
        & (np.asarray(led.warehouse) == fwd)
    )
    assert mine.sum() > 200
    # each delivery comes after its wave left by at least the straight drive to its station
    stations = world.scenario.sites["north"].station_list()  # type: ignore[union-attr]
    depot = world.scenario.sites["fwd_north"].location
    station = np.asarray(world._station)
    drive = np.array([math.dist(depot, s.location) / 30.0 for s in stations])
    lower = shipped[mine] + drive[station[mine]]
    assert np.all(delivered[mine] >= lower - 1e-9)
    assert np.all(np.isfinite(delivered[mine]))
    # a wave's vans carry 30 units: in the livestream some orders wait beyond their packing wave
    waits = shipped[mine] - allocated_at[mine]
    assert waits.max() > 3.0 + 1e-6  # longer than one wave interval
    record = world.record  # type: ignore[attr-defined]
    kpis = compute(record)
    assert kpis["routing_waves"] > 0
    assert kpis["routing_fallbacks"] == 0
    assert kpis["routing_vehicles"] >= kpis["routing_waves"]


def last_mile(world: World) -> float:
    return sum(
        v for (part, _, _), v in world.ledger.cost_book.items() if part == "transport_last_mile"
    )


def test_routing_costs_are_booked_by_distance_and_vehicle() -> None:
    paid, recorders = run(variant(3, 30, None, "ortools"))
    free_data = variant(3, 30, None, "ortools")
    for lane in free_data["lanes"]:
        if "routing" in lane:
            lane["routing"]["fleet"].update(cost_per_km=0, cost_per_vehicle=0)
    free, _ = run(free_data)
    assert free.ledger.delivered == paid.ledger.delivered  # costs do not steer the routes
    routes = [r for rec in recorders for r in rec.in_run]
    expected = sum(1.2 * r.distance_km + 25 * len(r.routes) for r in routes)
    assert expected > 1000
    assert last_mile(paid) - last_mile(free) == pytest.approx(expected, rel=1e-9)


def test_routed_runs_are_deterministic() -> None:
    a, _ = run(copy.deepcopy(ROUTED), 1)
    b, _ = run(copy.deepcopy(ROUTED), 1)
    assert a.ledger.delivered == b.ledger.delivered


def test_a_daily_window_maps_to_the_first_occurrence_a_van_can_reach() -> None:
    nine_to_twelve = (9.0, 12.0)
    # leaving 13:00 on day 0 (a 0.5 h drive): today's window is closed, tomorrow's opens at 33 h
    assert window_on(nine_to_twelve, 13.0, 0.5, 0.1, None) == (33.0, 36.0)
    # leaving 10:00 on day 2: inside today's window
    assert window_on(nine_to_twelve, 58.0, 0.5, 0.1, None) == (57.0, 60.0)
    # arriving just before the close, with less than SLACK to spare: tomorrow's
    assert window_on(nine_to_twelve, 11.5 - SLACK / 2, 0.5, 0.1, None) == (33.0, 36.0)
    # a 6 h shift: leaving at 13:00 the van would wait ~20 h, so it cannot serve the kiosk
    assert window_on(nine_to_twelve, 13.0, 0.5, 0.1, 6.0) is None
    # leaving at 4:00 it waits 4.5 h, serves at 9:00 and is back at 9:36: inside 6 h
    assert window_on(nine_to_twelve, 28.0, 0.5, 0.1, 6.0) == (33.0, 36.0)
    assert window_on(nine_to_twelve, 27.0, 0.5, 0.1, 6.0) is None  # 6.6 h out


def test_the_first_wave_that_can_serve_a_window_is_found_or_none() -> None:
    kiosk = (9.0, 12.0)
    # hourly waves: from 13:00 the next wave that can serve 9–12 within 6 h leaves at 04:00
    assert next_serving_wave(kiosk, 13.0, 0.5, 0.1, 6.0, 0.0, 1.0) == 28.0
    # without a duration limit the very next wave can (its van waits overnight)
    assert next_serving_wave(kiosk, 13.0, 0.5, 0.1, None, 0.0, 1.0) == 13.0
    # waves every 6 h from 00:00 (0, 6, 12, 18): 06:00 can serve it (back by 9:36, 3.6 h out)
    assert next_serving_wave(kiosk, 7.0, 0.5, 0.1, 6.0, 0.0, 6.0) == 30.0
    # waves every 24 h at 13:00 can never serve it within 6 h
    assert next_serving_wave(kiosk, 13.0, 0.5, 0.1, 6.0, 13.0, 24.0) is None


@pytest.mark.parametrize(
    ("window", "problem"),
    [
        (["21h", "9h"], "sites.north.stations[0].window (=['21h', '9h']) must open (=21 h)"),
        (["9h", "25h"], "sites.north.stations[0].window (=['9h', '25h']) is daily hours"),
        (["9h"], "sites.north.stations[0].window (=['9h']) is missing item [1]"),
        (["9h", "9.05h"], "sites.north.stations[0].window (=[9.0, 9.05]) is out of reach"),
    ],
)
def test_a_bad_window_is_a_config_error_naming_it(window: list[str], problem: str) -> None:
    data = variant(3, 30, "3h", "ortools")
    data["sites"]["north"]["stations"][0]["window"] = window
    with pytest.raises(ConfigError) as info:
        scenario_from_data(data, "F")
    assert info.value.problems[0].startswith(f"F: {problem}"), info.value.problems


def test_a_station_too_far_for_the_fleets_shift_is_a_config_error() -> None:
    data = variant(3, 30, "30min", "ortools")
    with pytest.raises(ConfigError) as info:
        scenario_from_data(data, "F")
    assert (
        "lanes[3].routing.fleet.max_duration (=0.5) is shorter than a route to station"
        in (info.value.problems[0])
    )
