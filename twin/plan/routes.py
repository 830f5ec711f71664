"""`twin plan routes`: route one wave of orders from a warehouse, as the model would.

The orders file is a CSV with columns `order_id`, `station`, `units`; each station belongs to a
region that the warehouse serves on a routed lane. One CVRP is solved per region (one lane's fleet).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from twin.config.schema import LaneSpec, RegionSpec, Scenario, WarehouseSpec
from twin.errors import ConfigError
from twin.model.last_mile import RoutedLane, router_of
from twin.optimize.routing import Routes, RoutingError, RoutingProblem

COLUMNS = ("order_id", "station", "units")


@dataclass(frozen=True, slots=True)
class WavePlan:
    """The routes of one region's orders from the warehouse."""

    region: str
    carrier: str
    problem: RoutingProblem
    routes: Routes


def routed_lanes(scenario: Scenario, warehouse: str, source: str) -> dict[str, LaneSpec]:
    """The routed last-mile lanes out of `warehouse`, by region (one per region: the first)."""
    site = scenario.sites.get(warehouse)
    if not isinstance(site, WarehouseSpec):
        known = ", ".join(scenario.sites_of("warehouse"))
        raise ConfigError(
            f"{source}: --warehouse {warehouse!r} is not a warehouse (known: {known})"
        )
    lanes: dict[str, LaneSpec] = {}
    for lane in scenario.lanes:
        if lane.origin == warehouse and lane.routing is not None:
            lanes.setdefault(lane.destination, lane)
    if not lanes:
        raise ConfigError(f"{source}: warehouse {warehouse!r} has no routed lane (`routing:`)")
    return lanes


def read_orders(path: Path) -> list[tuple[str, str, int]]:
    """(order id, station, units) rows of an orders CSV; errors name the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(
            f"{path}: missing column(s) {', '.join(missing)}; need {', '.join(COLUMNS)}"
        )
    rows, problems = [], []
    for line, row in enumerate(reader, start=2):
        raw = (row.get("units") or "").strip()
        if not raw.isdigit() or int(raw) <= 0:
            problems.append(
                f"{path}: line {line}, column units (={raw!r}) must be a whole number > 0"
            )
            continue
        rows.append((row["order_id"], (row["station"] or "").strip(), int(raw)))
    if problems:
        raise ConfigError(problems)
    if not rows:
        raise ConfigError(f"{path}: no orders")
    return rows


def plan_routes(
    scenario: Scenario, warehouse: str, orders: Path, source: str = "<scenario>"
) -> list[WavePlan]:
    """Route the orders of `orders` from `warehouse`: one plan per region, in scenario order."""
    lanes = routed_lanes(scenario, warehouse, source)
    where: dict[str, tuple[str, int]] = {}
    for region in lanes:
        spec = scenario.sites[region]
        assert isinstance(spec, RegionSpec)
        for k, station in enumerate(spec.station_list()):
            where[station.id] = (region, k)
    by_region: dict[str, list[tuple[int, int, int]]] = {}
    problems = []
    for line, (_, station, units) in enumerate(read_orders(orders), start=2):
        if station not in where:
            problems.append(
                f"{orders}: line {line}, column station (={station!r}) is not a station of a region"
                f" {warehouse} routes to ({', '.join(sorted(where))})"
            )
            continue
        region, k = where[station]
        by_region.setdefault(region, []).append((line, k, units))
    if problems:
        raise ConfigError(problems)
    plans = []
    depot = scenario.sites[warehouse].location
    for region, lane in lanes.items():
        if region not in by_region:
            continue
        spec = scenario.sites[region]
        assert isinstance(spec, RegionSpec) and lane.routing is not None
        stations = spec.station_list()
        routed = RoutedLane(lane.routing, 0, depot, stations)
        try:
            problem = routed.problem(by_region[region], [s.id for s in stations])
            routes = router_of(lane.routing).solve(problem)
        except RoutingError as exc:
            raise RoutingError(f"{orders}: region {region!r} ({lane.carrier}): {exc}") from None
        plans.append(WavePlan(region, lane.carrier, problem, routes))
    return plans


def format_plans(plans: list[WavePlan]) -> str:
    """A plain-text table: one line per vehicle, then the totals."""
    lines = [f"{'region':<12} {'van':>3} {'load':>5} {'km':>8} {'back_h':>7}  stops"]
    for plan in plans:
        for n, route in enumerate(plan.routes.routes, start=1):
            stops = " → ".join(s.rsplit(":", 1)[0] for s in route.stops)
            lines.append(
                f"{plan.region:<12} {n:>3} {route.load:>5} {route.distance_km:>8.1f}"
                f" {route.end:>7.2f}  {stops}"
            )
    km = sum(p.routes.distance_km for p in plans)
    cost = sum(p.routes.cost for p in plans)
    vans = sum(len(p.routes.routes) for p in plans)
    fallback = any(p.routes.fallback for p in plans)
    lines.append(
        f"total: {vans} vans, {km:.1f} km, cost {cost:.2f}"
        + (" (solver gave no solution in time: heuristic routes)" if fallback else "")
    )
    return "\n".join(lines)
