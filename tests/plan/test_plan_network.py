"""`twin plan network`: the design MIP on the scenario's own data, and a variant that simulates."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from twin.cli import app
from twin.config import load_scenario, scenario_from_data
from twin.kpi import compute
from twin.model.world import World
from twin.plan.network import design_inputs

REPO = Path(__file__).resolve().parents[2]
TINY = yaml.safe_load((REPO / "scenarios" / "tiny.yaml").read_text())


def scenario_file(tmp_path: Path, north: float, south: float) -> Path:
    data = copy.deepcopy(TINY)
    data["sites"]["fwd_north"]["fixed_cost"] = north
    data["sites"]["fwd_south"]["fixed_cost"] = south
    path = tmp_path / "design_me.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_an_expensive_warehouse_is_closed_and_the_variant_simulates(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, north=1e7, south=10.0)
    out = tmp_path / "variant.yaml"
    result = CliRunner().invoke(
        app, ["plan", "network", "--scenario", str(path), "--reps", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "open:   central, fwd_south" in result.stdout
    assert "closed: fwd_north" in result.stdout
    chosen = yaml.safe_load(out.read_text())
    assert "fwd_north" not in chosen["sites"]
    assert all("fwd_north" not in (ln["from"], ln["to"]) for ln in chosen["lanes"])
    kpis = compute(World(scenario_from_data(chosen, str(out))).run())
    assert kpis["cost_warehouse_fixed"] == pytest.approx(10.0)  # fwd_south's, over the horizon
    assert kpis["fill_rate"] > 0.5


def test_cheap_forward_warehouses_stay_open(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, north=0.0, south=0.0)
    result = CliRunner().invoke(app, ["plan", "network", "--scenario", str(path), "--reps", "1"])
    assert result.exit_code == 0, result.output
    assert "closed: -" in result.stdout


def test_design_inputs_come_from_the_scenarios_own_demand() -> None:
    scenario = load_scenario(REPO / "scenarios" / "tiny.yaml")
    data = design_inputs(scenario, reps=3)
    units = np.zeros(len(data.regions))
    for r in range(3):
        book = World(scenario, r).book
        owner, _, qty, _ = book.lines()
        units += np.bincount(book.region[owner], weights=qty, minlength=len(data.regions))
    assert np.allclose(data.demand, units / 3)
    # west is served by central alone; north by fwd_north (cheaper last mile) or central
    west, north = data.regions.index("west"), data.regions.index("north")
    assert np.isfinite(data.cost[west]).sum() == 1
    assert np.isfinite(data.cost[north]).sum() == 2
    assert data.must_open == ("central",)


def test_an_impossible_limit_exits_2() -> None:
    result = CliRunner().invoke(
        app,
        ["plan", "network", "--scenario", str(REPO / "scenarios" / "tiny.yaml"), "--max-open", "0"],
    )
    assert result.exit_code == 2
    assert "max_open (=0) must be an integer >= len(must_open) (=1)" in result.stderr
