"""The solver backends of `twin.optimize.routing`: OR-Tools (pywrapcp) and PyVRP (optional).

Both see the same integer data (`IntegerData`): distances in metres (or CVRPLIB's integers as they
are) and times in seconds relative to the wave's start, rounded so that solver-feasible is
float-feasible. When a solver returns nothing feasible, the nearest-neighbour heuristic answers
instead and the result says `fallback=True`.
"""

from __future__ import annotations

import importlib.util
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from twin.optimize.routing import (
    TIME_SCALE,
    Routes,
    RoutingError,
    RoutingParams,
    RoutingProblem,
    distance_matrix,
    make_routes,
    nearest_neighbour,
)

DISTANCE_SCALE = {"euclidean": 1000, "rounded": 1}
"""Solver distance units per km: metres for exact distances; CVRPLIB integers are already exact.

Metres keep PyVRP's penalties (at most 1e5 per unit of excess load) above any detour saving."""

_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class IntegerData:
    """A problem in solver units; node 0 is the depot, node i+1 is stop i."""

    distance: list[list[int]]
    travel: list[list[int]]
    service: list[int]
    demand: list[int]
    windows: list[tuple[int, int] | None]
    horizon: int
    fixed_cost: int

    @classmethod
    def of(cls, problem: RoutingProblem) -> IntegerData:
        """Scale and round `problem`: distances to nearest, times up, window ends and limits down."""
        dist, fleet, start = distance_matrix(problem), problem.fleet, problem.start
        scale = DISTANCE_SCALE[problem.metric]
        travel = np.ceil(dist / fleet.speed_kmh * TIME_SCALE - _TOL).astype(np.int64)
        service = [0] + [math.ceil(s.service * TIME_SCALE - _TOL) for s in problem.stops]
        if fleet.max_duration is not None:
            horizon = math.floor(fleet.max_duration * TIME_SCALE + _TOL)
        else:
            opens = [max(0.0, s.window[0] - start) for s in problem.stops if s.window is not None]
            horizon = math.ceil(max(opens, default=0.0) * TIME_SCALE) + sum(service)
            horizon += (len(service) + 1) * int(travel.max())
        windows: list[tuple[int, int] | None] = [None]
        for s in problem.stops:
            if s.window is None:
                windows.append(None)
                continue
            early = max(0, math.ceil((s.window[0] - start) * TIME_SCALE - _TOL))
            windows.append(
                (early, min(horizon, math.floor((s.window[1] - start) * TIME_SCALE + _TOL)))
            )
        rate = fleet.cost_per_km or 1.0
        return cls(
            distance=np.rint(dist * scale).astype(np.int64).tolist(),
            travel=travel.tolist(),
            service=service,
            demand=[0] + [s.demand for s in problem.stops],
            windows=windows,
            horizon=horizon,
            fixed_cost=round(fleet.fixed_cost / rate * scale),
        )


def _solve(
    problem: RoutingProblem,
    name: str,
    search: Callable[[RoutingProblem], list[list[int]] | None],
    limit: float,
) -> Routes:
    """Run `search`; if it finds nothing, answer with nearest neighbour marked as a fallback."""
    t0 = time.perf_counter()
    if not problem.stops:
        return make_routes(problem, [], name)
    tours = search(problem)
    if tours is not None:
        return make_routes(problem, tours, name, seconds=time.perf_counter() - t0)
    try:
        routes = nearest_neighbour(problem)
    except RoutingError as err:
        raise RoutingError(
            f"{name} found no feasible routes within {limit:g} s, and {err}"
        ) from err
    return replace(routes, backend=name, fallback=True, solve_seconds=time.perf_counter() - t0)


@dataclass(frozen=True, slots=True)
class OrToolsRouter:
    """CVRP(TW) with OR-Tools' routing library: capacity and (when timed) time dimensions.

    OR-Tools' routing search takes no seed; `params.seed` is ignored here.
    """

    params: RoutingParams = field(default_factory=RoutingParams)

    def solve(self, problem: RoutingProblem) -> Routes:
        """Route `problem` within `params.time_limit_s`, falling back to nearest neighbour."""
        return _solve(problem, "ortools", self._search, self.params.time_limit_s)

    def _search(self, problem: RoutingProblem) -> list[list[int]] | None:
        """The tours (stop indices) OR-Tools finds, or None when it finds none."""
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2

        data, fleet = IntegerData.of(problem), problem.fleet
        manager = pywrapcp.RoutingIndexManager(len(data.demand), fleet.vehicles, 0)
        model = pywrapcp.RoutingModel(manager)
        # matrices are indexed by node, and evaluated in C++ (no Python callback per arc)
        arc = model.RegisterTransitMatrix(data.distance)
        model.SetArcCostEvaluatorOfAllVehicles(arc)
        if data.fixed_cost:
            model.SetFixedCostOfAllVehicles(data.fixed_cost)
        demand = model.RegisterUnaryTransitVector(data.demand)
        model.AddDimensionWithVehicleCapacity(
            demand, 0, [fleet.capacity] * fleet.vehicles, True, "load"
        )
        if problem.timed:
            # leaving node i takes its service time plus the travel; slack is waiting for a window
            transit = [
                [s + t for t in row] for s, row in zip(data.service, data.travel, strict=True)
            ]
            model.AddDimension(
                model.RegisterTransitMatrix(transit), data.horizon, data.horizon, False, "time"
            )
            clock = model.GetDimensionOrDie("time")
            for node, window in enumerate(data.windows):
                if window is not None:
                    clock.CumulVar(manager.NodeToIndex(node)).SetRange(*window)
            for v in range(fleet.vehicles):
                clock.CumulVar(model.Start(v)).SetRange(0, 0)
        search = pywrapcp.DefaultRoutingSearchParameters()
        search.first_solution_strategy = getattr(
            routing_enums_pb2.FirstSolutionStrategy, self.params.first_solution
        )
        search.local_search_metaheuristic = getattr(
            routing_enums_pb2.LocalSearchMetaheuristic, self.params.local_search
        )
        search.time_limit.FromMicroseconds(round(self.params.time_limit_s * 1e6))
        solution = model.SolveWithParameters(search)
        if solution is None:
            return None
        tours = []
        for v in range(fleet.vehicles):
            index, tour = solution.Value(model.NextVar(model.Start(v))), []
            while not model.IsEnd(index):
                tour.append(manager.IndexToNode(index) - 1)
                index = solution.Value(model.NextVar(index))
            tours.append(tour)
        return tours


@dataclass(frozen=True, slots=True)
class PyVrpRouter:
    """CVRP(TW) with PyVRP's iterated local search, stopped by `MaxRuntime(params.time_limit_s)`.

    PyVRP ignores the OR-Tools strategy names; it uses `params.seed` for its random number generator.
    """

    params: RoutingParams = field(default_factory=RoutingParams)

    def __post_init__(self) -> None:
        if importlib.util.find_spec("pyvrp") is None:
            raise RoutingError("PyVRP backend needs `pip install twin[pyvrp]`")

    def solve(self, problem: RoutingProblem) -> Routes:
        """Route `problem` within `params.time_limit_s`, falling back to nearest neighbour."""
        return _solve(problem, "pyvrp", self._search, self.params.time_limit_s)

    def _search(self, problem: RoutingProblem) -> list[list[int]] | None:
        """The tours (stop indices) PyVRP finds, or None when its best solution is infeasible."""
        from pyvrp import ActivityType, Model
        from pyvrp.exceptions import PenaltyBoundWarning
        from pyvrp.stop import MaxRuntime

        data, fleet = IntegerData.of(problem), problem.fleet
        model = Model()
        places = [model.add_location(*problem.depot)]
        places += [model.add_location(s.x, s.y) for s in problem.stops]
        model.add_depot(places[0])
        for i, stop in enumerate(problem.stops, start=1):
            window = data.windows[i] or (0, data.horizon)
            tw = {"tw_early": window[0], "tw_late": window[1]} if problem.timed else {}
            model.add_client(
                places[i],
                delivery=[stop.demand],
                service_duration=data.service[i],
                name=stop.id,
                **tw,
            )
        shift = {"tw_early": 0, "start_late": 0, "tw_late": data.horizon} if problem.timed else {}
        if fleet.max_duration is not None:
            shift["shift_duration"] = data.horizon
        model.add_vehicle_type(
            fleet.vehicles, capacity=[fleet.capacity], fixed_cost=data.fixed_cost, **shift
        )
        for i, frm in enumerate(places):
            for j, to in enumerate(places):
                if i != j:
                    model.add_edge(frm, to, data.distance[i][j], data.travel[i][j])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PenaltyBoundWarning)
            result = model.solve(
                MaxRuntime(self.params.time_limit_s),
                seed=self.params.seed,
                collect_stats=False,
                display=False,
            )
        if not result.best.is_feasible():
            return None
        return [
            [a.idx for a in route.schedule() if a.type == ActivityType.CLIENT]
            for route in result.best.routes()
        ]


__all__ = ["DISTANCE_SCALE", "IntegerData", "OrToolsRouter", "PyVrpRouter"]
