"""`twin plan preposition`: SAA on the scenario's own demand, and a variant that simulates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from typer.testing import CliRunner

from twin.cli import app
from twin.config import load_scenario, scenario_from_data
from twin.model.world import World
from twin.plan.preposition import plan_preposition, preposition_inputs

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"


def test_scenarios_are_the_event_window_demand_of_each_replication() -> None:
    scenario = load_scenario(TINY)
    inputs = preposition_inputs(scenario, "launch", reps=3, window=24.0)
    assert inputs.start == 48.0 and inputs.duration == 3.0
    for rep in range(3):
        book = World(scenario, rep).book
        owner, line_sku, qty, _ = book.lines()
        t = book.created[owner]
        window = (t >= 48.0) & (t < 75.0)
        north = book.region[owner] == scenario.sites_of("region").index("north")
        lipstick = line_sku == 0
        expected = qty[window & north & lipstick].sum()
        assert inputs.problem.scenarios[rep, 0, 0] == expected  # fwd_north serves north
    plan = plan_preposition(inputs)
    # with recourse dearer than pushing, the plan covers at least the median demand
    median = np.median(inputs.problem.scenarios, axis=0)
    assert plan.quantities[("fwd_north", "lipstick")] >= median[0, 0]


def test_the_cli_prints_the_plan_and_writes_a_variant_that_runs(tmp_path: Path) -> None:
    out = tmp_path / "prep.yaml"
    result = CliRunner().invoke(
        app,
        [
            "plan",
            "preposition",
            "--scenario",
            str(TINY),
            "--event",
            "launch",
            "--reps",
            "20",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "fwd_north" in result.stdout and "expected cost" in result.stdout
    data = yaml.safe_load(out.read_text())
    policy = data["policies"]["forward_replenishment"]
    assert policy["kind"] == "preposition_plan"
    assert policy["events"][0]["start"] == 48.0
    world = World(scenario_from_data(data, str(out)))
    world.run()
    pushed = [
        d for t, p, d in world.ledger.decisions if p == "forward_replenishment" and 24 <= t < 51
    ]
    assert pushed  # transfers during the push window


def test_an_unknown_event_exits_2() -> None:
    result = CliRunner().invoke(
        app, ["plan", "preposition", "--scenario", str(TINY), "--event", "lunch"]
    )
    assert result.exit_code == 2
    assert "--event 'lunch' is not a livestream of the scenario (known: launch)" in result.stderr
