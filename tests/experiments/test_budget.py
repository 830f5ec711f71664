"""The work budget (`twin.experiments.budget`): refused before anything runs, named, liftable.

Over-budget cases run `twin` in a subprocess with a timeout, as a user would: each must exit 2
within seconds with a message naming the field and the estimate (before the budget they hung,
ran out of memory or aborted in C++). Cases that should pass with `--allow-large` lower the
budget in-process instead of running a truly huge scenario.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import twin.api
from twin.cli import app
from twin.config import load_scenario
from twin.config.schema import Scenario
from twin.errors import ConfigError, TwinError
from twin.experiments import budget, runner
from twin.experiments.overrides import load_designs

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
ROUTED = REPO / "scenarios" / "routed_last_mile.yaml"
FAST = 60.0
"""Seconds an over-budget case may take at most: start-up and loading take ~1-2 s, but a loaded
CI machine running other suites beside this one can be far slower; the message proves the rest."""


def twin_cli(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "twin", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )
    return proc, time.monotonic() - start


def tiny(**overrides: object) -> Scenario:
    (design,) = load_designs(TINY, dict(overrides), variants=False).values()
    return design


# --- the estimates ------------------------------------------------------------------------------


def test_the_shipped_scenarios_are_within_the_budget() -> None:
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        for name, scenario in load_designs(path).items():
            assert budget.scenario_problems(scenario) == [], (path, name)


def test_orders_are_baseline_plus_each_pulse_at_its_p90() -> None:
    # 20 orders/h × 96 h, plus P90 60 × 20/h × (3 h + 40 min)
    orders = budget.estimate_orders(load_scenario(TINY))
    assert orders.value == pytest.approx(20 * 96 + 60 * 20 * (3 + 40 / 60))
    # a pulse cut by the horizon counts its part inside
    cut = budget.estimate_orders(tiny(**{"demand.livestreams.launch.start": "95h"}))
    assert cut.value == pytest.approx(20 * 96 + 60 * 20 * 1.0)


def test_policy_rounds_ticks_and_routing_follow_their_periods() -> None:
    scenario = load_scenario(ROUTED)  # 96 h; reviews 6 h, 12 h, 2 h; two routed lanes
    assert budget.estimate_policy_rounds(scenario).value == pytest.approx(96 / 6 + 96 / 12 + 96 / 2)
    assert budget.estimate_ticks(scenario).value == pytest.approx(2 * 96 / 3)
    vehicle_waves, stops = budget.estimate_routing(scenario)
    assert vehicle_waves.value == pytest.approx(2 * 96 / 3 * 3)
    assert stops.value == 6 + 3  # the north region's 6 stations + 3 vans


def test_a_message_names_the_fields_and_the_estimate() -> None:
    big = tiny(**{"demand.baseline.orders_per_hour": 1e5, "horizon": "8760h"})
    with pytest.raises(ConfigError) as caught:
        budget.check_designs({"tiny": big}, 10, sources={"tiny": "scenarios/x.yaml"})
    (line,) = caught.value.problems
    assert line.startswith(
        "scenarios/x.yaml: demand.baseline.orders_per_hour (=1e+05) × horizon (=8760 h)"
    )
    # 876 M of baseline and 22 M of the livestream (P90 60 × 1e5/h × 3.67 h)
    assert "+ demand.livestreams.launch: uplift.p90 (=60) × orders_per_hour" in line
    assert "≈ 898 M orders per replication, over the budget of 10 M" in line
    assert line.endswith("lower them or pass --allow-large")


def test_allow_large_lifts_the_budget_but_not_the_hard_limits() -> None:
    big = tiny(**{"horizon": "876000h"})
    with pytest.raises(ConfigError):
        budget.check_designs({"big": big}, 1)
    budget.check_designs({"big": big}, 1, allow_large=True)
    with budget.allowing_large():
        budget.check_designs({"big": big}, 1)
    assert not budget.large_allowed()  # the context is undone on leaving
    nano = tiny(**{"policies.elastic.review": "1e-9h"})
    with pytest.raises(ConfigError, match=r"policies\.elastic\.review .* shortest period"):
        budget.check_designs({"nano": nano}, 1, allow_large=True)
    with pytest.raises(TwinError, match="limit of 10 M"):
        budget.check_reps(10**12, allow_large=True)


def test_the_python_api_refuses_before_any_replication(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_replication(task: object) -> None:
        raise AssertionError("a replication ran")

    monkeypatch.setattr(runner, "run_task", no_replication)
    big = tiny(**{"demand.baseline.orders_per_hour": 1e6})
    with pytest.raises(ConfigError, match=r"design 'tiny': demand\.baseline\.orders_per_hour"):
        twin.api.run(big, reps=2)
    with pytest.raises(TwinError, match=r"--max-reps \(=200000\)"):
        twin.api.run(load_scenario(TINY), reps=2, precision=0.01, max_reps=200_000)
    with pytest.raises(TwinError, match=r"--workers \(=10000\)"):
        twin.api.run(load_scenario(TINY), reps=2, workers=10_000)


def test_the_api_allow_large_runs_a_case_over_a_lowered_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(budget, "MAX_ORDERS", 1_000)  # tiny expects ~6 k orders
    scenario = load_scenario(TINY)
    with pytest.raises(ConfigError, match="over the budget of 1 k"):
        twin.api.run(scenario, reps=1)
    assert len(twin.api.run(scenario, reps=1, allow_large=True).kpis) == 1


# --- the commands -------------------------------------------------------------------------------

OVER = [
    pytest.param(
        ["--set", "policies.elastic.review=1e-9h"],
        "policies.elastic.review (=1e-09 h)",
        id="review-1e-9h",
    ),
    pytest.param(
        ["--set", "horizon=876000h"],
        "horizon (=8.76e+05 h)",
        id="horizon-100-years",
    ),
    pytest.param(
        ["--set", "demand.baseline.orders_per_hour=1e5", "--set", "horizon=8760h"],
        "demand.baseline.orders_per_hour (=1e+05) × horizon (=8760 h)",
        id="orders-1e5-per-hour",
    ),
    pytest.param(
        ["--set", "lanes[3].waves={every: 1e-6h}"],
        "lanes[3].waves.every (=1e-06 h)",
        id="waves-every-microhour",
    ),
    pytest.param(["--reps", str(10**12)], "--reps (=1000000000000)", id="reps-1e12"),
    pytest.param(["--reps", "200000"], "--reps (=200000)", id="reps-200k"),
    pytest.param(
        ["--workers", str(4 * budget.cpu_count() + 1)], "CPUs of this machine", id="workers"
    ),
]


@pytest.mark.parametrize(("args", "named"), OVER)
def test_run_refuses_work_over_the_budget_fast(args: list[str], named: str) -> None:
    proc, took = twin_cli("run", str(TINY), *args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert named in proc.stderr
    assert took < FAST, f"took {took:.1f} s"


def test_a_huge_fleet_exits_two_with_its_field_named() -> None:
    """It aborted in C++ (rc -6, no message); now the config bounds it, and the budget too."""
    proc, took = twin_cli(
        "run", str(ROUTED), "--reps", "1", "--set", "lanes[3].routing.fleet.vehicles=1000000"
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "lanes[3].routing.fleet.vehicles (=1000000)" in proc.stderr
    assert took < FAST


def test_the_budget_has_a_hard_fleet_limit_of_its_own() -> None:
    scenario = load_scenario(ROUTED)
    lane = scenario.lanes[3]
    assert lane.routing is not None
    fleet = lane.routing.fleet.model_copy(update={"vehicles": budget.HARD_MAX_VEHICLES + 1})
    routing = lane.routing.model_copy(update={"fleet": fleet})
    lanes = [*scenario.lanes[:3], lane.model_copy(update={"routing": routing}), *scenario.lanes[4:]]
    huge = scenario.model_copy(update={"lanes": lanes})  # past validation, as a caller could
    (problem,) = budget.scenario_problems(huge, allow_large=True)
    assert problem.startswith("lanes[3].routing.fleet.vehicles (=1001) is over the limit")


@pytest.mark.parametrize(
    "command",
    [
        ["run", str(TINY), "--reps", "1"],
        ["compare", str(TINY), "OTHER", "--reps", "1"],
        ["sweep", str(TINY), "--grid", "sites.central.pick_pack.workers=2,4", "--reps", "1"],
    ],
    ids=["run", "compare", "sweep"],
)
def test_allow_large_lets_a_case_over_a_lowered_budget_through(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "other.yaml"  # compare: tiny against a copy of itself under a new name
    other.write_text(TINY.read_text().replace("name: tiny", "name: other", 1))
    command = [str(other) if arg == "OTHER" else arg for arg in command]
    calls: list[object] = []
    real = runner.run_task

    def counted(task: runner.Task) -> object:
        calls.append(task)
        return real(task)

    monkeypatch.setattr(runner, "run_task", counted)
    monkeypatch.setattr(budget, "MAX_ORDERS", 1_000)  # tiny expects ~6 k orders
    refused = CliRunner().invoke(app, command)
    assert refused.exit_code == 2, refused.output
    assert "over the budget of 1 k; lower them or pass --allow-large" in refused.output
    assert calls == []  # refused before any replication
    allowed = CliRunner().invoke(app, [*command, "--allow-large"])
    assert allowed.exit_code == 0, allowed.output
    assert calls
    assert not budget.large_allowed()


def test_gate_refuses_over_the_budget_and_allow_large_lifts_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("reps: 2\nrules:\n  fill_rate: {max_drop: 0.05}\n")
    monkeypatch.setattr(budget, "MAX_ORDERS", 1_000)
    command = ["gate", "--baseline", str(TINY), "--candidate", str(TINY), "--rules", str(rules)]
    refused = CliRunner().invoke(app, command)
    assert refused.exit_code == 2, refused.output
    assert "tiny.yaml (design 'baseline'): demand.baseline.orders_per_hour" in refused.output
    allowed = CliRunner().invoke(app, [*command, "--allow-large"])
    assert allowed.exit_code in (0, 1), allowed.output  # a verdict, not a refusal


def test_the_cpu_count_is_this_process_affinity() -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert budget.cpu_count() == expected
