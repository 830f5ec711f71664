"""Pre-positioning by SAA: newsvendor theory, binding limits, an extensive-form LP and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.stats import norm

from twin.optimize.allocation import AllocationError
from twin.optimize.preposition import PrepositionProblem, expected_cost, solve_preposition

# Newsvendor: a pushed unit costs T + H whether sold or not; a unit of demand met forward saves R
# (the cost of serving it from the central instead). Underage cu = R - T - H, overage co = T + H,
# critical ratio cu / (cu + co) = (R - T - H) / R. LOST never applies: central stock is ample.
T, H, R, LOST = 1.0, 0.3, 4.5, 50.0
RATIO = (
    R - T - H
) / R  # 0.7111..., so n * RATIO is never an integer below and the optimum is unique
MU, SIGMA = 100.0, 20.0
TRUE_QUANTILE = MU + SIGMA * norm.ppf(RATIO)


def newsvendor(n: int, seed: int) -> PrepositionProblem:
    demand = np.random.default_rng(seed).normal(MU, SIGMA, size=(n, 1, 1)).clip(0.0)
    return PrepositionProblem(("sku",), ("fwd",), demand, [1e9], H, T, R, LOST)


def quantile_se(n: int) -> float:
    """Asymptotic standard error of the sample RATIO-quantile of Normal(MU, SIGMA)."""
    return np.sqrt(RATIO * (1 - RATIO) / n) / norm.pdf(TRUE_QUANTILE, MU, SIGMA)


@pytest.mark.parametrize("n", [200, 5000])
@pytest.mark.parametrize("seed", range(3))
def test_newsvendor_is_the_empirical_critical_quantile(n: int, seed: int) -> None:
    problem = newsvendor(n, seed)
    samples = problem.scenarios.ravel()
    plan = solve_preposition(problem)
    x = plan.solver_quantities["fwd", "sku"]
    assert plan.optimal
    assert x == pytest.approx(np.quantile(samples, RATIO, method="inverted_cdf"), abs=1e-6)
    assert abs(x - TRUE_QUANTILE) < 3 * quantile_se(n)
    # the breakdown is the newsvendor's own arithmetic at the integer plan
    q = plan.quantities["fwd", "sku"]
    assert plan.cost_breakdown == pytest.approx(
        {
            "holding": H * q,
            "transfer": T * q,
            "recourse": R * np.maximum(samples - q, 0).mean(),
            "lost": 0,
        }
    )
    assert plan.bound <= plan.expected_cost + 1e-9
    # the cost is convex in x, so the best integer push is the floor or the ceiling
    floor_cost, ceil_cost = (
        expected_cost(problem, [[v]])["total"] for v in (np.floor(x), np.ceil(x))
    )
    best_int = np.floor(x) if floor_cost <= ceil_cost else np.ceil(x)
    integer_plan = solve_preposition(problem, integer=True)
    assert integer_plan.optimal
    assert integer_plan.quantities["fwd", "sku"] == best_int
    assert integer_plan.expected_cost == pytest.approx(min(floor_cost, ceil_cost))


def test_saa_error_shrinks_with_more_scenarios() -> None:
    def error(n: int, seed: int) -> float:
        x = solve_preposition(newsvendor(n, seed)).solver_quantities["fwd", "sku"]
        return abs(x - TRUE_QUANTILE)

    mae = {n: np.mean([error(n, 100 + s) for s in range(20)]) for n in (200, 5000)}
    # measured: 1.45 at n=200 and 0.29 at n=5000; the quantile's standard error falls as
    # 1/sqrt(n), a factor 5 here, and E|N(0, se)| = 0.80 se. Ask for a factor 2.5, and for each
    # mean error to be within a factor 2 of theory.
    assert mae[5000] < mae[200] / 2.5, mae
    for n, value in mae.items():
        assert 0.4 * quantile_se(n) < value < 1.6 * quantile_se(n), (n, value)


def test_poisson_newsvendor_integral_lp_is_the_integer_plan() -> None:
    demand = np.random.default_rng(7).poisson(50, size=(400, 1, 1)).astype(float)
    problem = PrepositionProblem(("sku",), ("fwd",), demand, [np.inf], H, T, R, LOST)
    plan = solve_preposition(problem, integer=True)
    assert plan.quantities["fwd", "sku"] == np.quantile(
        demand.ravel(), RATIO, method="inverted_cdf"
    )
    assert plan.rounds == solve_preposition(problem).rounds, "an integral LP optimum needs no MIP"


# --- limits that bind ------------------------------------------------------------------------

SKUS, FORWARD = ("s0", "s1", "s2"), ("f0", "f1")


def busy_problem(**limits) -> PrepositionProblem:
    rng = np.random.default_rng(3)
    demand = rng.poisson([[40, 25, 60], [30, 50, 20]], size=(150, 2, 3)).astype(float)
    base = {"available": [200.0, 200.0, 200.0], "volume": [1.0, 2.0, 0.5]}
    return PrepositionProblem(
        SKUS,
        FORWARD,
        demand,
        holding=[0.2, 0.3, 0.1],
        transfer=[1.0, 1.5],
        recourse=[4.0, 6.0],
        lost=[20.0, 25.0, 15.0],
        **{**base, **limits},
    )


def pushed(plan) -> np.ndarray:
    return plan.as_array(FORWARD, SKUS)


@pytest.mark.parametrize("integer", [False, True])
def test_storage_limit_binds(integer: bool) -> None:
    volume = np.array([1.0, 2.0, 0.5])
    free = pushed(solve_preposition(busy_problem(), integer=integer)) @ volume
    storage = np.array([0.6, 0.5]) * free
    plan = solve_preposition(busy_problem(storage=storage), integer=integer)
    used = pushed(plan) @ volume
    assert (used <= storage + 1e-9).all()
    assert (used > storage - 2.0).all(), "storage should be (nearly) full: it binds"


@pytest.mark.parametrize("integer", [False, True])
def test_budget_binds(integer: bool) -> None:
    transfer = np.array([[1.0], [1.5]])
    free = float((pushed(solve_preposition(busy_problem(), integer=integer)) * transfer).sum())
    plan = solve_preposition(busy_problem(budget=0.5 * free), integer=integer)
    spent = float((pushed(plan) * transfer).sum())
    assert spent <= 0.5 * free + 1e-9
    assert spent > 0.5 * free - 1.5
    assert plan.cost_breakdown["transfer"] == pytest.approx(spent)


@pytest.mark.parametrize("integer", [False, True])
def test_available_central_stock_binds(integer: bool) -> None:
    available = np.array([30.0, 90.0, 10.5])
    plan = solve_preposition(busy_problem(available=available), integer=integer)
    total = pushed(plan).sum(axis=0)
    assert (total <= available).all()
    assert total[0] == 30 and total[2] == 10  # scarce SKUs: all of it goes forward
    assert plan.cost_breakdown["lost"] > 0  # and demand is lost once it runs out


# --- against an extensive-form LP and brute force -----------------------------------------------


def random_problem(seed: int, n: int, mean: float, **limits) -> PrepositionProblem:
    rng = np.random.default_rng(seed)
    demand = rng.poisson(rng.uniform(0.3, 1.0, size=(1, 2, 2)) * mean, size=(n, 2, 2)).astype(float)
    return PrepositionProblem(
        ("a", "b"),
        ("f0", "f1"),
        demand,
        available=rng.uniform(0.5, 1.2, 2) * mean * 1.5,
        holding=rng.uniform(0.1, 0.5, 2),
        transfer=rng.uniform(0.5, 1.5, 2),
        recourse=rng.uniform(2.0, 6.0, size=(2, 2)),
        lost=rng.uniform(3.0, 10.0, 2),  # sometimes below recourse: then losing is the cheaper miss
        volume=rng.uniform(0.5, 2.0, 2),
        **limits,
    )


def extensive_form_lp(p: PrepositionProblem) -> float:
    """The whole SAA program as one LP (x, then per scenario forward f and central y), by HiGHS."""
    d = p.scenarios
    n_s, n_w, n_k = d.shape
    nx, ns = n_w * n_k, n_s * n_w * n_k
    holding, transfer, recourse, lost = p.cost_arrays
    c = np.concatenate(
        [
            (holding + transfer).ravel(),
            np.tile(-lost.ravel(), n_s) / n_s,
            np.tile((recourse - lost).ravel(), n_s) / n_s,
        ]
    )
    rows, rhs = [], []

    def row(entries: dict[int, float], bound: float) -> None:
        r = np.zeros(nx + 2 * ns)
        for i, v in entries.items():
            r[i] += v
        rows.append(r)
        rhs.append(bound)

    for s, w, k in itertools.product(range(n_s), range(n_w), range(n_k)):
        j = (s * n_w + w) * n_k + k
        row({nx + j: 1.0, w * n_k + k: -1.0}, 0.0)  # f <= x
        row({nx + j: 1.0, nx + ns + j: 1.0}, d[s, w, k])  # f + y <= d
    for s, k in itertools.product(range(n_s), range(n_k)):
        entries = {w * n_k + k: 1.0 for w in range(n_w)}
        entries |= {nx + ns + (s * n_w + w) * n_k + k: 1.0 for w in range(n_w)}
        row(entries, p.available[k])  # what is pushed plus what the central ships later
    if p.storage is not None:
        for w in range(n_w):
            row({w * n_k + k: p.volume[k] for k in range(n_k)}, p.storage[w])
    if p.budget is not None:
        row({i: t for i, t in enumerate(transfer.ravel())}, p.budget)
    res = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs), method="highs")
    assert res.status == 0
    return float(res.fun + (lost[None] * d).sum() / n_s)


@pytest.mark.parametrize("seed", range(4))
def test_lp_matches_the_extensive_form(seed: int) -> None:
    limits = [
        {},
        {"storage": [20.0, 15.0]},
        {"budget": 18.0},
        {"storage": [12.0, 30.0], "budget": 25.0},
    ]
    problem = random_problem(seed, n=40, mean=20.0, **limits[seed])
    plan = solve_preposition(problem)
    assert plan.optimal
    assert plan.bound == pytest.approx(extensive_form_lp(problem), rel=1e-7)
    # the LP value is attained by the solver's own x
    raw = np.array([[plan.solver_quantities[w, k] for k in problem.skus] for w in problem.forward])
    assert expected_cost(problem, raw)["total"] == pytest.approx(plan.bound, rel=1e-7)
    assert plan.expected_cost >= plan.bound - 1e-9


def test_recourse_evaluation_matches_a_per_scenario_lp() -> None:
    problem = random_problem(11, n=15, mean=10.0)
    rng = np.random.default_rng(0)
    _, _, recourse, lost = problem.cost_arrays
    for _ in range(5):
        x = rng.uniform(0, 1, size=(2, 2)) * problem.available[None, :] / 2
        total = 0.0
        for (
            d
        ) in problem.scenarios:  # min recourse*y + lost*(short - y), y <= short, sum_w y <= left
            short = np.maximum(d - x, 0).ravel()
            left = problem.available - x.sum(axis=0)
            a_ub = np.array([[1.0 if i % 2 == k else 0.0 for i in range(4)] for k in range(2)])
            res = linprog(
                (recourse - lost).ravel(),
                A_ub=a_ub,
                b_ub=left,
                bounds=list(zip([0] * 4, short, strict=True)),
                method="highs",
            )
            total += res.fun + (lost.ravel() * short).sum()
        got = expected_cost(problem, x)
        assert got["recourse"] + got["lost"] == pytest.approx(
            total / len(problem.scenarios), rel=1e-9
        )


@pytest.mark.parametrize("seed", range(3))
def test_integer_plan_matches_brute_force(seed: int) -> None:
    problem = random_problem(20 + seed, n=25, mean=4.0, storage=[5.0, 6.0], budget=7.0)
    upper = np.minimum(problem.available[None, :], problem.scenarios.max(axis=0)).astype(int)
    volume, transfer = np.asarray(problem.volume), problem.cost_arrays[1]
    best = np.inf
    for flat in itertools.product(*(range(u + 1) for u in upper.ravel())):
        x = np.array(flat, dtype=float).reshape(2, 2)
        if (x.sum(axis=0) > problem.available).any() or (x @ volume > problem.storage).any():
            continue
        if (x * transfer).sum() > problem.budget:
            continue
        best = min(best, expected_cost(problem, x)["total"])
    plan = solve_preposition(problem, integer=True)
    assert plan.optimal
    assert plan.expected_cost == pytest.approx(best, rel=1e-9)
    assert solve_preposition(problem).expected_cost >= best - 1e-9  # rounding stays feasible


# --- bad input ----------------------------------------------------------------------------------

GOOD = {
    "skus": ("a", "b"),
    "forward": ("f",),
    "scenarios": np.ones((3, 1, 2)),
    "available": [5.0, 5.0],
    "holding": 0.1,
    "transfer": 1.0,
    "recourse": 3.0,
    "lost": 9.0,
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"scenarios": -np.ones((3, 1, 2))},
            r"PrepositionProblem.scenarios\[0, 0, 0\] \(=-1\) must be >= 0",
        ),
        (
            {"scenarios": np.ones((3, 2))},
            r"PrepositionProblem.scenarios: shape \(3, 2\) must be \(n_scenarios, n_forward=1, n_skus=2\)",
        ),
        (
            {"scenarios": np.ones((0, 1, 2))},
            r"PrepositionProblem.scenarios: needs at least one scenario",
        ),
        ({"available": [5.0]}, r"PrepositionProblem.available: shape \(1,\) must be \(n_skus=2,\)"),
        (
            {"available": [5.0, np.nan]},
            r"PrepositionProblem.available\[1\] \(=nan\) must be a number",
        ),
        (
            {"holding": [0.1, 0.2, 0.3]},
            r"PrepositionProblem.holding: shape \(3,\) must be \(\), \(2,\) or \(1, 2\)",
        ),
        (
            {"transfer": [1.0, 2.0]},
            r"PrepositionProblem.transfer: shape \(2,\) must be \(\), \(1,\) or \(1, 2\)",
        ),
        ({"recourse": -3.0}, r"PrepositionProblem.recourse\[0, 0\] \(=-3\) must be >= 0"),
        ({"lost": np.inf}, r"PrepositionProblem.lost\[0, 0\] \(=inf\) must be finite"),
        ({"lost": "lots"}, r"PrepositionProblem.lost: must be numbers"),
        ({"storage": [-1.0]}, r"PrepositionProblem.storage\[0\] \(=-1\) must be >= 0"),
        ({"volume": [1.0]}, r"PrepositionProblem.volume: shape \(1,\) must be \(n_skus=2,\)"),
        ({"budget": -5.0}, r"PrepositionProblem.budget \(=-5.0\) must be >= 0 and finite"),
        ({"skus": ("a", "a")}, r"PrepositionProblem.skus\[1\] \(='a'\) is a duplicate"),
    ],
)
def test_problem_bad_input_names_the_field(change: dict, message: str) -> None:
    with pytest.raises(AllocationError, match=message):
        PrepositionProblem(**{**GOOD, **change})


def test_expected_cost_rejects_pushing_more_than_available() -> None:
    problem = PrepositionProblem(**GOOD)
    with pytest.raises(
        AllocationError, match=r"quantities: SKU 'b' pushes 6 units, more than available \(=5\)"
    ):
        expected_cost(problem, {("f", "a"): 1, ("f", "b"): 6})
    with pytest.raises(AllocationError, match=r"quantities: key \('f', 'z'\) is not a"):
        expected_cost(problem, {("f", "z"): 1})
    with pytest.raises(AllocationError, match=r"quantities\[0, 1\] \(=-1\) must be >= 0"):
        expected_cost(problem, [[1.0, -1.0]])
