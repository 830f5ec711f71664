"""Paired dominance in a sweep: which points no other point *significantly* dominates.

Point A significantly dominates B when A is significantly cheaper and significantly better on
service by paired t-tests at 5 % over the replications both share. The synthetic points below are
built so the answer is known; a second implementation (scipy's `ttest_rel`) checks random cases;
and a real sweep of the tiny scenario finds its own base point and pairs differences against it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from twin.experiments.stats import summarise
from twin.experiments.sweep import (
    SweepResult,
    differences_table,
    mean_table,
    pareto_table,
    significant_dominance,
    sweep,
    with_paired_front,
)

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
TARGET = "policies.forward_replenishment.target"  # tiny's own value is 250


def synthetic(
    values: dict[str, dict[str, np.ndarray]], base_point: str | None = None
) -> SweepResult:
    """A one-path sweep result made from per-replication KPI values (no simulation)."""
    names = list(values)
    points = pd.DataFrame({"point": names, "x": range(len(names))})
    kpi_parts, summary_parts = [], []
    for i, (name, kpis) in enumerate(values.items()):
        n = len(next(iter(kpis.values())))
        frame = pd.DataFrame({"replication": range(n), "seed": 7, **kpis})
        summary = summarise(frame).reset_index()
        for part in (frame, summary):
            part.insert(0, "x", i)
            part.insert(0, "point", name)
        kpi_parts.append(frame)
        summary_parts.append(summary)
    kpis_frame = pd.concat(kpi_parts, ignore_index=True)
    summary = pd.concat(summary_parts, ignore_index=True)
    table = pareto_table(mean_table(points, summary), ["x"], "cost_total", "fill_rate")
    return SweepResult(
        scenario="synthetic",
        grid={"x": list(range(len(names)))},
        points=points,
        kpis=kpis_frame,
        summary=summary,
        pareto=with_paired_front(table, kpis_frame, "cost_total", "fill_rate"),
        meta={"replications": n, "seed": 7, "paired": True, "base_point": base_point},
    )


def known_points() -> dict[str, dict[str, np.ndarray]]:
    """A dominates B clearly; C is cheaper but worse (a trade-off); D is A plus noise.

    D's means are a hair worse than A's on both KPIs, so A dominates D on means, but the gap is
    far inside the noise of D's own differences: nothing significantly dominates D. B is also
    significantly dominated by D (cheaper and better than B by clear margins).
    """
    rng = np.random.default_rng(1)
    n = 8
    common_cost = rng.normal(0, 50, n)  # what every point shares (same demand): cancels in pairs
    common_service = rng.normal(0, 0.05, n)
    wiggle = np.array([1.0, -1.0] * (n // 2))
    a_cost = 1000 + common_cost + rng.normal(0, 1, n)
    a_service = 0.90 + common_service + rng.normal(0, 0.002, n)
    return {
        "A": {"cost_total": a_cost, "fill_rate": a_service},
        "B": {
            "cost_total": a_cost + 10 + rng.normal(0, 1, n),
            "fill_rate": a_service - 0.02 + rng.normal(0, 0.002, n),
        },
        "C": {
            "cost_total": a_cost - 10 + rng.normal(0, 1, n),
            "fill_rate": a_service - 0.05 + rng.normal(0, 0.002, n),
        },
        "D": {
            "cost_total": a_cost + 0.5 + 5 * wiggle,
            "fill_rate": a_service - 0.001 + 0.01 * np.roll(wiggle, 1),
        },
    }


def test_known_dominance_on_synthetic_paired_data() -> None:
    result = synthetic(known_points())
    dominated = significant_dominance(result.kpis, "cost_total", "fill_rate")
    assert {p: set(by) for p, by in dominated.items()} == {
        "A": set(), "B": {"A", "D"}, "C": set(), "D": set(),
    }  # fmt: skip
    assert set(result.front) == {"A", "C"}  # means: A beats D by a hair
    assert set(result.paired_front) == {"A", "C", "D"}  # ...which the pairs do not show
    table = result.pareto.set_index("point")
    assert table.loc["B", "dominated_by"] in ("A, D", "D, A")
    assert not table.loc["B", "paired_front"] and table.loc["D", "paired_front"]
    assert list(result.pareto.columns[:6]) == [
        "point", "x", "cost_total", "fill_rate", "pareto", "paired_front",
    ]  # fmt: skip


def test_unpaired_noise_would_hide_the_dominance() -> None:
    """The same effects with the shared noise not shared (shuffled) are no longer significant."""
    points = known_points()
    rng = np.random.default_rng(3)
    shuffled = {p: {k: rng.permutation(v) for k, v in kpis.items()} for p, kpis in points.items()}
    dominated = significant_dominance(synthetic(shuffled).kpis, "cost_total", "fill_rate")
    assert dominated["B"] == []


def brute_force(kpis: pd.DataFrame, alpha: float = 0.05) -> dict[str, set[str]]:
    """Dominance by scipy's paired t-test, written independently of the code under test."""
    by = {p: part.sort_values("replication") for p, part in kpis.groupby("point")}
    out: dict[str, set[str]] = {p: set() for p in by}
    for a, b in itertools.permutations(by, 2):
        cost = stats.ttest_rel(by[a]["cost_total"], by[b]["cost_total"])
        service = stats.ttest_rel(by[a]["fill_rate"], by[b]["fill_rate"])
        if (
            cost.pvalue < alpha
            and cost.statistic < 0
            and service.pvalue < alpha
            and service.statistic > 0
        ):
            out[b].add(a)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_dominance_agrees_with_scipy_ttest_rel(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 6
    shared = rng.normal(0, 30, n)
    values = {
        f"p{i}": {
            "cost_total": 500 + shared + rng.normal(rng.uniform(-20, 20), 4, n),
            "fill_rate": 0.8 + shared / 1000 + rng.normal(rng.uniform(-0.05, 0.05), 0.01, n),
        }
        for i in range(7)
    }
    kpis = synthetic(values).kpis
    got = significant_dominance(kpis, "cost_total", "fill_rate")
    assert {p: set(by) for p, by in got.items()} == brute_force(kpis)


def test_real_sweep_finds_its_base_point_and_pairs_against_it() -> None:
    result = sweep(TINY, {TARGET: [100, 250]}, reps=3)
    assert result.meta["base_point"] == "p001" and result.reference == "p001"
    diffs = result.differences(["cost_total", "otd"])
    assert list(diffs.index) == [("p000", "cost_total"), ("p000", "otd")]
    by = result.kpis.set_index(["point", "replication"])["cost_total"]
    expected = (by["p000"] - by["p001"]).mean()
    assert diffs.loc[("p000", "cost_total"), "diff"] == pytest.approx(expected)
    table = differences_table(result)
    assert set(table["reference"]) == {"p001"} and set(table["point"]) == {"p000"}
    assert list(table.columns[:4]) == ["point", TARGET, "kpi", "reference"]
    off_grid = sweep(TINY, {TARGET: [100, 300]}, reps=2)
    assert off_grid.meta["base_point"] is None and off_grid.reference == "p000"
