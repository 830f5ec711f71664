"""Transfer milk-runs: one routed trip through several forward warehouses, taken only when it pays."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml

from twin.config import scenario_from_data
from twin.kpi import compute
from twin.model.world import World

REPO = Path(__file__).resolve().parents[2]
TINY = yaml.safe_load((REPO / "scenarios" / "tiny.yaml").read_text())


def with_milk_runs(cost_per_km: float) -> dict[str, Any]:
    data = copy.deepcopy(TINY)
    data["sites"]["central"]["milk_runs"] = {
        "fleet": {
            "vehicles": 2,
            "capacity": 2000,
            "speed_kmh": 40,
            "cost_per_km": cost_per_km,
            "cost_per_vehicle": 10,
        }
    }
    return data


def run(data: dict[str, Any]) -> tuple[World, dict[str, float]]:
    world = World(scenario_from_data(data, "tiny.yaml"))
    return world, compute(world.run())


def test_a_milk_run_replaces_two_trucks_when_it_is_cheaper() -> None:
    _, plain = run(copy.deepcopy(TINY))
    _, kpis = run(with_milk_runs(cost_per_km=0.2))
    # trucks to fwd_north and fwd_south cost 40 + 0.2/unit each; the loop central → north →
    # south → central is 40 + 80 + 40 = 160 km: 0.2 × 160 + 10 = 42 for both
    assert kpis["routing_milk_runs"] >= 8
    assert kpis["cost_transport_linehaul"] < plain["cost_transport_linehaul"] - 8 * 38
    assert kpis["fill_rate"] > 0.9 and plain["fill_rate"] > 0.9


def test_no_milk_run_when_trucks_are_cheaper() -> None:
    plain_world, plain = run(copy.deepcopy(TINY))
    world, kpis = run(with_milk_runs(cost_per_km=5.0))  # 5 × 160 + 10 = 810: never pays
    assert kpis["routing_milk_runs"] == 0
    assert world.ledger.delivered == plain_world.ledger.delivered
    assert math.isclose(kpis["cost_total"], plain["cost_total"], rel_tol=1e-12)


def test_a_milk_run_arrives_on_the_routes_timetable() -> None:
    data = with_milk_runs(cost_per_km=0.2)
    world = World(scenario_from_data(data, "tiny.yaml"))
    arrivals: list[tuple[float, str]] = []
    arrive = world._arrive

    def spy(now: float, w: Any, items: Any) -> None:
        if w.id != "central":  # the factory's trucks arrive there
            arrivals.append((now, w.id))
        arrive(now, w, items)

    world._arrive = spy  # type: ignore[method-assign]
    sent: list[float] = []
    milk_run = world._milk_run
    runs = world.milk_runs["central"]

    def timed(*args: Any) -> Any:
        before = runs.trips
        out = milk_run(*args)
        if runs.trips > before:
            sent.append(world.env.now)
        return out

    world._milk_run = timed  # type: ignore[method-assign]
    world.run()
    assert sent
    for t in sent:
        assert {w for now, w in arrivals if math.isclose(now, t + 1.0)} <= {
            "fwd_north",
            "fwd_south",
        }
        assert any(math.isclose(now, t + 3.0) for now, _ in arrivals)
