"""SAA pre-positioning: the newsvendor answer on one SKU and one warehouse, and its limits binding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from twin.optimize.allocation import AllocationError
from twin.optimize.preposition import PrepositionProblem, solve_preposition

# push: transfer t = 1 + holding h = 1 per unit; a unit short is served from central at r = 6:
# underage cu = r − t − h = 4, overage co = t + h = 2, critical ratio 4 / 6
RATIO = 4 / 6
TRUE_Q = 100 + 20 * norm.ppf(RATIO)


def newsvendor(samples: np.ndarray) -> float:
    problem = PrepositionProblem(
        ("a",),
        ("n",),
        samples.reshape(-1, 1, 1),
        np.array([np.inf]),
        holding=1.0,
        transfer=1.0,
        recourse=6.0,
        lost=50.0,
    )
    return solve_preposition(problem, integer=False).solver_quantities[("n", "a")]


@pytest.mark.parametrize("seed", range(4))
def test_the_saa_solution_is_the_empirical_critical_quantile(seed: int) -> None:
    samples = np.random.default_rng(seed).normal(100, 20, 400).clip(0)
    x = newsvendor(samples)
    # any point between the order statistics around the ratio is optimal for the sample
    lo = np.quantile(samples, RATIO, method="inverted_cdf")
    hi = np.sort(samples)[int(np.floor(RATIO * len(samples)))]
    assert min(lo, hi) - 1e-6 <= x <= max(lo, hi) + 1e-6
    # and within 3 standard errors of the true quantile: sqrt(p(1−p)/n) / f(q)
    se = np.sqrt(RATIO * (1 - RATIO) / len(samples)) / norm.pdf(TRUE_Q, 100, 20)
    assert abs(x - TRUE_Q) < 3 * se


def test_more_scenarios_give_a_tighter_answer() -> None:
    def mean_error(n: int) -> float:
        errors = [
            abs(newsvendor(np.random.default_rng(1000 + s).normal(100, 20, n).clip(0)) - TRUE_Q)
            for s in range(12)
        ]
        return float(np.mean(errors))

    small, large = mean_error(200), mean_error(5000)
    assert large < 0.5 * small  # the error shrinks like 1/sqrt(n): 5× fewer expected


def two_warehouses(**limits: object) -> PrepositionProblem:
    rng = np.random.default_rng(3)
    return PrepositionProblem(
        ("a", "b"),
        ("n", "s"),
        rng.poisson(60, (300, 2, 2)).astype(float),
        np.array([1000.0, 1000.0]),
        holding=1.0,
        transfer=np.array([1.0, 2.0]),
        recourse=8.0,
        lost=30.0,
        **limits,  # type: ignore[arg-type]
    )


def test_storage_budget_and_central_stock_bind() -> None:
    free = solve_preposition(two_warehouses())
    assert sum(free.quantities.values()) > 200
    tight = solve_preposition(
        two_warehouses(storage=np.array([50.0, 40.0]), volume=np.array([1.0, 2.0]))
    )
    for w, cap in (("n", 50.0), ("s", 40.0)):
        used = tight.quantities.get((w, "a"), 0) * 1.0 + tight.quantities.get((w, "b"), 0) * 2.0
        assert used <= cap + 1e-9
    cheap = solve_preposition(two_warehouses(budget=100.0))
    spent = sum(q * (1.0 if w == "n" else 2.0) for (w, _), q in cheap.quantities.items())
    assert spent <= 100.0 + 1e-9
    assert cheap.expected_cost > free.expected_cost
    short = PrepositionProblem(
        ("a",),
        ("n", "s"),
        np.full((10, 2, 1), 80.0),
        np.array([100.0]),
        holding=1.0,
        transfer=1.0,
        recourse=8.0,
        lost=30.0,
    )
    plan = solve_preposition(short)
    assert sum(plan.quantities.values()) <= 100


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scenarios": -np.ones((2, 1, 1))}, "scenarios"),
        ({"scenarios": np.ones((2, 2, 1))}, "scenarios"),
        ({"available": np.array([-1.0])}, "available"),
        ({"budget": -5.0}, "budget"),
    ],
)
def test_bad_input_names_the_field(change: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "skus": ("a",),
        "forward": ("n",),
        "scenarios": np.ones((2, 1, 1)),
        "available": np.array([10.0]),
        "holding": 1.0,
        "transfer": 1.0,
        "recourse": 2.0,
        "lost": 3.0,
    }
    with pytest.raises(AllocationError, match=message):
        PrepositionProblem(**(args | change))  # type: ignore[arg-type]
