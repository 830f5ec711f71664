"""Periodic-review base stock (order-up-to S) with Poisson unit demand, backorders and a constant
lead time: the whole model (demand, review policy, transfers, backorder queue, KPIs) against the
closed form of the textbook (R, S) system.

Timing convention of the model (twin/model/world.py, twin/policies/replenishment.py):
- the policy's review process starts at t = 0 and reviews at 0, R, 2R, … (reviews run before any
  customer order at the same instant; customer orders are continuous, so ties have probability 0);
- at a review the forward warehouse orders S − (on hand + inbound − backorders) from the central
  warehouse, which ships at once; with a constant transit L and `inbound_handling: 0` the units are
  put away exactly L later and go first to backorders, FIFO;
- the forward warehouse starts with S on hand, which is the inventory position right after a
  review at t = 0 with nothing in the pipeline.
This is the textbook convention, so with D(u) ~ Poisson(λu) the demand over u hours:
- net inventory at t ∈ [kR + L, (k+1)R + L) is S − D(kR, t], since everything ordered up to kR has
  arrived and the order of (k+1)R has not; u = t − kR sweeps [L, L + R) uniformly;
- time-average backorders E[B] = (1/R) ∫_L^{L+R} E[(D(u) − S)^+] du;
- time-average on hand  E[I] = (1/R) ∫_L^{L+R} E[(S − D(u))^+] du;
- fill rate (units met at once from stock) = 1 − (E[(D(L+R) − S)^+] − E[(D(L) − S)^+]) / (λR):
  the units served from stock in a cycle are min(D(L+R), S) − min(D(L), S).
Sample path (exact, no statistics): unit n (n > S) is covered by the replenishment ordered at the
first review at or after the arrival of unit n − S, so it is allocated at
max(t_n, ⌈t_{n−S}/R⌉·R + L); units 1..S come from the initial stock.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from twin import kpi
from twin.config import scenario_from_data
from twin.model.world import simulate
from twin.state import Transfer

HOURS_PER_YEAR = 24 * 365


def base_stock_scenario(lam, lead, review, target, horizon, seed=11):
    """One factory → central (never runs out) → one forward warehouse → one region, unit demand."""
    return scenario_from_data(
        {
            "name": "base_stock_theory",
            "seed": seed,
            "horizon": horizon,
            "skus": {"unit": {"unit_cost": 1, "price": 2}},  # order_size_mean 1: unit demand
            "sites": {
                "factory": {"kind": "factory", "location": [0, 0], "capacity": 1},
                "central": {
                    "kind": "warehouse",
                    "role": "central",
                    "location": [10, 0],
                    "initial_stock": 10**7,
                    "pick_pack": {"workers": 1, "rate": 1},
                },
                "forward": {
                    "kind": "warehouse",
                    "role": "forward",
                    "location": [20, 0],
                    "initial_stock": target,
                    "inbound_handling": 0,
                    "pick_pack": {"workers": 8, "rate": 1000},
                },
                "region": {
                    "kind": "region",
                    "location": [30, 0],
                    "sla": "48h",
                    "patience": "1000d",
                },
            },
            "lanes": [
                {"from": "factory", "to": "central", "transit": "1h"},
                {"from": "central", "to": "forward", "transit": lead},
                {"from": "forward", "to": "region", "transit": "1h"},
            ],
            "demand": {"baseline": {"orders_per_hour": lam}},
            "returns": {"baseline": {"probability": 0}, "live": {"probability": 0}},
            # holding cost rate 1 per unit-hour, so the holding cost is the unit-hours on hand
            "costs": {"holding_rate_per_year": HOURS_PER_YEAR},
            "policies": {
                "forward_replenishment": {
                    "kind": "base_stock",
                    "review": review,
                    "sites": "forward",
                    "target": target,
                },
            },
        },
        "test",
    )


def expected_excess(mean, target):
    """E[(D − S)^+] for D ~ Poisson(mean)."""
    k = np.arange(target + 1, int(mean + 40 * math.sqrt(mean) + 100))
    return float(((k - target) * stats.poisson.pmf(k, mean)).sum())


def expected_on_hand(mean, target):
    """E[(S − D)^+] for D ~ Poisson(mean)."""
    k = np.arange(0, target)
    return float(((target - k) * stats.poisson.pmf(k, mean)).sum())


def theory(lam, lead, review, target):
    """Fill rate, time-average backorders and time-average on hand of the (R, S) system."""
    excess = expected_excess(lam * (lead + review), target) - expected_excess(lam * lead, target)
    fill = 1.0 - excess / (lam * review)
    backorders = (
        integrate.quad(lambda u: expected_excess(lam * u, target), lead, lead + review, limit=200)[
            0
        ]
        / review
    )
    on_hand = (
        integrate.quad(lambda u: expected_on_hand(lam * u, target), lead, lead + review, limit=200)[
            0
        ]
        / review
    )
    return fill, backorders, on_hand


def step_integral(times, levels, bounds):
    """∫ of the right-continuous step function (times, levels) from 0 up to each of `bounds`."""
    area = np.concatenate([[0.0], np.cumsum(levels[:-1] * np.diff(times))])
    idx = np.searchsorted(times, bounds, side="right") - 1
    return area[idx] + levels[idx] * (bounds - times[idx])


def central_unit_hours(record, initial, horizon):
    """Unit-hours on hand at the central warehouse: its initial stock less what it shipped."""
    shipped = [(t, d.quantity) for t, _, d in record.decisions if isinstance(d, Transfer)]
    return initial * horizon - sum(q * (horizon - t) for t, q in shipped)


def test_theory_helpers_are_consistent():
    # E[I] − E[B] = S − λ(L + R/2): net inventory is S minus the mean demand since the review.
    lam, lead, review, target = 10.0, 4.0, 2.0, 55
    _, backorders, on_hand = theory(lam, lead, review, target)
    assert on_hand - backorders == pytest.approx(target - lam * (lead + review / 2), abs=1e-6)


@pytest.mark.parametrize(
    ("lam", "lead", "review", "target"),
    [(10.0, 4.0, 2.0, 55), (6.0, 5.5, 4.0, 54)],
    ids=["L=4h,R=2h,S=55", "L=5.5h,R=4h,S=54"],
)
def test_allocation_times_follow_the_base_stock_sample_path(lam, lead, review, target):
    # Exact (no statistics): unit n is allocated at max(t_n, ⌈t_{n−S}/R⌉·R + L), and each
    # review orders exactly the demand of the review period just ended.
    horizon = 2000.0
    record = simulate(base_stock_scenario(lam, lead, review, target, horizon), 0)
    book, o = record.book, record.outcomes
    assert (book.quantity == 1).all()
    t = book.time
    cover = np.full(len(t), -np.inf)
    cover[target:] = np.ceil(t[:-target] / review) * review + lead
    predicted = np.maximum(t, cover)
    done = predicted < horizon
    np.testing.assert_allclose(o.allocated[done], predicted[done], rtol=0, atol=1e-9)
    assert np.isnan(o.allocated[~done]).all()
    assert 0.05 < (cover > t).mean() < 0.5  # both stock-outs and immediate fills occur

    transfers = [(dt, d.quantity) for dt, _, d in record.decisions if isinstance(d, Transfer)]
    times = np.array([dt for dt, _ in transfers])
    k = np.round(times / review)
    np.testing.assert_allclose(times, k * review, atol=1e-9)
    demand = np.histogram(t, bins=np.arange(0.0, horizon + review, review))[0]
    # the order at review k·R replaces the demand of ((k−1)R, kR]; periods without demand order nothing
    expected = {int(i) * review: int(q) for i, q in enumerate(demand, start=1) if q > 0}
    got = {float(kk) * review: q for kk, (_, q) in zip(k, transfers, strict=True)}
    assert got == {r: q for r, q in expected.items() if r < horizon}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lam", "lead", "review", "target", "reps", "batches"),
    [(10.0, 4.0, 2.0, 55, 6, 25), (6.0, 5.5, 4.0, 54, 6, 30)],
    ids=["L=4h,R=2h,S=55", "L=5.5h,R=4h,S=54"],
)
def test_fill_rate_and_backorders_match_periodic_review_theory(
    lam, lead, review, target, reps, batches
):
    # Theory: (R, S) base stock with Poisson demand (formulas in the module docstring).
    # Each replication runs `batches` batches of 1000 h (500 or 250 review cycles each) after a
    # 100 h warm-up. The state depends only on the last L + R hours of demand, so batches are
    # independent and batch means give honest standard errors. With 150,000–180,000 simulated
    # hours (1.1–1.5M orders) the SE is ≈ 0.0015 on the fill rate and ≈ 1 % on mean backorders,
    # so tolerances of 0.01 absolute and 5 % are ≥ 4 SE (asserted below). Mean on hand (from the
    # holding cost, rate 1 per unit-hour, less the central warehouse's exactly known share) is
    # an independent accounting path with a similar SE.
    fill_th, backorders_th, on_hand_th = theory(lam, lead, review, target)
    warm, batch = 100.0, 1000.0
    horizon = warm + batches * batch
    fill_kpi, orders = [], []
    batch_fill, batch_backorders = [], []
    on_hand = []
    for r in range(reps):
        record = simulate(base_stock_scenario(lam, lead, review, target, horizon), r)
        k = kpi.compute(record)
        assert k["lost_sales"] == 0
        fill_kpi.append(k["immediate_fill_rate"])
        orders.append(k["orders"])
        times, levels = kpi.backlog_series(record)
        edges = warm + batch * np.arange(batches + 1)
        batch_backorders += list(np.diff(step_integral(times, levels, edges)) / batch)
        book, o = record.book, record.outcomes
        immediate = o.allocated == book.time
        which = np.searchsorted(edges, book.time, side="right") - 1
        keep = (which >= 0) & (which < batches)
        hits = np.bincount(which[keep], weights=immediate[keep], minlength=batches)
        batch_fill += list(hits / np.bincount(which[keep], minlength=batches))
        central = central_unit_hours(record, 10**7, horizon)
        on_hand.append((k["cost_holding"] - central) / horizon)

    fill = float(np.average(fill_kpi, weights=orders))
    fill_se = float(np.std(batch_fill, ddof=1) / math.sqrt(len(batch_fill)))
    backorders = float(np.mean(batch_backorders))
    backorders_se = float(np.std(batch_backorders, ddof=1) / math.sqrt(len(batch_backorders)))
    mean_on_hand = float(np.mean(on_hand))
    print(
        f"\nfill {fill:.4f} (batch {np.mean(batch_fill):.4f} ± {fill_se:.4f}) vs {fill_th:.4f}; "
        f"backorders {backorders:.4f} ± {backorders_se:.4f} vs {backorders_th:.4f} "
        f"({100 * (backorders / backorders_th - 1):+.2f} %); on hand {mean_on_hand:.4f} vs "
        f"{on_hand_th:.4f} ({100 * (mean_on_hand / on_hand_th - 1):+.2f} %)"
    )
    # the run is long enough for the tolerances to mean something
    assert fill_se < 0.01 / 4
    assert backorders_se < 0.05 * backorders_th / 4
    assert fill == pytest.approx(fill_th, abs=0.01)
    assert np.mean(batch_fill) == pytest.approx(fill_th, abs=0.01)
    assert backorders == pytest.approx(backorders_th, rel=0.05)
    assert mean_on_hand == pytest.approx(on_hand_th, rel=0.05)
