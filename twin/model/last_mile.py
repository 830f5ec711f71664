"""Routed last mile: each wave of a lane sends its vehicles on routes through the region's stations.

Orders packed for a wave wait in the wave's bucket. When the wave leaves, their units are summed per
station (in pieces no larger than a vehicle) and routed as a CVRP from the warehouse (`Router`,
OR-Tools by default, cached by signature); orders that do not fit the fleet wait for the next wave,
first come first served.

A station may have a daily delivery window. A wave to a region with windows routes a VRPTW on the
absolute clock: each windowed station gets the first occurrence of its window whose close a van can
reach, and vans wait for a window to open. A station no van could serve within the fleet's
`max_duration` on this wave (it would wait too long for the opening) is left out, and its orders
wait for the first later wave that can serve it.

An order is delivered when its van *begins service* at its station: on arrival, or when the window
opens if the van is early. That is the moment a window constrains (service must begin inside it),
so "delivered inside the window" is exact; the handover minutes after it are not counted.
"""

from __future__ import annotations

import math

from twin.config.schema import RoutingSpec, StationSpec
from twin.model.carrier import first_index_at_or_after
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
Window = tuple[float, float]
"""Hours (open, close): of the day in a station's spec, on the absolute clock in a routing problem."""

SLACK = 5.0 / 3600.0
"""Hours a van must have to spare against a window's close and against `max_duration` for a station
to count as servable on a wave: the solvers see whole seconds (travel and service rounded up, window
ends and the duration limit rounded down), so a visit feasible in floats with less to spare could
be one they cannot find."""
SCAN_DAYS = 60
"""How many days ahead to look for a wave that can serve a windowed station before giving up."""


def window_on(
    window: Window, depart: float, drive: float, service: float, max_duration: float | None
) -> Window | None:
    """The occurrence of a daily `window` that a van leaving at `depart` serves; None if it cannot.

    That is the first occurrence whose close the van reaches, driving `drive` hours straight there,
    with `SLACK` to spare. None when waiting there for the opening would keep it out (there and
    back, plus `service`) longer than `max_duration`: a later occurrence only opens later.
    """
    opens, closes = window
    arrival = depart + drive
    day = math.ceil((arrival + SLACK - closes) / 24.0)
    start, end = 24.0 * day + opens, 24.0 * day + closes
    if arrival > end - SLACK:  # rounding at the day boundary: the next day's
        start, end = start + 24.0, end + 24.0
    if max_duration is not None:
        out = (arrival if arrival > start else start) + service + drive - depart
        if out > max_duration - SLACK:
            return None
    return (start, end)


def next_serving_wave(
    window: Window,
    after: float,
    drive: float,
    service: float,
    max_duration: float | None,
    first: float,
    every: float,
) -> float | None:
    """The first wave (`first + n * every`) at or after `after` that can serve a windowed station.

    Each day, the departures that can serve it run from `max_duration` before the end of a visit
    begun at the opening, to the last one that still arrives before the close; the answer is the
    first wave inside such a stretch. None when no wave falls in one within `SCAN_DAYS`.
    """
    opens, closes = window
    at_least = first_index_at_or_after(after, first, every)
    day = math.floor((after + drive - closes) / 24.0)
    for d in range(day, day + SCAN_DAYS + 1):
        latest = 24.0 * d + closes - drive - SLACK
        earliest = after
        if max_duration is not None:
            earliest = max(after, 24.0 * d + opens + service + drive - max_duration + SLACK)
        if earliest > latest:
            continue
        wave = first + max(at_least, first_index_at_or_after(earliest, first, every)) * every
        if window_on(window, wave, drive, service, max_duration) is not None:
            return wave
    return None


def pieces(
    label: str,
    location: tuple[float, float],
    units: int,
    capacity: int,
    service: float,
    window: Window | None = None,
) -> list[Stop]:
    """Stops `label:0`, `label:1`, ... at one place, splitting `units` into vehicle loads."""
    x, y = location
    return [
        Stop(f"{label}:{p}", x, y, min(capacity, units - p * capacity), service, window)
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


def service_begins(problem: RoutingProblem, routes: Routes) -> dict[str, float]:
    """When service begins at each label (arrival, or the window's opening if later): its last piece's.

    Hours on the problem's clock.
    """
    windows = {s.id: s.window for s in problem.stops}
    out: dict[str, float] = {}
    for route in routes.routes:
        for stop, at in zip(route.stops, route.arrivals, strict=True):
            window = windows[stop]
            begin = at if window is None or at >= window[0] else window[0]
            label = stop.rsplit(":", 1)[0]
            out[label] = max(out.get(label, begin), begin)
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
        "drive",
        "fleet",
        "km",
        "router",
        "seconds",
        "service",
        "stations",
        "vehicles_sent",
        "warehouse",
        "waves_routed",
        "windows",
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
        self.windows: list[Window | None] = [s.window for s in stations]
        """Each station's daily window; all None when the region has none (a plain CVRP)."""
        self.drive = [math.dist(depot, s.location) / self.fleet.speed_kmh for s in stations]
        """Hours of a straight drive from the warehouse to each station (and back)."""
        self.router = CachedRouter(router_of(spec))
        self.buckets: dict[float, list[Bucketed]] = {}
        self.waves_routed = 0
        self.vehicles_sent = 0
        self.km = 0.0
        self.seconds = 0.0
        """Solver wall-clock seconds (for the benchmark's share of run time; not a model output)."""

    @property
    def timed(self) -> bool:
        """Whether some station has a window (waves then route on the absolute clock)."""
        return any(w is not None for w in self.windows)

    def add(self, wave: float, order: int, station: int, units: int) -> bool:
        """Put an order on the wave leaving at `wave`; True when it is that wave's first."""
        bucket = self.buckets.get(wave)
        if bucket is None:
            self.buckets[wave] = [(order, station, units)]
            return True
        bucket.append((order, station, units))
        return False

    def windows_at(self, wave: float) -> tuple[list[Window | None], set[int]]:
        """Each station's window occurrence for a wave leaving at `wave`, and those it can't serve.

        A station without a window maps to None; one the wave cannot serve (the van would wait too
        long for the opening) is in the returned set.
        """
        out: list[Window | None] = []
        blocked: set[int] = set()
        for s, window in enumerate(self.windows):
            at = None
            if window is not None:
                at = window_on(window, wave, self.drive[s], self.service, self.fleet.max_duration)
                if at is None:
                    blocked.add(s)
            out.append(at)
        return out, blocked

    def next_serving_wave(
        self, station: int, after: float, first: float, every: float
    ) -> float | None:
        """The first wave at or after `after` that can serve `station` inside its window.

        Waves leave at `first + n * every`; None if none can (see the module's `next_serving_wave`).
        """
        window = self.windows[station]
        if window is None:
            return first + first_index_at_or_after(after, first, every) * every
        return next_serving_wave(
            window, after, self.drive[station], self.service, self.fleet.max_duration, first, every
        )

    def route(
        self, wave: float
    ) -> tuple[list[tuple[int, float]], list[Bucketed], list[Bucketed], float]:
        """Send the wave out: (order, delivered) pairs, orders for later waves, and the cost.

        The orders for later waves come in two lists: those left for the next wave, and those
        whose station's window this wave cannot serve (they wait for a wave that can). Orders
        board first come first served while the fleet has room; if the solver finds no routes for
        them (pieces that do not pack into the vehicles, or windows they cannot all meet), the
        latest tenth waits too.
        """
        orders = self.buckets.pop(wave)
        windows: list[Window | None] | None = None
        held: list[Bucketed] = []
        if self.timed:
            windows, blocked = self.windows_at(wave)
            if blocked:
                held = [o for o in orders if o[1] in blocked]
                orders = [o for o in orders if o[1] not in blocked]
                if not orders:
                    return [], [], held, 0.0
        room = self.fleet.vehicles * self.fleet.capacity
        take, load = 0, 0
        while take < len(orders) and load + orders[take][2] <= room:
            load += orders[take][2]
            take += 1
        if take == 0 and orders:
            take = 1  # an order bigger than the whole fleet goes alone, on every vehicle
        while True:
            try:
                begins, cost = self._solve(orders[:take], wave, windows)
                break
            except RoutingError:
                if take == 1:
                    raise
                take -= max(1, take // 10)
        done = [(i, begins[s]) for i, s, _ in orders[:take]]
        return done, orders[take:], held, cost

    def problem(
        self,
        orders: list[Bucketed],
        names: list[str] | None = None,
        windows: list[Window | None] | None = None,
        start: float = 0.0,
    ) -> RoutingProblem:
        """The CVRP(TW) of a wave: each station's units in pieces of at most a vehicle's capacity.

        Stop ids are `station:piece` (station by index, or by `names` when given). `windows` (by
        station, absolute hours) and the departure `start` give it time windows; none by default.
        """
        return RoutingProblem(self.depot, self._stops(orders, names, windows), self.fleet, start)

    def _stops(
        self,
        orders: list[Bucketed],
        names: list[str] | None = None,
        windows: list[Window | None] | None = None,
    ) -> tuple[Stop, ...]:
        units: dict[int, int] = {}
        for _, s, q in orders:
            units[s] = units.get(s, 0) + q
        cap, service = self.fleet.capacity, self.service
        return tuple(
            stop
            for s in sorted(units)
            for stop in pieces(
                str(s) if names is None else names[s],
                self.stations[s],
                units[s],
                cap,
                service,
                None if windows is None else windows[s],
            )
        )

    def _solve(
        self, orders: list[Bucketed], wave: float, windows: list[Window | None] | None
    ) -> tuple[dict[int, float], float]:
        """When service begins at each station (absolute hours), and the routes' cost.

        Without windows the problem starts at 0 (the wave's own clock, which lets the cache match
        waves of different times); with windows it starts at `wave` on the absolute clock.
        """
        start = 0.0 if windows is None else wave
        if len(orders) > 1:
            problem = self.problem(orders, windows=windows, start=start)
        else:
            problem = self._alone(orders, windows, start)
        hits = self.router.hits
        routes = self.router.solve(problem)
        if self.router.hits == hits:
            self.seconds += routes.solve_seconds
        offset = wave - start  # 0.0 on the absolute clock, so times pass through exactly
        begins = {int(s): offset + h for s, h in service_begins(problem, routes).items()}
        self.waves_routed += 1
        self.vehicles_sent += len(routes.routes)
        self.km += routes.distance_km
        return begins, routes.cost

    def _alone(
        self, orders: list[Bucketed], windows: list[Window | None] | None, start: float
    ) -> RoutingProblem:
        """An order on its own, on as many vehicles as its pieces need (it may exceed the fleet)."""
        stops, f = self._stops(orders, windows=windows), self.fleet
        if len(stops) <= f.vehicles:
            return RoutingProblem(self.depot, stops, f, start)
        fleet = Fleet(
            len(stops), f.capacity, f.speed_kmh, f.cost_per_km, f.fixed_cost, f.max_duration
        )
        return RoutingProblem(self.depot, stops, fleet, start)


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
