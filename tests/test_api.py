"""The Python API returns DataFrames and agrees with the machinery the commands use."""

from __future__ import annotations

import pandas as pd
import pytest

import twin
from twin.config.loader import load_scenario, read_yaml
from twin.errors import TwinError
from twin.experiments.overrides import override_scenario
from twin.experiments.runner import replicate

TINY = "scenarios/tiny.yaml"


def test_run_returns_frames_equal_to_replicate() -> None:
    result = twin.run(TINY, reps=3, overrides={"seed": 5})
    assert isinstance(result.kpis, pd.DataFrame) and isinstance(result.summary, pd.DataFrame)
    direct = replicate(load_scenario(TINY).model_copy(update={"seed": 5}), 3)
    pd.testing.assert_frame_equal(result.kpis, direct.kpis, check_exact=True)
    assert list(result.kpis["seed"]) == [5, 5, 5]


def test_compare_pairs_designs_on_one_seed() -> None:
    data = read_yaml(TINY)
    lean = override_scenario(data, {"name": "lean", "policies.forward_replenishment.target": 120})
    result = twin.compare(TINY, lean, reps=4)
    assert result.designs == ["tiny", "lean"] and result.meta["paired"] is True
    assert set(result.kpis["design"]) == {"tiny", "lean"}
    diff = result.differences.loc[("lean", "cost_total")]
    base = result.kpis.query("design == 'tiny'")["cost_total"].to_numpy()
    other = result.kpis.query("design == 'lean'")["cost_total"].to_numpy()
    assert diff["diff"] == pytest.approx((other - base).mean())
    flipped = twin.compare(TINY, lean, reps=4, baseline="lean")
    assert flipped.designs == ["lean", "tiny"]
    with pytest.raises(TwinError, match="--baseline"):
        twin.compare(TINY, lean, reps=2, baseline="nope")
    with pytest.raises(TwinError, match="given twice"):
        twin.compare(TINY, TINY, reps=2)
    with pytest.raises(TwinError, match="at least two designs"):
        twin.compare(TINY, reps=2)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        twin.nothing_here  # noqa: B018


def test_gate_from_python_passes_a_design_against_itself() -> None:
    result = twin.gate(TINY, TINY, "configs/gate.yaml", reps=3)
    assert result.passed and (result.table["verdict"] == "PASS").all()
    assert {"fill_rate", "cost_total"} <= set(result.table.index)
