"""Vehicle routing for waves and milk-runs: a CVRP with optional time windows and route durations.

Problems are frozen, validated data; a `Router` (OR-Tools, PyVRP or nearest neighbour) turns one
into `Routes`. Every backend's distances, arrivals and costs are recomputed here in floats from
the coordinates, so their results compare exactly; the solvers only see integer copies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from twin.errors import TwinError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from twin.optimize.routing_backends import OrToolsRouter, PyVrpRouter

METRICS = ("euclidean", "rounded")
"""`euclidean`: exact distances; `rounded`: each arc rounded to the nearest integer, as CVRPLIB does."""

TIME_SCALE = 3600
"""Solver time unit per hour (seconds); travel and service times are rounded up, so a schedule the
solver accepts stays feasible when recomputed in floats."""

_EPS = 1e-9


class RoutingError(TwinError):
    """A routing problem is invalid, or no router (fallback included) could serve every stop."""


@dataclass(frozen=True, slots=True)
class Stop:
    """A place to visit: coordinates in km, demand in units, service in hours, window in absolute hours."""

    id: str
    x: float
    y: float
    demand: int
    service: float = 0.0
    window: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.demand < 0:
            raise RoutingError(f"stop {self.id!r}: demand (={self.demand}) must be >= 0")
        if self.service < 0:
            raise RoutingError(f"stop {self.id!r}: service (={self.service}) must be >= 0")
        if self.window is not None and self.window[1] < self.window[0]:
            raise RoutingError(f"stop {self.id!r}: window (={self.window}) ends before it starts")


@dataclass(frozen=True, slots=True)
class Fleet:
    """Identical vehicles: how many, their capacity (units), speed (km/h) and costs."""

    vehicles: int
    capacity: int
    speed_kmh: float
    cost_per_km: float = 0.0
    fixed_cost: float = 0.0
    max_duration: float | None = None

    def __post_init__(self) -> None:
        for name in ("vehicles", "capacity", "speed_kmh"):
            if not getattr(self, name) > 0:
                raise RoutingError(f"fleet.{name} (={getattr(self, name)}) must be > 0")
        for name in ("cost_per_km", "fixed_cost"):
            if getattr(self, name) < 0:
                raise RoutingError(f"fleet.{name} (={getattr(self, name)}) must be >= 0")
        if self.max_duration is not None and not self.max_duration > 0:
            raise RoutingError(f"fleet.max_duration (={self.max_duration}) must be > 0")


@dataclass(frozen=True, slots=True)
class RoutingProblem:
    """One wave: vehicles leave `depot` at `start` (hours), serve every stop and come back.

    A route's duration runs from `start` to its return, waiting for windows included.
    """

    depot: tuple[float, float]
    stops: tuple[Stop, ...]
    fleet: Fleet
    start: float = 0.0
    metric: str = "euclidean"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise RoutingError(f"metric (={self.metric!r}) must be one of {', '.join(METRICS)}")
        seen: set[str] = set()
        cap = self.fleet.capacity
        for stop in self.stops:
            if stop.id in seen:
                raise RoutingError(f"duplicate stop id {stop.id!r}")
            seen.add(stop.id)
            if stop.demand > cap:
                raise RoutingError(
                    f"stop {stop.id!r}: demand (={stop.demand}) exceeds vehicle capacity (={cap})"
                )
        total = sum(s.demand for s in self.stops)
        if total > self.fleet.vehicles * cap:
            raise RoutingError(
                f"total demand (={total}) exceeds the fleet's capacity "
                f"(={self.fleet.vehicles} vehicles × {cap} = {self.fleet.vehicles * cap})"
            )
        self._check_reachable()

    def _check_reachable(self) -> None:
        """Reject stops no vehicle could serve even on a route of its own."""
        if not self.stops or not self.timed:
            return
        dist, speed = distance_matrix(self), self.fleet.speed_kmh
        for i, stop in enumerate(self.stops, start=1):
            arrival = self.start + dist[0, i] / speed
            begin = arrival if stop.window is None else max(arrival, stop.window[0])
            if stop.window is not None and arrival > stop.window[1] + _EPS:
                raise RoutingError(
                    f"stop {stop.id!r}: window ends at {stop.window[1]:g} h, "
                    f"before the earliest possible arrival {arrival:g} h"
                )
            back = begin + stop.service + dist[i, 0] / speed
            if (
                self.fleet.max_duration is not None
                and back - self.start > self.fleet.max_duration + _EPS
            ):
                raise RoutingError(
                    f"stop {stop.id!r}: a route serving it alone takes {back - self.start:g} h, "
                    f"above fleet.max_duration (={self.fleet.max_duration:g})"
                )

    @property
    def timed(self) -> bool:
        """Whether time matters to feasibility (any window, or a duration limit)."""
        return self.fleet.max_duration is not None or any(s.window is not None for s in self.stops)

    def signature(self) -> tuple[Any, ...]:
        """A hashable key of everything that shapes the routes (stop ids excluded)."""
        stops = tuple((s.x, s.y, s.demand, s.service, s.window) for s in self.stops)
        return (self.depot, stops, self.fleet, self.start, self.metric)


@dataclass(frozen=True, slots=True)
class Route:
    """One vehicle's tour: the stops in order, with arrival times (hours) and its return `end`."""

    stops: tuple[str, ...]
    distance_km: float
    load: int
    arrivals: tuple[float, ...]
    end: float
    start: float = 0.0

    @property
    def duration(self) -> float:
        """Hours from leaving the depot to coming back."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Routes:
    """A router's answer: the non-empty routes, their total distance and cost, and how it was found."""

    routes: tuple[Route, ...]
    distance_km: float
    cost: float
    backend: str
    fallback: bool = False
    solve_seconds: float = 0.0

    def arrival_of(self, stop_id: str) -> float:
        """When the vehicle reaches `stop_id` (absolute hours; it may then wait for the window)."""
        for route in self.routes:
            if stop_id in route.stops:
                return route.arrivals[route.stops.index(stop_id)]
        raise KeyError(f"stop {stop_id!r} is on no route")

    @property
    def duration(self) -> float:
        """Hours from the first departure to the last return (0 with no routes)."""
        if not self.routes:
            return 0.0
        return max(r.end for r in self.routes) - min(r.start for r in self.routes)


@dataclass(frozen=True, slots=True)
class RoutingParams:
    """Search settings: a wall-clock budget, OR-Tools strategy names, and the seed PyVRP uses."""

    time_limit_s: float = 1.0
    first_solution: str = "PATH_CHEAPEST_ARC"
    local_search: str = "GUIDED_LOCAL_SEARCH"
    seed: int = 0

    def __post_init__(self) -> None:
        from ortools.constraint_solver import routing_enums_pb2 as enums

        if not self.time_limit_s > 0:
            raise RoutingError(f"routing.time_limit_s (={self.time_limit_s}) must be > 0")
        if self.seed < 0:
            raise RoutingError(f"routing.seed (={self.seed}) must be >= 0")
        for name, enum in (
            ("first_solution", enums.FirstSolutionStrategy.Value),
            ("local_search", enums.LocalSearchMetaheuristic.Value),
        ):
            allowed = [k for k in enum.keys() if k != "UNSET"]  # noqa: SIM118 (protobuf enum)
            if getattr(self, name) not in allowed:
                raise RoutingError(
                    f"routing.{name} (={getattr(self, name)!r}) must be one of {', '.join(allowed)}"
                )


class Router(Protocol):
    """Anything that routes a problem."""

    def solve(self, problem: RoutingProblem) -> Routes:
        """Serve every stop of `problem`, or raise `RoutingError`."""
        ...


def distance_matrix(problem: RoutingProblem) -> np.ndarray:
    """Distances (km) between the depot (node 0) and the stops (node i+1), in the problem's metric."""
    pts = np.array([problem.depot, *((s.x, s.y) for s in problem.stops)], dtype=float)
    dist = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    return np.floor(dist + 0.5) if problem.metric == "rounded" else dist


def make_routes(
    problem: RoutingProblem,
    tours: list[list[int]],
    backend: str,
    *,
    fallback: bool = False,
    seconds: float = 0.0,
) -> Routes:
    """Build `Routes` from tours of stop indices (0-based), scheduling each as early as possible."""
    dist, speed, stops = distance_matrix(problem), problem.fleet.speed_kmh, problem.stops
    routes = []
    for tour in tours:
        if not tour:
            continue
        t, prev, km, arrivals = problem.start, 0, 0.0, []
        for i in tour:
            km += dist[prev, i + 1]
            t += dist[prev, i + 1] / speed
            arrivals.append(t)
            window = stops[i].window
            t = (t if window is None else max(t, window[0])) + stops[i].service
            prev = i + 1
        km += dist[prev, 0]
        end = t + dist[prev, 0] / speed
        load = sum(stops[i].demand for i in tour)
        ids = tuple(stops[i].id for i in tour)
        routes.append(Route(ids, float(km), load, tuple(arrivals), end, problem.start))
    total = sum(r.distance_km for r in routes)
    cost = problem.fleet.cost_per_km * total + problem.fleet.fixed_cost * len(routes)
    return Routes(tuple(routes), total, cost, backend, fallback, seconds)


def nearest_neighbour(problem: RoutingProblem) -> Routes:
    """Greedy routes: go to the nearest stop that fits capacity, window and duration; else go home.

    Raises `RoutingError` naming the stops left over when the fleet runs out.
    """
    dist, speed, fleet, stops = (
        distance_matrix(problem),
        problem.fleet.speed_kmh,
        problem.fleet,
        problem.stops,
    )
    left = set(range(len(stops)))
    tours: list[list[int]] = []
    while left and len(tours) < fleet.vehicles:
        tour: list[int] = []
        t, node, load = problem.start, 0, 0
        while True:
            best, best_d, best_t = -1, math.inf, 0.0
            for i in sorted(left):
                d = dist[node, i + 1]
                if d >= best_d or load + stops[i].demand > fleet.capacity:
                    continue
                arrival, window = t + d / speed, stops[i].window
                if window is not None and arrival > window[1] + _EPS:
                    continue
                done = (arrival if window is None else max(arrival, window[0])) + stops[i].service
                back = done + dist[i + 1, 0] / speed - problem.start
                if fleet.max_duration is not None and back > fleet.max_duration + _EPS:
                    continue
                best, best_d, best_t = i, d, done
            if best < 0:
                break
            tour.append(best)
            left.discard(best)
            t, node, load = best_t, best + 1, load + stops[best].demand
        if not tour:
            break
        tours.append(tour)
    if left:
        names = ", ".join(repr(stops[i].id) for i in sorted(left))
        raise RoutingError(
            f"nearest neighbour could not serve stops {names} with {fleet.vehicles} vehicles "
            f"(capacity, windows or max_duration)"
        )
    return make_routes(problem, tours, "nearest")


@dataclass(frozen=True, slots=True)
class NearestRouter:
    """The nearest-neighbour heuristic as a `Router` (instant, no optimisation)."""

    def solve(self, problem: RoutingProblem) -> Routes:
        """Route `problem` greedily."""
        return nearest_neighbour(problem)


class CachedRouter:
    """Remembers routes by `problem.signature()` within a run, counting solves, hits and fallbacks."""

    __slots__ = ("_cache", "fallbacks", "hits", "inner", "solves")

    def __init__(self, inner: Router) -> None:
        self.inner = inner
        self.solves = 0
        self.hits = 0
        self.fallbacks = 0
        self._cache: dict[tuple[Any, ...], tuple[tuple[str, ...], Routes]] = {}

    def solve(self, problem: RoutingProblem) -> Routes:
        """Return the cached routes (renamed to this problem's stop ids) or solve and remember."""
        key = problem.signature()
        ids = tuple(s.id for s in problem.stops)
        if key in self._cache:
            self.hits += 1
            cached_ids, routes = self._cache[key]
            return (
                routes
                if cached_ids == ids
                else _rename(routes, dict(zip(cached_ids, ids, strict=True)))
            )
        routes = self.inner.solve(problem)
        self.solves += 1
        self.fallbacks += routes.fallback
        self._cache[key] = (ids, routes)
        return routes


def _rename(routes: Routes, names: Mapping[str, str]) -> Routes:
    """The same routes with stop ids renamed (for a cache hit on a problem with other ids)."""
    renamed = tuple(replace(r, stops=tuple(names[s] for s in r.stops)) for r in routes.routes)
    return replace(routes, routes=renamed)


BACKENDS = ("ortools", "pyvrp", "nearest")


def make_router(backend: str, params: RoutingParams | None = None) -> Router:
    """The router named `backend` (one of `BACKENDS`), configured by `params`."""
    from twin.optimize.routing_backends import OrToolsRouter, PyVrpRouter

    params = params or RoutingParams()
    if backend == "ortools":
        return OrToolsRouter(params)
    if backend == "pyvrp":
        return PyVrpRouter(params)
    if backend == "nearest":
        return NearestRouter()
    raise RoutingError(f"routing backend (={backend!r}) must be one of {', '.join(BACKENDS)}")


def from_vrplib(instance: Mapping[str, Any], vehicles: int | None = None) -> RoutingProblem:
    """A CVRPLIB instance (a `vrplib.read_instance` dict) as a problem with rounded distances.

    The fleet defaults to one vehicle per stop (CVRPLIB's unlimited fleet); speed is 1 km/h.
    """
    coords, demand = np.asarray(instance["node_coord"], dtype=float), instance["demand"]
    depot = int(instance["depot"][0])
    stops = tuple(
        Stop(str(i), float(coords[i, 0]), float(coords[i, 1]), int(demand[i]))
        for i in range(len(coords))
        if i != depot
    )
    fleet = Fleet(vehicles or len(stops), int(instance["capacity"]), 1.0, cost_per_km=1.0)
    return RoutingProblem(
        (float(coords[depot, 0]), float(coords[depot, 1])), stops, fleet, metric="rounded"
    )


def plot_routes(problem: RoutingProblem, routes: Routes, ax: Axes) -> Axes:
    """Draw the depot, the stops and each route as a closed line on `ax`."""
    where = {s.id: (s.x, s.y) for s in problem.stops}
    ax.scatter([s.x for s in problem.stops], [s.y for s in problem.stops], s=12, c="grey", zorder=2)
    ax.scatter(*problem.depot, marker="s", s=60, c="black", zorder=3)
    for n, route in enumerate(routes.routes):
        pts = [problem.depot, *(where[s] for s in route.stops), problem.depot]
        ax.plot(*zip(*pts, strict=True), lw=1.2, label=f"route {n + 1} ({route.load})")
    ax.set_title(f"{routes.backend}: {routes.distance_km:.1f} km, cost {routes.cost:.1f}")
    ax.set_aspect("equal")
    return ax


__all__ = [
    "BACKENDS",
    "METRICS",
    "CachedRouter",
    "Fleet",
    "NearestRouter",
    "OrToolsRouter",
    "PyVrpRouter",
    "Route",
    "Router",
    "Routes",
    "RoutingError",
    "RoutingParams",
    "RoutingProblem",
    "Stop",
    "distance_matrix",
    "from_vrplib",
    "make_router",
    "make_routes",
    "nearest_neighbour",
    "plot_routes",
]


def __getattr__(name: str) -> Any:
    """Re-export the solver backends lazily (they import this module, and PyVRP is optional)."""
    if name in ("OrToolsRouter", "PyVrpRouter"):
        from twin.optimize import routing_backends

        return getattr(routing_backends, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
