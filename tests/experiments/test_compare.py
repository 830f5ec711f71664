"""`twin compare` and `twin.experiments.compare` (DESIGN §8): paired differences on common random numbers.

Designs that share a seed see the same demand, transit times and returns, so the paired interval
of a difference is much narrower than what independent runs would give; identical designs differ
by exactly nothing; the command checks every input before it runs and writes nothing on a mistake.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from twin.cli import app
from twin.config.loader import read_yaml
from twin.experiments.compare import CompareResult, compare
from twin.experiments.executors import LocalExecutor
from twin.experiments.overrides import load_designs, override_scenario
from twin.report.compare import comparison_text, scenario_changes

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
FLAGSHIP = REPO / "scenarios" / "flagship_live_sale.yaml"
OUT_FILES = ("compare_kpis.csv", "compare_summary.csv", "compare_differences.csv", "report.html")


@pytest.fixture(scope="module")
def tiny_data() -> dict[str, Any]:
    return read_yaml(TINY)


def ratio(result: CompareResult, design: str, kpi: str) -> float:
    """Paired over unpaired 95 % half-width of `design − baseline` on `kpi`."""
    row = result.differences.loc[(design, kpi)]
    return float(row["half_width"] / row["unpaired_half_width"])


def write_variants(path: Path, variants: dict[str, dict[str, Any]], **changes: Any) -> Path:
    """tiny.yaml with `changes` at the top level and a `variants:` map, written to `path`."""
    data = {**read_yaml(TINY), **changes, "variants": variants}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def invoke(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["compare", *map(str, args)])


# ---------------------------------------------------------------- the comparison itself


def test_identical_designs_differ_by_exactly_nothing(tiny_data: dict[str, Any]) -> None:
    base = override_scenario(tiny_data, {})
    result = compare({"base": base, "same": base.model_copy()}, reps=4)
    diffs = result.differences.loc["same"]
    paired = diffs[diffs["n_pairs"] >= 2]
    assert {"fill_rate", "otd", "cost_total", "profit"} <= set(paired.index)
    assert (paired["diff"] == 0).all()
    assert (paired["half_width"] == 0).all()
    assert (paired["p_value"] == 1.0).all()
    kpis = result.kpis
    assert list(kpis["design"].unique()) == ["base", "same"]
    assert result.meta["paired"] is True


def test_half_the_base_stock_target_is_measurably_worse(tiny_data: dict[str, Any]) -> None:
    base = override_scenario(tiny_data, {})
    half = override_scenario(tiny_data, {"policies.forward_replenishment.target": 125})
    result = compare({"plan": base, "half_target": half}, reps=10)
    diff = result.differences.loc["half_target"]
    # never better service: fewer units forward can only ship later (tiny is over-provisioned,
    # so fill rate and OTD barely move), and it clearly shows in lead times and line-haul cost
    assert diff.loc["fill_rate", "diff"] <= 0
    assert diff.loc["otd", "diff"] <= 0
    assert diff.loc["lead_time_p95", "diff"] > 0
    assert diff.loc["lead_time_p95", "p_value"] < 0.05
    assert diff.loc["cost_transport_linehaul", "diff"] < 0
    assert diff.loc["cost_transport_linehaul", "p_value"] < 0.01


def test_paired_interval_narrower_on_tiny(tiny_data: dict[str, Any]) -> None:
    base = override_scenario(tiny_data, {})
    more = override_scenario(tiny_data, {"policies.forward_replenishment.target": 350})
    result = compare({"plan": base, "more_stock": more}, reps=8)
    # measured: cost_total 0.26, lead_time_p50 0.31, profit 0.42
    assert ratio(result, "more_stock", "cost_total") < 0.5
    assert ratio(result, "more_stock", "lead_time_p50") < 0.6
    assert ratio(result, "more_stock", "profit") < 0.7


@pytest.mark.slow
def test_paired_interval_much_narrower_on_flagship_variants() -> None:
    designs = load_designs(FLAGSHIP)
    chosen = {k: designs[k] for k in ("flagship_live_sale", "express_last_mile")}
    with LocalExecutor(2) as executor:
        result = compare(chosen, reps=6, executor=executor)
    assert result.meta["paired"] is True
    # measured with these 6 replications: fill_rate 0.002, otd 0.013, cost_total 0.15, profit
    # 0.009 (the uplift drawn per replication moves every design's KPIs together)
    assert ratio(result, "express_last_mile", "fill_rate") < 0.1
    assert ratio(result, "express_last_mile", "otd") < 0.1
    assert ratio(result, "express_last_mile", "cost_total") < 0.5
    # the express carrier costs more and delivers on time more often, both significantly
    express = result.differences.loc["express_last_mile"]
    assert express.loc["cost_total", "diff"] > 0 and express.loc["cost_total", "p_value"] < 0.01
    assert express.loc["otd", "diff"] > 0 and express.loc["otd", "p_value"] < 0.05


def test_flagship_variants_change_only_what_they_say() -> None:
    designs = load_designs(FLAGSHIP)
    assert list(designs) == [
        "flagship_live_sale",
        "more_forward_stock",
        "no_elastic",
        "express_last_mile",
    ]
    base = designs["flagship_live_sale"]
    assert {s.seed for s in designs.values()} == {base.seed}
    changed = {
        name: {path.split(".")[0] + "." + path.split(".")[1] for path, _, _ in found}
        for name, s in designs.items()
        if (found := scenario_changes(base, s))
    }
    assert changed == {
        "more_forward_stock": {"policies.forward_replenishment"},
        "no_elastic": {"sites.factory_sz"},
        "express_last_mile": {"policies.dispatch"},
    }


def test_comparison_text_shows_paired_and_unpaired(tiny_data: dict[str, Any]) -> None:
    base = override_scenario(tiny_data, {})
    more = override_scenario(tiny_data, {"policies.forward_replenishment.target": 350})
    text = comparison_text(compare({"plan": base, "more_stock": more}, reps=3))
    assert "baseline: plan" in text and "common random numbers (seed 7)" in text
    assert "± paired" in text and "± unpaired" in text and "p-value" in text
    for kpi in ("fill_rate", "immediate_fill_rate", "otd", "cost_total", "profit"):
        assert kpi in text


# ---------------------------------------------------------------- the command


def test_cli_writes_tables_and_report(tmp_path: Path) -> None:
    scenario = write_variants(
        tmp_path / "plan.yaml",
        {
            "more_stock": {"policies.forward_replenishment.target": 350},
            "half_stock": {"policies.forward_replenishment.target": 125},
        },
    )
    out = tmp_path / "out"
    result = invoke(scenario, "--reps", "3", "--out", out, "--baseline", "more_stock")
    assert result.exit_code == 0, result.output
    assert "baseline: more_stock" in result.stdout
    assert "± unpaired" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(OUT_FILES)

    kpis = pd.read_csv(out / "compare_kpis.csv")
    assert list(kpis["design"].unique()) == ["more_stock", "tiny", "half_stock"]
    assert len(kpis) == 9 and list(kpis.columns[:3]) == ["design", "replication", "seed"]
    summary = pd.read_csv(out / "compare_summary.csv", index_col=["design", "kpi"])
    assert {"mean", "half_width", "ci_low", "ci_high"} <= set(summary.columns)
    diffs = pd.read_csv(out / "compare_differences.csv", index_col=["design", "kpi"])
    assert set(diffs.index.get_level_values("design")) == {"tiny", "half_stock"}
    assert {"diff", "half_width", "p_value", "unpaired_half_width"} <= set(diffs.columns)

    html = (out / "report.html").read_text(encoding="utf-8").replace("<wbr>", "")
    forest = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="Forest', html)
    assert forest and len(forest.group(1)) > 1000
    assert "http://" not in html and "https://" not in html
    for name in ("more_stock", "tiny", "half_stock"):
        assert f"<strong>{name}</strong>" in html
    assert "policies.forward_replenishment.target</code>: 350 → <strong>125" in html
    assert "± unpaired" in html


def test_cli_two_files_with_the_same_scenario_name(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(TINY.read_text(encoding="utf-8"), encoding="utf-8")
    result = invoke(TINY, other, "--reps", "2", "--set", "policies.elastic.on_above=400")
    assert result.exit_code == 0, result.output
    assert "baseline: tiny:tiny" in result.stdout and "other:tiny" in result.stdout


def test_cli_warns_when_seeds_differ(tmp_path: Path) -> None:
    other = write_variants(tmp_path / "reseeded.yaml", {}, name="reseeded", seed=8)
    result = invoke(TINY, other, "--reps", "2")
    assert result.exit_code == 0, result.output
    assert "not compared on common random numbers" in result.stderr
    assert "NOT on common random numbers" in result.stdout


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("one_design", ["at least two designs", "two scenario files", "variants:"]),
        ("no_variants", ["at least two designs", "--no-variants"]),
        ("bad_variant_path", ["bad.yaml: variants.bad_variant:", "targt", "did you mean 'target'"]),
        ("bad_set_path", ["tiny.yaml: --set: policies.nope.target", "names no field"]),
        ("bad_set_syntax", ["--set 'seed'", "PATH=VALUE"]),
        ("unknown_baseline", ["--baseline (='planx')", "did you mean 'plan'", "tiny, plan"]),
        ("same_file_twice", ["given twice"]),
        ("bad_kpi", ["--kpi (='fill_rat')", "did you mean 'fill_rate'"]),
        ("bad_precision", ["--precision (=-0.1) must be > 0"]),
        ("bad_reps", ["--reps (=0) must be >= 1"]),
        ("missing_file", ["nowhere.yaml: file not found"]),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, case: str, expected: list[str]
) -> None:
    good = write_variants(
        tmp_path / "good.yaml", {"plan": {"policies.forward_replenishment.target": 350}}
    )
    bad = write_variants(
        tmp_path / "bad.yaml", {"bad_variant": {"policies.forward_replenishment.targt": 5}}
    )
    out = tmp_path / "out"
    args: dict[str, list[Any]] = {
        "one_design": [TINY],
        "no_variants": [good, "--no-variants"],
        "bad_variant_path": [TINY, bad],
        "bad_set_path": [TINY, good, "--set", "policies.nope.target=3"],
        "bad_set_syntax": [good, "--set", "seed"],
        "unknown_baseline": [good, "--baseline", "planx"],
        "same_file_twice": [good, good],
        "bad_kpi": [good, "--precision", "0.1", "--kpi", "fill_rat"],
        "bad_precision": [good, "--precision", "-0.1"],
        "bad_reps": [good, "--reps", "0"],
        "missing_file": [good, tmp_path / "nowhere.yaml"],
    }
    result = invoke(*args[case], "--out", out)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.stderr, result.stderr
    assert not out.exists()


def _replications(stdout: str) -> int:
    match = re.search(r"(\d+) replications each", stdout)
    assert match, stdout
    return int(match.group(1))


def test_cli_precision_stops_early_when_target_is_loose(tmp_path: Path) -> None:
    scenario = write_variants(
        tmp_path / "plan.yaml", {"more_stock": {"policies.forward_replenishment.target": 350}}
    )
    out = tmp_path / "out"
    args = ["--reps", "2", "--precision", "0.2", "--kpi", "cost_total", "--max-reps", "40"]
    result = invoke(scenario, *args, "--out", out)
    assert result.exit_code == 0, result.output
    n = _replications(result.stdout)
    assert 2 < n < 40  # more than the first round, fewer than the cap
    assert re.search(
        rf"precision: cost_total's 95 % half-width is .* after {n} replications", result.stdout
    )
    assert "NOT reached" not in result.stdout
    assert len(pd.read_csv(out / "compare_kpis.csv")) == 2 * n
    assert "precision: cost_total" in (out / "report.html").read_text(encoding="utf-8")


def test_cli_precision_stops_at_max_reps_when_target_is_impossible(tmp_path: Path) -> None:
    scenario = write_variants(
        tmp_path / "plan.yaml", {"more_stock": {"policies.forward_replenishment.target": 350}}
    )
    args = ["--reps", "2", "--precision", "1e-9", "--kpi", "cost_total", "--max-reps", "5"]
    result = invoke(scenario, *args)
    assert result.exit_code == 0, result.output
    assert _replications(result.stdout) == 5
    assert "precision: target NOT reached" in result.stdout
    assert "after 5 replications (--max-reps)" in result.stdout
