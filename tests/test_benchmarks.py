"""The benchmarks' hooks into the model still fit it (they are not run by the suite, so check here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from twin.config import load_scenario

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_the_demand_clock_times_the_demand_draw_of_a_world() -> None:
    run = load("run")
    scenario = load_scenario(BENCH.parent / "scenarios" / "tiny.yaml")
    with run.demand_clock() as spent:
        run.World(scenario, 0)
    assert len(spent) == 1 and spent[0] > 0


def test_the_routed_flagship_variant_loads() -> None:
    routing = load("routing")
    scenario = routing.routed_flagship(stations=3)
    routed = [ln for ln in scenario.lanes if ln.routing is not None]
    assert len(routed) == 2


def test_the_throughput_bench_measures_both_local_executors_on_the_same_kpis() -> None:
    throughput = load("throughput")
    res = throughput.benchmark(BENCH.parent / "scenarios" / "tiny.yaml", 2, 2, cluster=False)
    assert res["identical_kpis"] is True
    assert [row["workers"] for row in res["runs"]] == [1, 2]
    assert all(row["reps_per_s"] > 0 for row in res["runs"])
