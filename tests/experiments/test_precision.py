"""The interval machinery (DESIGN §5, §8): do the intervals cover, does sequential stopping stop.

- Coverage is checked where the answer is known exactly: the mean waiting time of an M/M/1 queue,
  simulated in numpy (not with the twin), started in steady state so that there is no warm-up bias.
- The sequential `Precision` rule is checked on `scenarios/tiny.yaml` through `run_designs`.
- `paired_difference` is checked against scipy and the textbook Welch formula.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from twin.config import Scenario, load_scenario
from twin.errors import TwinError
from twin.experiments import replicate
from twin.experiments.runner import Precision, kpi_frame, run_designs
from twin.experiments.stats import (
    paired_difference,
    relative_half_width,
    summarise,
    t_half_width,
)

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"

# --- coverage on M/M/1 -----------------------------------------------------------------------------

LAM, MU = 0.8, 1.0
RHO = LAM / MU
WQ = RHO / (MU - LAM)  # exact mean wait in queue: 4.0
CUSTOMERS = 20_000  # per replication, i.e. a run of about T = 25,000 time units
R = 10  # replications per experiment (one confidence interval)
M = 1_000  # experiments (intervals)


def mm1_mean_waits(rng: np.random.Generator, reps: int, n: int) -> np.ndarray:
    """The mean wait in queue of `n` successive customers, for `reps` independent M/M/1 runs.

    The first customer's wait is drawn from the stationary law (0 with probability 1 − ρ, else
    Exp(μ − λ), which by PASTA is also what an arrival sees of the time-stationary workload), so
    every customer's wait has the stationary law and the mean of the `n` waits has expectation
    exactly Wq: no warm-up bias. A fixed number of customers (rather than all arrivals in [0, T])
    also avoids the O(1/T) bias of a ratio estimator (total wait / random count).

    Lindley's recursion W[k] = max(0, W[k−1] + S[k−1] − A[k]) is solved in closed form, vectorised:
    with C[k] = Σ_{j<k} (S[j] − A[j+1]), W[k] = C[k] − min(−W[0], C[1], ..., C[k]).
    S − A of two independent exponentials is positive with probability λ/(λ+μ), and then Exp(μ),
    else minus Exp(λ) (memorylessness): one exponential and one uniform per customer.
    """
    start = np.where(rng.random(reps) < RHO, rng.exponential(1 / (MU - LAM), reps), 0.0)
    up = rng.random((reps, n - 1)) < LAM / (LAM + MU)
    c = np.empty((reps, n))
    c[:, 0] = 0.0
    np.multiply(rng.standard_exponential((reps, n - 1)), np.where(up, 1 / MU, -1 / LAM), c[:, 1:])
    np.cumsum(c[:, 1:], axis=1, out=c[:, 1:])
    floor = c.copy()
    floor[:, 0] = -start
    np.minimum.accumulate(floor, axis=1, out=floor)
    return (c - floor).mean(axis=1)


def test_mm1_recursion_matches_a_plain_lindley_loop() -> None:
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    closed = mm1_mean_waits(rng_a, 3, 200)
    # the same draws, in the same order, through the textbook recursion
    start = np.where(rng_b.random(3) < RHO, rng_b.exponential(1 / (MU - LAM), 3), 0.0)
    up = rng_b.random((3, 199)) < LAM / (LAM + MU)
    u = rng_b.standard_exponential((3, 199)) * np.where(up, 1 / MU, -1 / LAM)
    for r in range(3):
        w, total = start[r], start[r]
        for k in range(199):
            w = max(0.0, w + u[r, k])
            total += w
        assert closed[r] == pytest.approx(total / 200, rel=1e-9)


@pytest.fixture(scope="module")
def mm1_experiments() -> np.ndarray:
    """M × R replication means, experiment m on its own Generator spawned from one SeedSequence."""
    children = np.random.SeedSequence(20_240_601).spawn(M)
    return np.stack([mm1_mean_waits(np.random.default_rng(s), R, CUSTOMERS) for s in children])


@pytest.mark.slow
def test_mm1_replications_are_unbiased(mm1_experiments: np.ndarray) -> None:
    # the harness itself: the grand mean of all M·R replications is Wq (no warm-up bias)
    x = mm1_experiments.ravel()
    assert abs(x.mean() - WQ) < 3 * x.std(ddof=1) / math.sqrt(len(x))


@pytest.mark.slow
@pytest.mark.parametrize("level", [0.95, 0.90])
def test_t_intervals_cover_the_mm1_mean_wait(mm1_experiments: np.ndarray, level: float) -> None:
    """Coverage within 3 binomial standard errors of the nominal level.

    With M = 1000 intervals, 3·sqrt(0.95·0.05/1000) ≈ 0.021 (0.028 at 90 %): a correct interval
    fails this about 3 times in 1000 seeds, and this seed is fixed. The t interval assumes normal
    replication means; M/M/1 waits at ρ = 0.8 are skewed and strongly autocorrelated, so with only
    R = 10 replications it undercovers by roughly 0.012 × (skewness of a replication mean)². Its
    true coverage at the 95 % level, measured with 4000 experiments (± 0.0036): 0.926 at T = 2000
    (1600 customers, skewness ≈ 1.5), 0.940 at 5000 customers (0.93), 0.945 at 10,000 (0.65),
    0.946 at 20,000 (0.49). Hence runs this long: the bias left (≈ 0.004) is a fifth of the
    tolerance, so the check is about the interval and not about how skewed the data are.
    """
    hits = 0
    for x in mm1_experiments:
        if level == 0.95:  # through the summary users read (ci_low, ci_high)
            row = summarise(pd.DataFrame({"wait": x})).loc["wait"]
            assert row["half_width"] == t_half_width(x)
            hits += row["ci_low"] <= WQ <= row["ci_high"]
        else:
            hw = t_half_width(x, level)
            hits += abs(x.mean() - WQ) <= hw
    coverage = hits / M
    tolerance = 3 * math.sqrt(level * (1 - level) / M)
    assert abs(coverage - level) <= tolerance, f"coverage {coverage:.3f} at level {level}"


# --- sequential precision on tiny ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return load_scenario(TINY)


def relative_width_of(results: list, kpi: str) -> float:  # type: ignore[type-arg]
    return relative_half_width(kpi_frame(results)[kpi].to_numpy(dtype=float))


def test_precision_adds_replications_until_the_target_is_met(tiny: Scenario) -> None:
    rule = Precision(0.05, "orders", max_reps=40)
    by_design, meta = run_designs({"tiny": tiny}, 3, precision=rule)
    results = by_design["tiny"]
    n = meta["replications"]
    assert meta["precision_reached"] is True
    # below the cap: the next round is projected from the variance of the first three, not from
    # their width (whose t quantile, 4.30 at 2 degrees of freedom, would ask for ~5x too many)
    assert 3 < n < 40 and len(results) == n
    assert [r.replication for r in results] == list(range(n))
    achieved = relative_width_of(results, "orders")
    assert achieved == meta["relative_half_width"] <= 0.05
    assert relative_width_of(results[:3], "orders") > 0.05  # the first round was not enough
    assert meta["precision_target"] == 0.05


def test_precision_stops_at_the_cap(tiny: Scenario) -> None:
    rule = Precision(1e-4, "orders", max_reps=5)
    by_design, meta = run_designs({"tiny": tiny}, 2, precision=rule)
    assert meta["precision_reached"] is False
    assert meta["replications"] == len(by_design["tiny"]) == 5
    assert meta["relative_half_width"] == relative_width_of(by_design["tiny"], "orders") > 1e-4


def test_first_reps_above_the_cap_are_capped(tiny: Scenario) -> None:
    _, meta = run_designs({"tiny": tiny}, 6, precision=Precision(1e-4, "orders", max_reps=4))
    assert meta["replications"] == 4 and meta["precision_reached"] is False


def test_a_kpi_that_does_not_vary_stops_after_the_first_round(tiny: Scenario) -> None:
    # fill_rate is 1 in every replication of tiny: a zero-width interval, reached at once, and
    # one first replication is raised to the two an interval needs
    by_design, meta = run_designs({"tiny": tiny}, 1, precision=Precision(0.01, "fill_rate"))
    assert len(by_design["tiny"]) == 2
    assert meta["replications"] == 2 and meta["precision_reached"] is True
    assert meta["relative_half_width"] == 0.0


def test_unknown_precision_kpi_lists_the_choices(tiny: Scenario) -> None:
    with pytest.raises(TwinError, match=r"--kpi \(='fil_rate'\) .*did you mean 'fill_rate'"):
        Precision(0.05, "fil_rate")  # refused before any replication runs
    with pytest.raises(TwinError) as info:  # a KPI name other scenarios have, but not this one
        run_designs({"tiny": tiny}, 2, precision=Precision(0.05, "routing_km"))
    message = str(info.value)
    assert "--kpi (='routing_km')" in message
    for known in ("fill_rate", "orders", "cost_total", "otd"):
        assert known in message


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [({"target": 0.0}, "--precision"), ({"target": -1}, "--precision"),
     ({"target": 0.1, "max_reps": 1}, "--max-reps")],
)  # fmt: skip
def test_precision_rejects_bad_settings(kwargs: dict[str, float], option: str) -> None:
    with pytest.raises(TwinError, match=option):
        Precision(**kwargs)  # type: ignore[arg-type]


def test_precision_run_equals_a_plain_run_of_the_same_length(tiny: Scenario) -> None:
    sequential = replicate(tiny, 3, precision=Precision(0.05, "orders", max_reps=40))
    n = sequential.meta["replications"]
    assert isinstance(n, int) and n > 3 and len(sequential.kpis) == n
    plain = replicate(tiny, n)
    pd.testing.assert_frame_equal(sequential.kpis, plain.kpis, check_exact=True)
    pd.testing.assert_frame_equal(sequential.summary, plain.summary, check_exact=True)
    assert "precision_reached" not in plain.meta


def test_precision_over_designs_waits_for_the_widest(tiny: Scenario) -> None:
    other = tiny.model_copy(update={"seed": tiny.seed + 1, "name": "tiny-8"})
    rule = Precision(0.05, "orders", max_reps=40)
    by_design, meta = run_designs({"a": tiny, "b": other}, 3, precision=rule)
    n = meta["replications"]
    assert len(by_design["a"]) == len(by_design["b"]) == n
    widths = [relative_width_of(res, "orders") for res in by_design.values()]
    assert meta["relative_half_width"] == max(widths) <= 0.05


# --- paired differences ----------------------------------------------------------------------------


def test_identical_designs_differ_by_exactly_nothing() -> None:
    x = np.random.default_rng(1).normal(10, 2, 12)
    out = paired_difference(x, x.copy())
    assert out["diff"] == 0.0 and out["half_width"] == 0.0
    assert out["ci_low"] == out["ci_high"] == 0.0
    assert out["p_value"] == 1.0 and out["n_pairs"] == 12
    # unpaired, the same two samples would look uncertain: what common random numbers buy
    assert out["unpaired_half_width"] > 1.0


def test_a_constant_shift_is_certain() -> None:
    x = np.random.default_rng(2).normal(10, 2, 8)
    out = paired_difference(x, x + 0.5)
    assert out["diff"] == pytest.approx(0.5)
    assert out["half_width"] == pytest.approx(0.0, abs=1e-12)
    assert out["p_value"] < 1e-6


def test_paired_difference_matches_scipy_ttest_rel() -> None:
    rng = np.random.default_rng(3)
    base = rng.gamma(4.0, 2.0, 15)
    other = base + 0.6 + rng.normal(0, 1.5, 15)  # correlated, as under common random numbers
    out = paired_difference(base, other)
    ref = stats.ttest_rel(other, base)
    ci = ref.confidence_interval(0.95)
    assert out["diff"] == pytest.approx(np.mean(other - base), rel=1e-12)
    assert out["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert out["ci_low"] == pytest.approx(ci.low, rel=1e-9)
    assert out["ci_high"] == pytest.approx(ci.high, rel=1e-9)
    assert out["half_width"] == pytest.approx((ci.high - ci.low) / 2, rel=1e-9)
    assert out["n_pairs"] == 15
    # and at another level
    ci90 = ref.confidence_interval(0.90)
    assert paired_difference(base, other, 0.90)["half_width"] == pytest.approx(
        (ci90.high - ci90.low) / 2, rel=1e-9
    )


def test_welch_half_width_is_the_textbook_formula() -> None:
    rng = np.random.default_rng(4)
    n = 9
    base, other = rng.normal(5, 1, n), rng.normal(6, 3, n)  # unequal variances
    out = paired_difference(base, other)
    va, vb = base.var(ddof=1) / n, other.var(ddof=1) / n
    dof = (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (n - 1))  # Welch–Satterthwaite
    expected = stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    assert out["unpaired_half_width"] == pytest.approx(expected, rel=1e-12)
    ci = stats.ttest_ind(other, base, equal_var=False).confidence_interval(0.95)
    assert out["unpaired_half_width"] == pytest.approx((ci.high - ci.low) / 2, rel=1e-9)


def test_pairs_with_a_missing_value_are_dropped() -> None:
    base = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    other = np.array([1.5, 2.0, 3.0, np.inf, 6.0])
    out = paired_difference(base, other)
    assert out["n_pairs"] == 3
    ref = stats.ttest_rel([1.5, 2.0, 6.0], [1.0, 2.0, 5.0])
    assert out["diff"] == pytest.approx(0.5)
    assert out["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)


def test_one_pair_has_no_interval() -> None:
    out = paired_difference(np.array([1.0]), np.array([2.0]))
    assert out["diff"] == 1.0 and out["n_pairs"] == 1
    assert math.isnan(out["half_width"]) and math.isnan(out["p_value"])
