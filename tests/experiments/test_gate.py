"""`twin gate`: the one-sided paired test, its type-I error, its exit codes and its reports.

Model-based tests use `tests/data/gate_tight.yaml` (tiny with a tight factory, where switching
elastic capacity off makes service measurably worse) and `scenarios/tiny.yaml`.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.config import Scenario, load_scenario, scenario_from_data
from twin.errors import ConfigError
from twin.experiments.executors import LocalExecutor
from twin.experiments.gate import (
    GateResult,
    Tolerance,
    excess,
    gate,
    judge,
    load_pair,
    load_rules,
    rules_from_data,
    to_junit,
    to_markdown,
)

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
TIGHT = REPO / "tests" / "data" / "gate_tight.yaml"
DEFAULT_RULES = REPO / "configs" / "gate.yaml"
ELASTIC_OFF = "policies.elastic.on_above=100000"
ELASTIC_ON = "policies.elastic.on_above=1500"

RULES_TEXT = """\
level: 0.05
reps: 6
rules:
  fill_rate: {max_drop: 0.005}
  otd: {max_drop: 0.01}
  cost_total: {max_rise_pct: 2}
"""


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "gate.yaml"
    path.write_text(RULES_TEXT)
    return path


def twin_gate(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["gate", *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def gate_on(file: Path, rules: Path, *extra: str | Path) -> tuple[int, str, str]:
    return twin_gate("--baseline", file, "--candidate", file, "--rules", rules, *extra)


# --- the statistic on synthetic data ------------------------------------------------------------


def test_excess_follows_the_four_rules() -> None:
    b, c = np.array([10.0, 20.0]), np.array([9.0, 23.0])
    np.testing.assert_allclose(excess(b, c, Tolerance(max_drop=0.5)), [0.5, -3.5])
    np.testing.assert_allclose(excess(b, c, Tolerance(max_rise=0.5)), [-1.5, 2.5])
    np.testing.assert_allclose(excess(b, c, Tolerance(max_rise_pct=10)), [-2.0, 1.0])
    np.testing.assert_allclose(excess(b, c, Tolerance(max_drop_pct=10)), [0.0, -5.0])


def test_no_variance_fails_iff_the_excess_is_positive() -> None:
    same = np.array([0.9, 0.95, 0.97])
    verdict = judge(same, same, Tolerance(max_drop=0.01))
    assert not verdict["failed"] and verdict["p_value"] == 1.0 and verdict["excess"] == -0.01
    assert not judge(same, same, Tolerance(max_drop=0))["failed"]  # w = 0 is not worse
    assert judge(same, same - 0.02, Tolerance(max_drop=0.01))["failed"]  # every pair 0.02 worse
    assert judge(same, same - 0.02, Tolerance(max_drop=0.01))["p_value"] == 0.0


def test_non_finite_pairs_are_dropped_and_too_few_pairs_fail() -> None:
    b = np.array([1.0, np.nan, 3.0, 4.0])
    c = np.array([1.0, 2.0, np.inf, 4.5])
    verdict = judge(b, c, Tolerance(max_rise=0))
    assert verdict["n"] == 2 and math.isclose(verdict["excess"], 0.25)
    few = judge(np.array([1.0, np.nan]), np.array([1.0, 1.0]), Tolerance(max_rise=0))
    assert few["n"] == 1 and few["failed"] and math.isnan(few["p_value"])


def test_a_clearly_worse_candidate_fails_and_a_better_one_passes() -> None:
    rng = np.random.default_rng(3)
    b = rng.normal(0.95, 0.01, 20)
    assert judge(b, b - 0.02 + rng.normal(0, 0.002, 20), Tolerance(max_drop=0.005))["failed"]
    assert not judge(b, b + 0.01 + rng.normal(0, 0.002, 20), Tolerance(max_drop=0.005))["failed"]


@pytest.mark.parametrize(
    ("tolerance", "shift"),
    [
        # candidate means exactly at the tolerance: the boundary of H0, where P(fail) = level
        (Tolerance(max_drop=0), lambda b: b),
        (Tolerance(max_drop=0.5), lambda b: b - 0.5),
        (Tolerance(max_rise=2), lambda b: b + 2),
        (Tolerance(max_rise_pct=2), lambda b: 1.02 * b),
        (Tolerance(max_drop_pct=5), lambda b: 0.95 * b),
    ],
)
def test_type_one_error_on_normal_data_is_the_level(tolerance: Tolerance, shift) -> None:
    """Independent normal designs at the boundary of H0: the t-test is exact, rate ≈ level."""
    rng = np.random.default_rng(20240611)
    level, m, n, mean = 0.05, 4000, 10, 100.0
    failures = 0
    for _ in range(m):
        b = rng.normal(mean, 5.0, n)
        # candidate with the boundary mean, independent of b (different seeds)
        c = rng.normal(shift(mean), 5.0, n)
        failures += judge(b, c, tolerance, level)["failed"]
    rate, se = failures / m, math.sqrt(level * (1 - level) / m)
    assert abs(rate - level) <= 3 * se, (rate, level, se)


def test_inside_h0_the_gate_fails_less_often_than_the_level() -> None:
    rng = np.random.default_rng(11)
    m = 2000
    fails = sum(
        judge(b, b + rng.normal(-0.4, 1.0, 10), Tolerance(max_rise=0))["failed"]
        for b in rng.normal(50, 3, (m, 10))
    )
    assert fails / m < 0.05 / 2


# --- rules files --------------------------------------------------------------------------------


def test_the_default_rules_file_is_valid() -> None:
    rules = load_rules(DEFAULT_RULES)
    assert {"fill_rate", "otd", "cost_total"} <= set(rules.rules)
    assert rules.rules["fill_rate"].higher_is_better
    assert not rules.rules["cost_total"].higher_is_better
    assert 0 < rules.level < 0.5 and rules.reps >= 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  fill_rate: {max_drop: -1}\n",
            "rules.fill_rate.max_drop (=-1) must be >= 0",
        ),
        (
            "rules:\n  fill_rate: {max_drop: 0.01, max_rise: 0.01}\n",
            "rules.fill_rate (={'max_drop': 0.01, 'max_rise': 0.01}) must give exactly one of "
            "max_drop, max_drop_pct, max_rise, max_rise_pct (got max_drop and max_rise)",
        ),
        ("rules:\n  fill_rate: {}\n", "rules.fill_rate (={}) must give exactly one of"),
        ("rules:\n  fill_rate: {max_dorp: 0.01}\n", "rules.fill_rate.max_dorp"),
        ("rules:\n  fill_rate: {max_drop_pct: 150}\n", "rules.fill_rate.max_drop_pct (=150)"),
        ("level: 1.5\nrules:\n  otd: {max_drop: 0}\n", "level (=1.5) must be < 1"),
        ("reps: 1\nrules:\n  otd: {max_drop: 0}\n", "reps (=1) must be >= 2"),
        ("rules: {}\n", "rules (={}) must have at least 1 item"),
        ("level: 0.05\n", "rules is required"),
        ("- just\n- a list\n", "expected a mapping"),
        ("rules: {fill_rate: [max_drop\n", "not valid YAML"),
    ],
)
def test_a_bad_rules_file_exits_2_naming_file_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(text)
    code, out, err = gate_on(TINY, rules)
    assert code == 2, (out, err)
    assert "Traceback" not in err and out == ""
    assert f"{rules}" in err and expected in err, err


def test_a_missing_rules_file_exits_2(tmp_path: Path) -> None:
    code, _, err = gate_on(TINY, tmp_path / "nope.yaml")
    assert code == 2 and f"{tmp_path / 'nope.yaml'}: file not found" in err


def test_a_rule_on_an_unknown_kpi_exits_2_naming_the_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  fill_rate: {max_drop: 0}\n  fil_rate: {max_drop: 0}\n")
    code, out, err = gate_on(TINY, rules)
    assert code == 2 and out == ""
    assert f"{rules}: rules.fil_rate is not a KPI of any design; did you mean 'fill_rate'?" in err
    with pytest.raises(ConfigError, match=r"rules\.fil_rate"):
        gate(load_scenario(TINY), load_scenario(TINY), load_rules(rules))


def test_a_rule_guarding_the_wrong_way_is_named() -> None:
    """The registry says which way each KPI is better: a drop rule on a cost guards nothing."""
    rules = rules_from_data(
        {"rules": {"cost_total": {"max_drop": 10}, "fill_rate": {"max_rise": 0.1}}}, "r.yaml"
    )
    tiny = load_scenario(TINY)
    with pytest.raises(ConfigError) as caught:
        gate(tiny, tiny, rules, reps=2)
    text = str(caught.value)
    assert "r.yaml: rules.cost_total.max_drop guards the wrong way: cost_total is better when lower" in text
    assert "rules.fill_rate.max_rise guards the wrong way" in text and "use max_drop" in text


def test_a_kpi_of_the_candidate_only_is_named() -> None:
    rules = rules_from_data({"rules": {"otd_disrupted": {"max_drop": 0}}}, "r.yaml")
    tiny = load_scenario(TINY)
    data = tiny.model_dump(by_alias=True)
    data["disruptions"] = {
        "scheduled": [{"kind": "line_down", "target": "factory", "start": "1d", "duration": "6h"}]
    }
    disrupted = scenario_from_data(data)
    with pytest.raises(
        ConfigError, match=r"r\.yaml: rules\.otd_disrupted is not a KPI of the baseline"
    ):
        gate(tiny, disrupted, rules, reps=2)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set-candidate", "policies.elastic.on_abve=3"], "--set-candidate: policies.elastic"),
        (["--set-candidate", "oops"], "--set-candidate 'oops': expected PATH=VALUE"),
        (["--set", "sites.factory.capacity=-3"], "--set on "),
        (["--reps", "1"], "--reps (=1) must be >= 2"),
        (["--workers", "0"], "--workers (=0) must be >= 1"),
    ],
)
def test_bad_options_exit_2(rules_file: Path, args: list[str], expected: str) -> None:
    code, _, err = gate_on(TINY, rules_file, *args)
    assert code == 2 and "Traceback" not in err
    assert expected in err, err


def test_a_bad_scenario_file_exits_2_naming_it(tmp_path: Path, rules_file: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("seed: 7", "seed: -7"))
    code, _, err = twin_gate("--baseline", TINY, "--candidate", bad, "--rules", rules_file)
    assert code == 2 and f"{bad}: seed (=-7)" in err, err


def test_bad_input_leaves_existing_reports_untouched(tmp_path: Path) -> None:
    junit, markdown = tmp_path / "gate.xml", tmp_path / "summary.md"
    junit.write_text("<old/>")
    markdown.write_text("# earlier step\n")
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  fill_rate: {max_drop: -1}\n")
    code, _, _ = gate_on(TINY, rules, "--junit", junit, "--markdown", markdown)
    assert code == 2
    rules.write_text("rules:\n  no_such_kpi: {max_drop: 0}\n")
    code, _, _ = gate_on(TINY, rules, "--junit", junit, "--markdown", markdown)
    assert code == 2
    assert junit.read_text() == "<old/>" and markdown.read_text() == "# earlier step\n"
    fresh = tmp_path / "new" / "gate.xml"
    code, _, _ = gate_on(TINY, rules, "--junit", fresh)
    assert code == 2 and not fresh.exists() and not fresh.parent.exists()
    code, _, err = gate_on(TINY, tmp_path / "rules.yaml", "--junit", tmp_path)
    assert code == 2 and "is a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gate.xml", "rules.yaml", "summary.md"]


# --- on the model -------------------------------------------------------------------------------


def test_a_worse_policy_fails_with_junit_and_markdown(tmp_path: Path, rules_file: Path) -> None:
    junit, markdown = tmp_path / "out" / "gate.xml", tmp_path / "summary.md"
    markdown.write_text("stale")
    code, out, err = gate_on(
        TIGHT, rules_file, "--set-candidate", ELASTIC_OFF, "--junit", junit, "--markdown", markdown
    )
    assert code == 1, (out, err)
    assert "Traceback" not in err
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()[:1]}
    assert rows["fill_rate"].endswith("FAIL") and rows["otd"].endswith("FAIL")
    assert "paired on common random numbers" in out
    assert out.rstrip().splitlines()[-1].startswith("FAIL: ")
    failed = sum(rows[k].endswith("FAIL") for k in ("fill_rate", "otd", "cost_total"))

    suite = ET.fromstring(junit.read_text()).find("testsuite")
    assert suite is not None and suite.get("name") == "twin gate"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["fill_rate", "otd", "cost_total"]
    assert int(suite.get("tests", -1)) == 3
    assert (
        int(suite.get("failures", -1))
        == failed
        == sum(c.find("failure") is not None for c in cases)
    )
    message = cases[0].find("failure").get("message")  # type: ignore[union-attr]
    assert "baseline 1" in message and "drop <= 0.005" in message and "p=" in message

    text = markdown.read_text()
    assert text.startswith("### twin gate: ❌ FAIL")
    assert "| kpi | rule | baseline | candidate | change | p-value | verdict |" in text
    assert "| `fill_rate` | drop <= 0.005 |" in text
    assert f"**FAIL: {failed} of 3 rules failed" in text
    assert not list(junit.parent.glob(".*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_an_identical_candidate_passes(rules_file: Path) -> None:
    code, out, err = gate_on(TIGHT, rules_file)
    assert code == 0, (out, err)
    assert out.rstrip().endswith("PASS: all 3 rules hold")


def test_a_better_candidate_passes(rules_file: Path, tmp_path: Path) -> None:
    markdown = tmp_path / "summary.md"
    code, out, err = gate_on(
        TIGHT,
        rules_file,
        "--set",
        ELASTIC_OFF,
        "--set-candidate",
        ELASTIC_ON,
        "--markdown",
        markdown,
    )
    assert code == 0, (out, err)
    fill = next(line for line in out.splitlines() if line.startswith("fill_rate"))
    assert fill.split()[-1] == "PASS" and float(fill.split()[-3]) > 0  # change > 0: better
    assert markdown.read_text().startswith("### twin gate: ✅ PASS")


def test_tiny_against_itself_passes_on_the_default_rules() -> None:
    code, out, err = gate_on(TINY, DEFAULT_RULES, "--reps", "3", "--workers", "2")
    assert code == 0, (out, err)
    assert "3 replications each" in out


def test_different_seeds_are_reported_as_unpaired(rules_file: Path) -> None:
    code, out, _ = gate_on(TINY, rules_file, "--set-candidate", "seed=8", "--reps", "3")
    assert code in (0, 1)
    assert "unpaired by seed" in out
    assert "baseline seed 7 != candidate seed 8" in out


def test_the_python_api_returns_a_table() -> None:
    tight, worse = load_pair(TIGHT, TIGHT, candidate_sets={"policies.elastic.on_above": 100000})
    assert tight == load_scenario(TIGHT) and worse != tight
    rules = load_rules(DEFAULT_RULES)
    result = gate(tight, worse, rules, reps=4)
    assert isinstance(result, GateResult) and not result.passed
    assert list(result.table.index) == list(rules.rules)
    for column in ("baseline", "candidate", "change", "tolerance", "p_value", "verdict"):
        assert column in result.table.columns
    assert result.table.loc["fill_rate", "verdict"] == "FAIL"
    assert result.table.loc["fill_rate", "change"] < -0.01
    assert result.paired_by_seed and result.reps == 4
    assert len(result.kpis) == 8 and set(result.kpis["design"]) == {"baseline", "candidate"}
    root = ET.fromstring(to_junit(result))
    assert int(root.find("testsuite").get("failures")) == len(result.failures)  # type: ignore[union-attr]
    assert "| `fill_rate` |" in to_markdown(result)


@pytest.mark.slow
def test_type_one_error_on_the_model_with_independent_seeds() -> None:
    """Same policy, independent random numbers, tolerance 0: the boundary of H0 on tiny.

    Each rule should fail in about `level` of M gate runs; the test allows 3 binomial standard
    errors above. (otd is 1.0 in most replications of tiny, so it rarely varies; it is left out.)
    """
    tiny: Scenario = load_scenario(TINY)
    level, m, reps = 0.05, 100, 5
    rules = rules_from_data(
        {
            "level": level,
            "reps": reps,
            "rules": {
                "cost_total": {"max_rise_pct": 0},
                "lead_time_p95": {"max_rise": 0},
                "profit": {"max_drop": 0},
            },
        }
    )
    fails = dict.fromkeys(rules.rules, 0)
    with LocalExecutor(2) as executor:
        for i in range(m):
            base = tiny.model_copy(update={"seed": 10_000 + 2 * i})
            cand = tiny.model_copy(update={"seed": 10_001 + 2 * i})
            result = gate(base, cand, rules, executor=executor)
            assert not result.paired_by_seed
            for kpi in result.failures:
                fails[kpi] += 1
    bound = level + 3 * math.sqrt(level * (1 - level) / m)
    rates = {k: v / m for k, v in fails.items()}
    assert all(rate <= bound for rate in rates.values()), (rates, bound)
    # and not a gate that never fails: the rules together reject some of the time
    assert sum(fails.values()) > 0, rates


def test_percentage_rules_read_a_negative_baseline_the_right_way_round() -> None:
    b = np.array([-100.0, -98.0, -103.0, -99.0, -101.0])  # e.g. a loss-making profit
    same = judge(b, b.copy(), Tolerance(max_drop_pct=10))
    assert not same["failed"]
    assert not judge(b, b + 5, Tolerance(max_drop_pct=10))["failed"]  # better
    assert judge(b, b - 30, Tolerance(max_drop_pct=10))["failed"]  # 30 % of |b| worse
    assert not judge(-b, -b.copy(), Tolerance(max_rise_pct=2))["failed"]
    assert judge(b, b + 5, Tolerance(max_rise_pct=2))["failed"]  # a cost rising by 5 % of |b|
