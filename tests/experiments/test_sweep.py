"""Grid sweeps (DESIGN §8): stable point order, points that are their scenarios, common random
numbers, the Pareto front, KPIs moving the expected way, and `twin sweep` end to end."""

from __future__ import annotations

import base64
import itertools
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from twin.cli import app
from twin.config import read_yaml
from twin.errors import ConfigError, TwinError
from twin.experiments.overrides import override_scenario
from twin.experiments.runner import kpi_frame, replicate, run_designs
from twin.experiments.stats import summarise
from twin.experiments.sweep import (
    SweepResult,
    grid_points,
    pareto_mask,
    parse_grid_option,
    parse_grid_options,
    plan_sweep,
    point_names,
    points_frame,
    sweep,
    write_sweep,
)
from twin.report.sweep import render_sweep_report

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
TARGET = "policies.forward_replenishment.target"  # forward base-stock target
S = "policies.central_replenishment.S"  # central order-up-to level
REVIEW = "policies.forward_replenishment.review"
GRID = {TARGET: [20, 100, 250], S: [900, 1400, 2500]}
REPS = 3
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"')


class Boom:
    """An executor that fails the test if anything is run on it."""

    workers = 1

    def map(self, fn: Any, tasks: Any, progress: Any = None) -> list[Any]:
        raise AssertionError("a replication ran although the grid was invalid")

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def result() -> SweepResult:
    return sweep(TINY, GRID, reps=REPS)


def grid_values(frame: pd.DataFrame, paths: list[str]) -> list[tuple[Any, ...]]:
    return list(frame[paths].itertuples(index=False, name=None))


# --- grid order --------------------------------------------------------------------------------


def test_points_are_the_product_first_path_slowest() -> None:
    grid = {"a.x": [3, 1, 2], "b": ["12h", "6h"]}
    expected = [(3, "12h"), (3, "6h"), (1, "12h"), (1, "6h"), (2, "12h"), (2, "6h")]
    assert [tuple(p.values()) for p in grid_points(grid)] == expected
    frame = points_frame(grid)
    assert list(frame.columns) == ["point", "a.x", "b"]
    assert list(frame["point"]) == [f"p{i:03d}" for i in range(6)]
    assert grid_values(frame, ["a.x", "b"]) == expected
    assert frame["a.x"].dtype == np.int64 and frame["b"].dtype == object


def test_point_names_sort_as_points_do() -> None:
    assert point_names(3) == ["p000", "p001", "p002"]
    assert point_names(1000)[-1] == "p999"
    names = point_names(1001)
    assert names[0] == "p0000" and names[-1] == "p1000" and sorted(names) == names


def test_same_grid_twice_gives_identical_frames(result: SweepResult) -> None:
    again = sweep(TINY, GRID, reps=REPS)
    for name in ("points", "kpis", "summary", "pareto"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(result, name), check_exact=True)
    assert list(result.points["point"]) == point_names(9)
    assert grid_values(result.points, [TARGET, S]) == list(itertools.product(*GRID.values()))


def test_reversed_grid_only_reorders_points(result: SweepResult) -> None:
    reversed_grid = {S: GRID[S], TARGET: GRID[TARGET]}
    other = sweep(TINY, reversed_grid, reps=REPS)
    assert list(other.points.columns) == ["point", S, TARGET]
    assert grid_values(other.points, [S, TARGET]) == list(itertools.product(GRID[S], GRID[TARGET]))
    # the same (target, S) pairs give the same replications, only in another order
    key = [TARGET, S, "replication"]
    mine = result.kpis.drop(columns="point").sort_values(key).reset_index(drop=True)
    theirs = other.kpis.drop(columns="point")[mine.columns].sort_values(key)
    pd.testing.assert_frame_equal(theirs.reset_index(drop=True), mine, check_exact=True)


# --- what a point is ---------------------------------------------------------------------------


def test_a_point_is_its_overridden_scenario(result: SweepResult) -> None:
    (point,) = result.points.loc[
        (result.points[TARGET] == 100) & (result.points[S] == 2500), "point"
    ]
    assert point == "p005"
    scenario = override_scenario(read_yaml(TINY), {TARGET: 100, S: 2500})
    assert result.designs[point] == scenario
    plain = replicate(scenario, REPS)
    mine = result.kpis[result.kpis["point"] == point].drop(columns=["point", TARGET, S])
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), plain.kpis, check_exact=True)
    by_design, _ = run_designs({"x": scenario}, REPS)
    pd.testing.assert_frame_equal(kpi_frame(by_design["x"]), plain.kpis, check_exact=True)
    summary = result.summary[result.summary["point"] == point].set_index("kpi")
    pd.testing.assert_frame_equal(
        summary.drop(columns=["point", TARGET, S]), plain.summary, check_exact=True
    )


def test_points_share_replications_seeds_and_demand(result: SweepResult) -> None:
    """Common random numbers: the same seed and indices, hence the same demand, at every point."""
    assert result.meta["paired"] is True and result.meta["seed"] == 7
    for _, rows in result.kpis.groupby("point"):
        assert list(rows["replication"]) == list(range(REPS))
        assert set(rows["seed"]) == {7}
    demand = result.kpis.pivot(index="replication", columns="point", values="units_demanded")
    assert (demand.nunique(axis=1) == 1).all()  # stock policies do not change what is ordered
    assert demand.iloc[:, 0].nunique() == REPS  # ... while replications differ
    assert set(result.summary["n"]) == {REPS}


def test_frames_have_the_documented_columns(result: SweepResult) -> None:
    assert list(result.kpis.columns[:5]) == ["point", TARGET, S, "replication", "seed"]
    assert list(result.summary.columns[:10]) == [
        "point", TARGET, S, "kpi", "mean", "std", "n", "half_width", "ci_low", "ci_high",
    ]  # fmt: skip
    assert len(result.summary) == 9 * result.summary["kpi"].nunique()
    first = result.kpis[result.kpis["point"] == "p000"].drop(columns=["point", TARGET, S])
    expected = summarise(first.reset_index(drop=True))
    got = result.summary[result.summary["point"] == "p000"].set_index("kpi")
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_exact=True)


def test_a_scenario_or_its_data_sweeps_like_its_file(result: SweepResult) -> None:
    grid = {TARGET: [100]}
    data = read_yaml(TINY)
    by_file = sweep(TINY, grid, reps=2)
    by_data = sweep(data, grid, reps=2)
    by_scenario = sweep(override_scenario(data, {}), grid, reps=2)
    for other in (by_data, by_scenario):
        pd.testing.assert_frame_equal(other.kpis, by_file.kpis, check_exact=True)
    first_two = result.kpis[(result.kpis[TARGET] == 100) & (result.kpis[S] == 1400)]
    pd.testing.assert_frame_equal(
        first_two.drop(columns=["point", S]).head(2).reset_index(drop=True),
        by_file.kpis.drop(columns="point"),
        check_exact=True,
    )


# --- Pareto front ------------------------------------------------------------------------------


def brute_force_front(cost: list[float], service: list[float]) -> list[bool]:
    def ok(i: int) -> bool:
        return math.isfinite(cost[i]) and math.isfinite(service[i])

    def dominates(j: int, i: int) -> bool:
        no_worse = cost[j] <= cost[i] and service[j] >= service[i]
        return no_worse and (cost[j] < cost[i] or service[j] > service[i])

    n = len(cost)
    return [ok(i) and not any(ok(j) and dominates(j, i) for j in range(n)) for i in range(n)]


values = st.one_of(st.integers(0, 4).map(float), st.just(math.nan), st.just(math.inf))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(values, values), max_size=14))
def test_pareto_mask_is_exactly_the_non_dominated_set(pairs: list[tuple[float, float]]) -> None:
    cost = [c for c, _ in pairs]
    service = [s for _, s in pairs]
    assert pareto_mask(cost, service).tolist() == brute_force_front(cost, service)


def test_pareto_mask_hand_built_ties() -> None:
    cost = [10, 10, 10, 12, 8, 8, 15, 12, math.nan, 20]
    service = [0.9, 0.95, 0.95, 0.97, 0.8, 0.8, 0.97, 0.99, 1.0, 0.99]
    # p1, p2 tie (both on); p0 loses to them at the same cost; p3 and p6 lose to p7;
    # p4, p5 tie at the lowest cost; NaN is never on; p9 costs more than p7 for the same service
    expected = [False, True, True, False, True, True, False, True, False, False]
    assert pareto_mask(cost, service).tolist() == expected
    assert expected == brute_force_front(cost, service)


def test_pareto_table_is_sorted_by_cost_and_flags_the_front(result: SweepResult) -> None:
    table = result.pareto
    assert len(table) == 9 and table["pareto"].dtype == bool
    assert list(table.columns[:5]) == ["point", TARGET, S, "cost_total", "fill_rate"]
    assert table["cost_total"].is_monotonic_increasing
    means = result.means().set_index("point")
    expected = brute_force_front(list(means["cost_total"]), list(means["fill_rate"]))
    assert set(result.front) == {p for p, on in zip(means.index, expected, strict=True) if on}
    by_otd = result.pareto_for("cost_total", "otd")
    assert by_otd["pareto"].sum() >= 1 and list(by_otd.columns[3:5]) == ["cost_total", "otd"]
    with pytest.raises(TwinError, match="not a KPI"):
        result.pareto_for("cost_totl", "otd")


# --- KPIs move the expected way ----------------------------------------------------------------


def test_more_stock_moves_kpis_the_expected_way(result: SweepResult) -> None:
    """Raising the central order-up-to level S holds more stock; raising the forward base-stock
    target keeps more near customers: more on time, more line-haul."""
    means = result.means().set_index([TARGET, S])
    for target in GRID[TARGET]:
        along_s = means.loc[target]
        assert along_s["cost_holding"].is_monotonic_increasing
        assert along_s["cost_holding"].diff().dropna().gt(0).all()
        assert along_s["leftover_units"].diff().dropna().gt(0).all()
        assert along_s["fill_rate"].diff().dropna().ge(0).all()
    for s in GRID[S]:
        along_target = means.xs(s, level=S)
        assert along_target["otd"].diff().dropna().ge(0).all()
        assert along_target["cost_transport_linehaul"].diff().dropna().gt(0).all()
        assert along_target["fill_rate"].diff().dropna().ge(0).all()


# --- parsing and validation --------------------------------------------------------------------


def test_parse_grid_option_reads_yaml_values() -> None:
    assert parse_grid_option("a.b=1, 2.5,1e3") == ("a.b", [1, 2.5, 1000.0])
    assert parse_grid_option("x=12h,true,[9h, 21h],{a: 1, b: 2},'p,q'") == (
        "x",
        ["12h", True, ["9h", "21h"], {"a": 1, "b": 2}, "p,q"],
    )
    assert list(parse_grid_options(["b=1", "a=2,3"])) == ["b", "a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("policies.x.target", "expected PATH=V1,V2"),
        ("=1,2", "expected PATH=V1,V2"),
        ("policies.x.target=", "no values"),
        ("policies.x.target=1,,2", "empty value"),
        ("a..b=1", "--grid 'a..b': not a field path"),
    ],
)
def test_malformed_grid_options_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_grid_option(text)


@pytest.mark.parametrize(
    ("grid", "sets", "message"),
    [
        ({TARGET: [100, "abc"]}, None, f"--grid {TARGET} (='abc')"),
        ({"sites.central.pick_pack.workers": [2, "x"]}, None, "(='x')"),
        ({"policies.forward_replenishment.targt": [1]}, None, "did you mean 'target'"),
        ({"lanes[30].capacity": [1]}, None, "--grid lanes[30].capacity has no item 30"),
        ({TARGET: []}, None, "no values"),
        ({TARGET: [100, 100.0]}, None, "given twice"),
        ({TARGET: [1], "policies.forward_replenishment": [{}]}, None, "overlaps"),
        ({"lanes[3].cost_per_shipment": [1], "lanes.3.cost_per_shipment": [2]}, None, "same"),
        ({TARGET: [1]}, {TARGET: 5}, f"names the same field as --set {TARGET}"),
        ({"seed": [1, 2]}, None, "cannot be swept"),
        ({"policies.central_replenishment.s": [100, 1500]}, None, "[at point p001"),
        ({}, None, "no grid"),
    ],
)
def test_bad_grids_fail_before_anything_runs(
    grid: dict[str, list[Any]], sets: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        sweep(TINY, grid, reps=2, executor=Boom(), overrides=sets)


def test_every_bad_value_is_reported_once() -> None:
    with pytest.raises(ConfigError) as err:
        plan_sweep(TINY, {TARGET: ["abc", 100, "xyz"], S: [900, 1400]})
    lines = err.value.problems
    assert sum("'abc'" in line for line in lines) == 1
    assert sum("'xyz'" in line for line in lines) == 1
    assert all(line.startswith(f"--grid {TARGET}") for line in lines[:-1])


# --- reports of other grid shapes --------------------------------------------------------------


def test_one_and_three_path_grids_render_and_write(tmp_path: Path) -> None:
    one = sweep(TINY, {TARGET: [20, 250]}, reps=2)
    html = render_sweep_report(one, ["otd"])
    alts = [alt for _, alt in IMG.findall(html)]
    assert alts == [
        f"Paired differences of each point against {one.reference}",
        f"otd by {TARGET}",
        "Pareto front of cost against service",
    ]
    three = sweep(TINY, {TARGET: [20, 250], S: [900, 2500], REVIEW: ["6h", "12h"]}, reps=2)
    assert three.points[REVIEW].tolist() == ["6h", "12h"] * 4
    paths = write_sweep(three, tmp_path, ["otd", "cost_total"])
    html = paths["report"].read_text(encoding="utf-8")
    assert [alt for _, alt in IMG.findall(html)][1:3] == [
        "Heatmap of otd by point",
        "Heatmap of cost_total by point",
    ]
    assert f"one panel per combination of <code>{REVIEW}</code>" in html
    for stem in ("sweep", "sweep_kpis"):
        csv = pd.read_csv(tmp_path / f"{stem}.csv")
        parquet = pd.read_parquet(tmp_path / f"{stem}.parquet")
        pd.testing.assert_frame_equal(csv, parquet, check_dtype=False)
    with pytest.raises(TwinError, match="--kpi 'routing_km' is not a KPI of this sweep"):
        write_sweep(three, tmp_path / "other", ["routing_km"])
    assert not (tmp_path / "other").exists()


# --- the command -------------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["sweep", str(TINY), *args])


def test_cli_writes_tables_and_report(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    run = invoke(
        "--grid", f"{TARGET}=20,250", "--grid", f"{S}=900,2500", "--reps", "2", "--out", str(out),
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    lines = run.stdout.splitlines()
    assert lines[0].split() == [
        "point", TARGET, S, "fill_rate", "otd", "cost_total", "front", "undominated",
    ]  # fmt: skip
    assert [line.split()[:3] for line in lines[1:5]] == [
        ["p000", "20", "900"], ["p001", "20", "2500"], ["p002", "250", "900"],
        ["p003", "250", "2500"],
    ]  # fmt: skip
    assert all("±" in line for line in lines[1:5])
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html", "sweep.csv", "sweep.parquet", "sweep_differences.csv", "sweep_kpis.csv",
        "sweep_kpis.parquet",
    ]  # fmt: skip
    summary_csv = pd.read_csv(out / "sweep.csv")
    summary_parquet = pd.read_parquet(out / "sweep.parquet")
    pd.testing.assert_frame_equal(summary_csv, summary_parquet, check_dtype=False)
    assert list(summary_csv.columns[:4]) == ["point", TARGET, S, "kpi"]
    assert len(summary_csv) == 4 * summary_csv["kpi"].nunique()
    kpis_csv = pd.read_csv(out / "sweep_kpis.csv")
    pd.testing.assert_frame_equal(
        kpis_csv, pd.read_parquet(out / "sweep_kpis.parquet"), check_dtype=False
    )
    assert len(kpis_csv) == 4 * 2
    html = (out / "report.html").read_text(encoding="utf-8")
    images = IMG.findall(html)
    alts = [alt for _, alt in images]
    assert "Heatmap of fill_rate by point" in alts and "Heatmap of cost_total by point" in alts
    assert "Pareto front of cost against service" in alts
    for data, _ in images:
        assert base64.b64decode(data).startswith(b"\x89PNG")
    assert not list(out.glob(".*tmp"))  # no temporary file left behind


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--grid", f"{TARGET[:-1]}=1,2"], f"--grid {TARGET[:-1]} names no field"),
        (["--grid", f"{TARGET}=100,abc"], f"--grid {TARGET} (='abc')"),
        (["--grid", "sites.central.pick_pack.workers=2,x"], "pick_pack.workers (='x')"),
        (["--grid", "lanes[30].capacity=1"], "--grid lanes[30].capacity has no item 30"),
        (["--grid", TARGET], f"--grid '{TARGET}': expected PATH=V1,V2"),
        (["--grid", f"{TARGET}="], f"--grid {TARGET}: no values"),
        (["--grid", f"{TARGET}=1,,2"], f"--grid {TARGET}=1,,2: an empty value"),
        (["--grid", f"{TARGET}=1", "--grid", f"{TARGET}=2"], f"--grid {TARGET}: given twice"),
        (["--grid", f"{TARGET}=1", "--kpi", "fill_rat"], "did you mean 'fill_rate'"),
    ],
)  # fmt: skip
def test_cli_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    out = tmp_path / "out"
    run = invoke(*args, "--reps", "2", "--out", str(out))
    assert run.exit_code == 2, run.output
    assert expected in run.stderr
    assert "Traceback" not in run.output
    assert not out.exists()
