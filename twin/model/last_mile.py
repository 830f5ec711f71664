"""Routed last mile: each wave of a lane sends its vehicles on routes through the region's stations.

Orders packed for a wave wait in the wave's bucket. When the wave leaves, their units are summed per
station (in pieces no larger than a vehicle) and routed as a CVRP from the warehouse (`Router`,
OR-Tools by default, cached by signature). Each order is delivered when its vehicle reaches its
station; orders that do not fit the fleet wait for the next wave, first come first served.
"""

from __future__ import annotations

import math

from twin.config.schema import RoutingSpec, StationSpec
from twin.optimize.routing import (
    CachedRouter,
    Fleet,
    Router,
    Routes,
    RoutingError,
    RoutingParams,
    RoutingProblem,
    Stop,
    make_router,
)

Bucketed = tuple[int, int, int]
"""(order, station index, units) waiting for a wave."""


def pieces(
    label: str, location: tuple[float, float], units: int, capacity: int, service: float
) -> list[Stop]:
    """Stops `label:0`, `label:1`, ... at one place, splitting `units` into vehicle loads."""
    x, y = location
    return [
        Stop(f"{label}:{p}", x, y, min(capacity, units - p * capacity), service)
        for p in range(max(1, math.ceil(units / capacity)))
    ]


def delivered_by_label(routes: Routes, service: float) -> dict[str, float]:
    """Hours from departure until every piece of each label is handed over (arrival + service)."""
    out: dict[str, float] = {}
    for route in routes.routes:
        for stop, at in zip(route.stops, route.arrivals, strict=True):
            label = stop.rsplit(":", 1)[0]
            out[label] = max(out.get(label, 0.0), at + service)
    return out


def fleet_of(spec: RoutingSpec) -> Fleet:
    """The routing library's `Fleet` for a scenario's fleet."""
    f = spec.fleet
    return Fleet(
        f.vehicles, f.capacity, f.speed_kmh, f.cost_per_km, f.cost_per_vehicle, f.max_duration
    )


def router_of(spec: RoutingSpec) -> Router:
    """The scenario's solver with its settings (uncached)."""
    return make_router(
        spec.backend, RoutingParams(spec.time_limit, spec.first_solution, spec.local_search)
    )


class RoutedLane:
    """The routed deliveries of one last-mile lane (one warehouse, one region, one carrier)."""

    __slots__ = (
        "buckets",
        "depot",
        "fleet",
        "km",
        "router",
        "seconds",
        "service",
        "stations",
        "vehicles_sent",
        "warehouse",
        "waves_routed",
    )

    def __init__(
        self,
        spec: RoutingSpec,
        warehouse: int,
        depot: tuple[float, float],
        stations: list[StationSpec],
    ) -> None:
        self.fleet = fleet_of(spec)
        self.service = spec.fleet.service_time
        self.warehouse = warehouse
        self.depot = depot
        self.stations = [s.location for s in stations]
        self.router = CachedRouter(router_of(spec))
        self.buckets: dict[float, list[Bucketed]] = {}
        self.waves_routed = 0
        self.vehicles_sent = 0
        self.km = 0.0
        self.seconds = 0.0
        """Solver wall-clock seconds (for the benchmark's share of run time; not a model output)."""

    def add(self, wave: float, order: int, station: int, units: int) -> bool:
        """Put an order on the wave leaving at `wave`; True when it is that wave's first."""
        bucket = self.buckets.get(wave)
        if bucket is None:
            self.buckets[wave] = [(order, station, units)]
            return True
        bucket.append((order, station, units))
        return False

    def route(self, wave: float) -> tuple[list[tuple[int, float]], list[Bucketed], float]:
        """Send the wave out: (order, delivered) pairs, the orders left for later, and the cost.

        Orders board first come first served while the fleet has room; if the solver finds no
        routes for them (pieces that do not pack into the vehicles), the latest tenth waits too.
        """
        orders = self.buckets.pop(wave)
        room = self.fleet.vehicles * self.fleet.capacity
        take, load = 0, 0
        while take < len(orders) and load + orders[take][2] <= room:
            load += orders[take][2]
            take += 1
        if take == 0 and orders:
            take = 1  # an order bigger than the whole fleet goes alone, on every vehicle
        while True:
            try:
                arrival, cost = self._solve(orders[:take])
                break
            except RoutingError:
                if take == 1:
                    raise
                take -= max(1, take // 10)
        done = [(i, wave + arrival[s]) for i, s, _ in orders[:take]]
        return done, orders[take:], cost

    def problem(self, orders: list[Bucketed], names: list[str] | None = None) -> RoutingProblem:
        """The CVRP of a wave: each station's units in pieces of at most a vehicle's capacity.

        Stop ids are `station:piece` (station by index, or by `names` when given).
        """
        return RoutingProblem(self.depot, self._stops(orders, names), self.fleet)

    def _stops(self, orders: list[Bucketed], names: list[str] | None = None) -> tuple[Stop, ...]:
        units: dict[int, int] = {}
        for _, s, q in orders:
            units[s] = units.get(s, 0) + q
        cap, service = self.fleet.capacity, self.service
        return tuple(
            stop
            for s in sorted(units)
            for stop in pieces(
                str(s) if names is None else names[s], self.stations[s], units[s], cap, service
            )
        )

    def _solve(self, orders: list[Bucketed]) -> tuple[dict[int, float], float]:
        """Hours from the wave's departure to each station's delivery, and the routes' cost."""
        problem = self.problem(orders) if len(orders) > 1 else self._alone(orders)
        hits = self.router.hits
        routes = self.router.solve(problem)
        if self.router.hits == hits:
            self.seconds += routes.solve_seconds
        arrival = {int(s): h for s, h in delivered_by_label(routes, self.service).items()}
        self.waves_routed += 1
        self.vehicles_sent += len(routes.routes)
        self.km += routes.distance_km
        return arrival, routes.cost

    def _alone(self, orders: list[Bucketed]) -> RoutingProblem:
        """An order on its own, on as many vehicles as its pieces need (it may exceed the fleet)."""
        stops, f = self._stops(orders), self.fleet
        if len(stops) <= f.vehicles:
            return RoutingProblem(self.depot, stops, f)
        fleet = Fleet(
            len(stops), f.capacity, f.speed_kmh, f.cost_per_km, f.fixed_cost, f.max_duration
        )
        return RoutingProblem(self.depot, stops, fleet)


class MilkRuns:
    """Transfers out of one warehouse routed as one trip through several destinations."""

    __slots__ = ("depot", "fleet", "router", "service", "trips")

    def __init__(self, spec: RoutingSpec, depot: tuple[float, float]) -> None:
        self.fleet = fleet_of(spec)
        self.service = spec.fleet.service_time
        self.depot = depot
        self.router = CachedRouter(router_of(spec))
        self.trips = 0

    def plan(
        self, loads: dict[str, tuple[tuple[float, float], int]], trucks: float
    ) -> tuple[dict[str, float], float] | None:
        """Hours to each destination and the trip's cost, or None when trucks cost no more.

        `loads` maps each destination to (location, units); `trucks` is what a truck on each lane
        would cost. None also when the fleet cannot carry the loads in one trip.
        """
        cap, service = self.fleet.capacity, self.service
        stops = tuple(
            stop
            for dest, (where, units) in sorted(loads.items())
            for stop in pieces(dest, where, units, cap, service)
        )
        try:
            routes = self.router.solve(RoutingProblem(self.depot, stops, self.fleet))
        except RoutingError:
            return None
        if routes.cost >= trucks:
            return None
        self.trips += 1
        return delivered_by_label(routes, service), routes.cost
