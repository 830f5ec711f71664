"""Routing: exact optima on small instances, feasibility properties, CVRPLIB, validation and caching."""

from __future__ import annotations

import importlib.util
import itertools
import math
import random
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import TwinError
from twin.optimize.routing import (
    CachedRouter,
    Fleet,
    OrToolsRouter,
    Routes,
    RoutingError,
    RoutingParams,
    RoutingProblem,
    Stop,
    distance_matrix,
    from_vrplib,
    make_router,
    nearest_neighbour,
)

CVRP = Path(__file__).resolve().parents[1] / "data" / "cvrp"  # copies of ../shared/data/cvrp
SOLVERS = ["ortools", "pyvrp"]
BACKENDS = [*SOLVERS, "nearest"]


def router(backend: str, seconds: float = 0.2):
    if backend == "pyvrp":
        pytest.importorskip("pyvrp")
    return make_router(backend, RoutingParams(time_limit_s=seconds))


def check_feasible(problem: RoutingProblem, routes: Routes) -> None:
    """Recompute every route from the coordinates and assert each constraint."""
    stops = {s.id: s for s in problem.stops}
    visited = [sid for r in routes.routes for sid in r.stops]
    assert sorted(visited) == sorted(stops)
    assert len(routes.routes) <= problem.fleet.vehicles
    speed, total = problem.fleet.speed_kmh, 0.0
    for route in routes.routes:
        assert route.stops
        assert route.load == sum(stops[s].demand for s in route.stops) <= problem.fleet.capacity
        t, here, km = problem.start, problem.depot, 0.0
        for sid, arrival in zip(route.stops, route.arrivals, strict=True):
            stop = stops[sid]
            d = math.dist(here, (stop.x, stop.y))
            km, t = km + d, t + d / speed
            assert arrival == pytest.approx(t, abs=1e-9)
            if stop.window is not None:
                assert arrival <= stop.window[1] + 1e-6
                t = max(t, stop.window[0])
            t += stop.service
            here = (stop.x, stop.y)
        d = math.dist(here, problem.depot)
        assert route.end == pytest.approx(t + d / speed, abs=1e-9)
        assert route.distance_km == pytest.approx(km + d, rel=1e-12)
        if problem.fleet.max_duration is not None:
            assert route.end - problem.start <= problem.fleet.max_duration + 1e-6
        total += km + d
    assert routes.distance_km == pytest.approx(total, rel=1e-12)
    fleet = problem.fleet
    assert routes.cost == pytest.approx(
        fleet.cost_per_km * total + fleet.fixed_cost * len(routes.routes)
    )


# --- exact optima ----------------------------------------------------------------------------


def random_problem(seed: int, n: int, vehicles: int, tight: bool) -> RoutingProblem:
    rng = random.Random(seed)
    stops = tuple(
        Stop(f"s{i}", rng.uniform(0, 50), rng.uniform(0, 50), rng.randint(1, 5) if tight else 1)
        for i in range(n)
    )
    total = sum(s.demand for s in stops)
    capacity = max(max(s.demand for s in stops), math.ceil(0.6 * total)) if tight else n
    fleet = Fleet(vehicles, capacity, 30.0, cost_per_km=1.0)
    return RoutingProblem((rng.uniform(0, 50), rng.uniform(0, 50)), stops, fleet)


def brute_force(problem: RoutingProblem) -> float:
    """The optimal distance by enumerating splits into ≤ 2 routes × every order of each route."""
    dist, n = distance_matrix(problem), len(problem.stops)
    demand = [s.demand for s in problem.stops]

    @cache
    def tour(subset: frozenset[int]) -> float:
        if not subset:
            return 0.0
        best = math.inf
        for order in itertools.permutations(sorted(subset)):
            path = (0, *(i + 1 for i in order), 0)
            best = min(best, sum(dist[a, b] for a, b in itertools.pairwise(path)))
        return best

    everyone = frozenset(range(n))
    if problem.fleet.vehicles == 1:
        return tour(everyone)
    best = math.inf
    for k in range(n + 1):
        for first in map(frozenset, itertools.combinations(range(n), k)):
            loads = sum(demand[i] for i in first), sum(demand[i] for i in everyone - first)
            if max(loads) <= problem.fleet.capacity:
                best = min(best, tour(first) + tour(everyone - first))
    return best


EXACT = [(seed, 8, 1, False) for seed in (1, 2, 3)] + [(seed, 7, 2, True) for seed in (4, 5, 6)]


@pytest.mark.parametrize("backend", SOLVERS)
@pytest.mark.parametrize(("seed", "n", "vehicles", "tight"), EXACT)
def test_solvers_reach_the_brute_force_optimum(
    backend: str, seed: int, n: int, vehicles: int, tight: bool
) -> None:
    problem = random_problem(seed, n, vehicles, tight)
    optimum = brute_force(problem)
    assert math.isfinite(optimum)
    routes = router(backend, 0.3).solve(problem)
    check_feasible(problem, routes)
    assert not routes.fallback
    assert routes.cost == pytest.approx(optimum, rel=1e-6)


# --- feasibility property --------------------------------------------------------------------


@st.composite
def timed_problems(draw: st.DrawFn) -> RoutingProblem:
    """Windows and a duration limit that one vehicle per stop can always meet."""
    n = draw(st.integers(1, 8))
    coord = st.floats(0, 30, allow_nan=False)
    depot, start, speed = (draw(coord), draw(coord)), draw(st.floats(0, 10)), 30.0
    stops, alone = [], []
    for i in range(n):
        x, y = draw(coord), draw(coord)
        arrival = start + math.dist(depot, (x, y)) / speed
        window = None
        if draw(st.booleans()):
            opens = start + draw(st.floats(0, 3))
            window = (opens, max(opens + draw(st.floats(0.1, 4)), arrival + 0.01))
        service = draw(st.floats(0, 0.5))
        stops.append(Stop(f"s{i}", x, y, draw(st.integers(0, 6)), service, window))
        begin = arrival if window is None else max(arrival, window[0])
        alone.append(begin + service + math.dist(depot, (x, y)) / speed - start)
    max_duration = max(alone) + draw(st.floats(0.01, 3)) if draw(st.booleans()) else None
    capacity = max(6, draw(st.integers(1, 15)))
    return RoutingProblem(
        depot, tuple(stops), Fleet(n, capacity, speed, 1.0, 5.0, max_duration), start
    )


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=timed_problems())
def test_routes_are_feasible(backend: str, problem: RoutingProblem) -> None:
    routes = router(backend, 0.1).solve(problem)
    check_feasible(problem, routes)
    assert routes.duration == pytest.approx(max(r.end for r in routes.routes) - problem.start)
    stop = problem.stops[0]
    assert routes.arrival_of(stop.id) in next(
        r.arrivals for r in routes.routes if stop.id in r.stops
    )


# --- CVRPLIB ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", SOLVERS)
def test_cvrplib_e_n22_k4_within_five_percent(backend: str) -> None:
    vrplib = pytest.importorskip("vrplib")
    problem = from_vrplib(vrplib.read_instance(CVRP / "E-n22-k4.vrp"))
    routes = router(backend, 2.0).solve(problem)
    check_rounded = [r.load <= problem.fleet.capacity for r in routes.routes]
    assert all(check_rounded)
    assert sorted(s for r in routes.routes for s in r.stops) == sorted(s.id for s in problem.stops)
    assert routes.cost == routes.distance_km == float(int(routes.cost))  # integer arcs, as CVRPLIB
    assert 375 <= routes.cost <= 375 * 1.05


def test_rounded_metric_matches_the_cvrplib_solution_cost() -> None:
    vrplib = pytest.importorskip("vrplib")
    problem = from_vrplib(vrplib.read_instance(CVRP / "E-n22-k4.vrp"))
    dist = distance_matrix(problem)
    solution = vrplib.read_solution(CVRP / "E-n22-k4.sol")
    cost = sum(dist[a, b] for r in solution["routes"] for a, b in itertools.pairwise([0, *r, 0]))
    assert cost == solution["cost"] == 375


# --- edge cases ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_stops_gives_no_routes(backend: str) -> None:
    routes = router(backend).solve(RoutingProblem((0, 0), (), Fleet(2, 10, 30)))
    assert routes.routes == () and routes.distance_km == routes.cost == 0 and routes.duration == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_demand_stops_are_still_visited(backend: str) -> None:
    stops = (Stop("a", 3, 4, 0), Stop("b", -3, 4, 2))
    problem = RoutingProblem((0, 0), stops, Fleet(1, 2, 10, cost_per_km=2.0))
    routes = router(backend).solve(problem)
    check_feasible(problem, routes)
    assert routes.distance_km == pytest.approx(16.0) and routes.cost == pytest.approx(32.0)
    assert routes.arrival_of("a") in (pytest.approx(0.5), pytest.approx(1.1))


# --- bad input -------------------------------------------------------------------------------

FLEET = Fleet(2, 10, 30.0)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: RoutingProblem((0, 0), (Stop("a", 1, 1, 11),), FLEET),
            "stop 'a': demand (=11) exceeds vehicle capacity (=10)",
        ),
        (
            lambda: RoutingProblem((0, 0), tuple(Stop(f"s{i}", i, 0, 7) for i in range(3)), FLEET),
            "total demand (=21)",
        ),
        (lambda: Stop("neg", 1, 1, -1), "stop 'neg': demand (=-1) must be >= 0"),
        (
            lambda: RoutingProblem((0, 0), (Stop("a", 1, 1, 1), Stop("a", 2, 2, 1)), FLEET),
            "duplicate stop id 'a'",
        ),
        (
            lambda: Stop("w", 1, 1, 1, window=(5.0, 3.0)),
            "stop 'w': window (=(5.0, 3.0)) ends before it starts",
        ),
        (lambda: Stop("svc", 1, 1, 1, service=-0.1), "stop 'svc': service (=-0.1) must be >= 0"),
        (lambda: Fleet(2, 10, 0.0), "fleet.speed_kmh (=0.0) must be > 0"),
        (lambda: Fleet(2, 0, 30.0), "fleet.capacity (=0) must be > 0"),
        (lambda: Fleet(0, 10, 30.0), "fleet.vehicles (=0) must be > 0"),
        (lambda: Fleet(1, 10, 30.0, max_duration=0), "fleet.max_duration (=0) must be > 0"),
        (
            lambda: RoutingProblem((0, 0), (Stop("far", 30, 0, 1, window=(0.0, 0.5)),), FLEET),
            "stop 'far': window ends at 0.5 h, before the earliest possible arrival 1 h",
        ),
        (
            lambda: RoutingProblem(
                (0, 0), (Stop("far", 30, 0, 1),), Fleet(1, 10, 30.0, max_duration=1.5)
            ),
            "stop 'far': a route serving it alone takes 2 h, above fleet.max_duration (=1.5)",
        ),
        (
            lambda: RoutingProblem((0, 0), (), FLEET, metric="manhattan"),
            "metric (='manhattan') must be one of",
        ),
        (
            lambda: RoutingParams(first_solution="FASTEST"),
            "routing.first_solution (='FASTEST') must be one of",
        ),
        (lambda: RoutingParams(local_search="MAGIC"), "GUIDED_LOCAL_SEARCH, SIMULATED_ANNEALING"),
        (lambda: RoutingParams(time_limit_s=0), "routing.time_limit_s (=0) must be > 0"),
        (
            lambda: make_router("gurobi"),
            "routing backend (='gurobi') must be one of ortools, pyvrp, nearest",
        ),
    ],
)
def test_bad_input_raises_a_routing_error_naming_the_field(build, message: str) -> None:
    with pytest.raises(RoutingError) as err:
        build()
    assert message in str(err.value)
    assert isinstance(err.value, TwinError)


def test_pyvrp_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyvrp" else real(name, *a)
    )
    with pytest.raises(RoutingError, match=r"pip install twin\[pyvrp\]"):
        make_router("pyvrp")


# --- fallback and infeasibility --------------------------------------------------------------


def test_no_solver_solution_falls_back_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OrToolsRouter, "_search", lambda self, problem: None)
    problem = random_problem(7, 8, 2, True)
    cached = CachedRouter(make_router("ortools"))
    routes = cached.solve(problem)
    assert routes.fallback and routes.backend == "ortools"
    check_feasible(problem, routes)
    assert routes.routes == nearest_neighbour(problem).routes
    assert (cached.solves, cached.hits, cached.fallbacks) == (1, 0, 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_windows_no_router_can_meet_raise_naming_the_stop(backend: str) -> None:
    # each stop alone is reachable in time, but one vehicle cannot be on both sides by 0.4 h
    stops = (Stop("east", 10, 0, 1, window=(0.0, 0.4)), Stop("west", -10, 0, 1, window=(0.0, 0.4)))
    problem = RoutingProblem((0, 0), stops, Fleet(1, 10, 30.0))
    with pytest.raises(RoutingError, match=r"could not serve stops 'west'") as err:
        router(backend, 0.1).solve(problem)
    if backend != "nearest":
        assert f"{backend} found no feasible routes within 0.1 s" in str(err.value)


# --- cache -----------------------------------------------------------------------------------


class CountingRouter:
    def __init__(self) -> None:
        self.calls = 0

    def solve(self, problem: RoutingProblem) -> Routes:
        self.calls += 1
        return nearest_neighbour(problem)


def test_same_signature_is_a_cache_hit_renamed_to_the_new_ids() -> None:
    inner = CountingRouter()
    cached = CachedRouter(inner)
    first = random_problem(3, 6, 2, True)
    again = RoutingProblem(
        first.depot, tuple(Stop(f"o{s.id}", s.x, s.y, s.demand) for s in first.stops), first.fleet
    )
    other = RoutingProblem((0.0, 0.0), first.stops, first.fleet)
    assert (
        hash(first.signature()) == hash(again.signature())
        and first.signature() != other.signature()
    )
    a, b = cached.solve(first), cached.solve(again)
    assert inner.calls == 1 and (cached.solves, cached.hits, cached.fallbacks) == (1, 1, 0)
    assert [tuple(f"o{s}" for s in r.stops) for r in a.routes] == [r.stops for r in b.routes]
    assert cached.solve(first) is a
    cached.solve(other)
    assert inner.calls == 2 and (cached.solves, cached.hits) == (2, 2)


def test_plot_routes_draws_one_line_per_route() -> None:
    from matplotlib.figure import Figure

    from twin.optimize.routing import plot_routes

    problem = random_problem(2, 6, 2, True)
    routes = nearest_neighbour(problem)
    ax = plot_routes(problem, routes, Figure().subplots())
    assert len(ax.lines) == len(routes.routes) and ax.get_title().startswith("nearest")
