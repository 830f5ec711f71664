"""Demand (DESIGN §4) against Poisson-process theory.

Counts of a non-homogeneous Poisson process in a window [a, b) are Poisson with mean ∫_a^b λ(t) dt,
counts in disjoint windows are independent, and marking each arrival with the component of λ that
produced it (baseline or a livestream pulse) splits it into independent Poisson processes. Pulses
are built directly (fixed uplift M) so every expected count is known exactly.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from twin.config import scenario_from_data
from twin.model.demand import (
    BASELINE,
    Pulse,
    Season,
    draw_pulses,
    expected_orders,
    generate,
    sample_nhpp,
)
from twin.rng import Streams

SEED = 20240611
FLAT = Season(np.ones(24), np.ones(7))
P_EXTREME = 1e-4  # two-sided false-alarm probability of each chi-square check


def pulse_integral(base, amplitude, pulse, a, b):
    """∫_a^b base·amplitude·exp(−(t − t_e)/τ) dt over [a, b] ∩ [t_e, t_e + D) (the pulse part)."""
    lo, hi = max(a, pulse.start), min(b, pulse.end)
    if hi <= lo:
        return 0.0
    tau = pulse.decay
    return (
        base
        * amplitude
        * tau
        * (math.exp(-(lo - pulse.start) / tau) - math.exp(-(hi - pulse.start) / tau))
    )


def assert_poisson_counts(counts, expected, label):
    """Mean within 4 SE of `expected`; index of dispersion inside the χ²(n − 1) range."""
    counts = np.asarray(counts, float)
    n = len(counts)
    mean = counts.mean()
    se = math.sqrt(expected / n)
    dispersion = ((counts - mean) ** 2).sum() / mean  # ~ χ²(n − 1) for Poisson counts
    lo, hi = stats.chi2.ppf([P_EXTREME / 2, 1 - P_EXTREME / 2], n - 1)
    print(
        f"{label}: mean {mean:.3f} vs ∫λ {expected:.3f} ({(mean - expected) / se:+.2f} SE), "
        f"var/mean {counts.var(ddof=1) / mean:.3f} (χ² range {lo / (n - 1):.3f}–{hi / (n - 1):.3f})"
    )
    assert abs(mean - expected) < 4 * se, label
    assert lo < dispersion < hi, label


def test_pulse_window_counts_are_poisson_with_mean_integral_of_lambda():
    # Theory: N[a, b) ~ Poisson(∫λ) for λ(t) = base·(1 + A·exp(−(t − t_e)/τ)·1[t_e ≤ t < t_e + D]).
    # 4000 replications (independent streams): the SE of a window's mean count is √(Λ/4000),
    # i.e. 0.3–2 % of Λ here; 4 SE flags a thinning bound below λ, a wrong decay unit or a
    # shifted pulse. The dispersion check (χ² with 3999 d.f., var/mean within ≈ ±0.07 of 1)
    # flags over- or under-dispersed counts (e.g. a per-replication random rate).
    base, uplift = 5.0, 30.0
    pulse = Pulse("live", start=10.25, duration=3.0, decay=0.5, uplift=uplift)
    amplitude = uplift - 1.0  # share 1
    horizon = 20.0
    windows = {
        "before": (0.0, pulse.start),
        "first decay constant": (pulse.start, pulse.start + pulse.decay),
        "rest of pulse": (pulse.start + pulse.decay, pulse.end),
        "after": (pulse.end, horizon),
    }
    reps = 4000
    counts = {w: np.zeros(reps) for w in windows}
    live = {w: np.zeros(reps) for w in windows}
    pulse_times = []
    for r in range(reps):
        rng = Streams.for_replication(SEED, r).get("demand/test")
        t, channel = sample_nhpp(rng, base, FLAT, [pulse], np.array([amplitude]), horizon)
        assert (t >= 0).all() and (t < horizon).all()
        for w, (a, b) in windows.items():
            inside = (t >= a) & (t < b)
            counts[w][r] = inside.sum()
            live[w][r] = (inside & (channel == 1)).sum()
        pulse_times.append(t[(t >= pulse.start) & (t < pulse.end)])

    for w, (a, b) in windows.items():
        pulse_part = pulse_integral(base, amplitude, pulse, a, b)
        expected = base * (b - a) + pulse_part
        assert_poisson_counts(counts[w], expected, w)
        # Channel attribution: live arrivals are the thinned process of the pulse part alone,
        # so their share of the window's arrivals is (∫ pulse part)/(∫ λ) (binomial SE).
        share = live[w].sum() / counts[w].sum()
        share_th = pulse_part / expected
        share_se = math.sqrt(max(share_th * (1 - share_th), 1e-12) / counts[w].sum())
        print(f"  live share {share:.4f} vs {share_th:.4f}")
        assert abs(share - share_th) < 4 * share_se + 1e-12, w
        if pulse_part > 0:
            assert_poisson_counts(live[w], pulse_part, f"{w} (live channel)")
        else:
            assert live[w].sum() == 0

    # Disjoint windows are independent: correlation within 4/√n of 0.
    corr = np.corrcoef(counts["before"], counts["first decay constant"])[0, 1]
    assert abs(corr) < 4 / math.sqrt(reps)

    # Shape of the pulse: arrival times inside it, pooled, follow λ(t)/∫λ (χ² goodness of fit on
    # 30 bins of 6 min; ~600,000 arrivals, so a decay off by a few % would fail).
    times = np.concatenate(pulse_times)
    edges = np.linspace(pulse.start, pulse.end, 31)
    observed = np.histogram(times, edges)[0]
    expected = (
        np.array(
            [
                base * (b - a) + pulse_integral(base, amplitude, pulse, a, b)
                for a, b in itertools.pairwise(edges)
            ]
        )
        * reps
    )
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < stats.chi2.ppf(1 - P_EXTREME, len(observed))


def seasonal_scenario(
    hour_of_day,
    day_of_week=None,
    start_weekday=0,
    livestreams=None,
    horizon="28d",
    baseline=None,
    skus=None,
    regions=None,
):
    """A minimal valid network whose demand block is what these tests vary."""
    regions = regions or {"north": 1.0}
    skus = skus or {"a": {"unit_cost": 1, "price": 2}}
    sites = {
        "factory": {"kind": "factory", "location": [0, 0], "capacity": 10},
        "central": {
            "kind": "warehouse",
            "role": "central",
            "location": [1, 0],
            "pick_pack": {"workers": 1, "rate": 10},
        },
    }
    lanes = [{"from": "factory", "to": "central", "transit": "4h"}]
    for i, (region, weight) in enumerate(regions.items()):
        sites[region] = {
            "kind": "region",
            "location": [2, i],
            "weight": weight,
            "sla": "48h",
            "patience": "3d",
        }
        lanes.append({"from": "central", "to": region, "transit": "12h"})
    seasonality = {"hour_of_day": hour_of_day, "start_weekday": start_weekday}
    if day_of_week is not None:
        seasonality["day_of_week"] = day_of_week
    return scenario_from_data(
        {
            "name": "demand_theory",
            "seed": 3,
            "horizon": horizon,
            "skus": skus,
            "sites": sites,
            "lanes": lanes,
            "demand": {
                "baseline": baseline or {"orders_per_hour": 6},
                "seasonality": seasonality,
                "livestreams": livestreams or {},
            },
        },
        "test",
    )


def test_hour_of_day_and_day_of_week_seasonality():
    # Theory: with λ(t) = base·hod[h(t)]·dow[d(t)] (each profile rescaled to mean 1), the count in
    # each clock hour of each weekday is Poisson(base·hod·dow). Over 10 replications of 4 weeks
    # (≈ 40,000 orders) the counts by hour of day and by weekday pass a χ² goodness-of-fit test;
    # a profile ignored, shifted by an hour or by the start weekday gives χ² in the thousands.
    # Hours with multiplier 0 must get no orders at all.
    hod = [0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 3, 4, 6, 9, 12, 10, 6, 3, 1]
    dow = [1, 1, 1, 1, 1.5, 2, 2]
    start_weekday = 3
    scenario = seasonal_scenario(hod, dow, start_weekday)
    base = 6.0
    hod_n = np.array(hod, float) / np.mean(hod)
    dow_n = np.array(dow, float) / np.mean(dow)
    horizon = scenario.horizon
    hours = np.arange(int(horizon))
    lam_hour = base * hod_n[hours % 24] * dow_n[(hours // 24 + start_weekday) % 7]
    reps = 10
    by_hour = np.zeros(int(horizon))
    for r in range(reps):
        book = generate(scenario, Streams.for_replication(SEED, r), [])
        assert (np.diff(book.time) >= 0).all()
        by_hour += np.bincount(np.floor(book.time).astype(int), minlength=int(horizon))
    assert by_hour[lam_hour == 0].sum() == 0

    expected = lam_hour * reps
    hod_obs = np.bincount(hours % 24, weights=by_hour, minlength=24)
    hod_exp = np.bincount(hours % 24, weights=expected, minlength=24)
    positive = hod_exp > 0
    chi2_hod = float(((hod_obs - hod_exp)[positive] ** 2 / hod_exp[positive]).sum())
    weekday = (hours // 24 + start_weekday) % 7
    dow_obs = np.bincount(weekday, weights=by_hour, minlength=7)
    dow_exp = np.bincount(weekday, weights=expected, minlength=7)
    chi2_dow = float(((dow_obs - dow_exp) ** 2 / dow_exp).sum())
    print(f"hour-of-day χ² {chi2_hod:.1f} on {positive.sum()} bins; weekday χ² {chi2_dow:.1f} on 7")
    assert chi2_hod < stats.chi2.ppf(1 - P_EXTREME, positive.sum())
    assert chi2_dow < stats.chi2.ppf(1 - P_EXTREME, 7)
    # expected_orders agrees with the analytic ∫λ (piecewise constant per hour)
    for t0, t1 in [(0.0, horizon), (30.5, 55.25), (100.0, 101.0)]:
        lo, hi = math.floor(t0), math.ceil(t1)
        analytic = lam_hour[lo:hi].sum() - lam_hour[lo] * (t0 - lo) - lam_hour[hi - 1] * (hi - t1)
        assert expected_orders(scenario, [], t0, t1)[0, 0] == pytest.approx(analytic, rel=1e-9)


def test_generate_splits_pulse_over_regions_and_skus_with_seasonality():
    # Theory: λ_gk(t) = base_gk·season(t)·(1 + (M − 1)·featured_k·audience_g·e^{−(t−t_e)/τ}) with
    # base_gk = orders_per_hour·w_g/Σw·mix_k/Σmix (DESIGN §4), computed here independently of
    # twin.model.demand. 2000 replications of one day: each (region, SKU) count in each window is
    # within 4 SE of ∫λ_gk, with Poisson dispersion; the live share per (g, k) matches too.
    hod = [1] * 12 + [2] * 6 + [4] * 6
    livestream = {
        "start": "18.5h",
        "duration": "2h",
        "decay": "40min",
        "uplift": {"p50": 20, "p90": 60},
        "featured": {"a": 0.6, "b": 0.4},
        "audience": {"south": 0.5},
    }
    scenario = seasonal_scenario(
        hod,
        livestreams={"launch": livestream},
        horizon="1d",
        baseline={"orders_per_hour": 12, "sku_mix": {"a": 2, "b": 1, "c": 1}},
        skus={k: {"unit_cost": 1, "price": 2} for k in "abc"},
        regions={"north": 3.0, "south": 1.0},
    )
    uplift = 25.0
    pulse = Pulse("launch", 18.5, 2.0, 40 / 60, uplift)
    base = 12 * np.outer([0.75, 0.25], [0.5, 0.25, 0.25])
    share = np.outer([1.0, 0.5], [0.6, 0.4, 0.0])
    hod_n = np.array(hod, float) / np.mean(hod)

    def integral(g, k, a, b, part="all"):
        """∫ over [a, b) of λ_gk (or only its pulse part), hour by hour (season is constant)."""
        total = 0.0
        for h in range(math.floor(a), math.ceil(b)):
            lo, hi = max(a, h), min(b, h + 1)
            s = base[g, k] * hod_n[h % 24]
            pulse_part = pulse_integral(s, (uplift - 1) * share[g, k], pulse, lo, hi)
            total += pulse_part if part == "pulse" else s * (hi - lo) + pulse_part
        return total

    windows = [(0.0, 18.5), (18.5, 18.5 + 40 / 60), (18.5, 20.5), (20.5, 24.0)]
    for a, b in windows:
        analytic = np.array([[integral(g, k, a, b) for k in range(3)] for g in range(2)])
        np.testing.assert_allclose(expected_orders(scenario, [pulse], a, b), analytic, rtol=1e-5)

    reps = 2000
    counts = np.zeros((reps, len(windows), 2, 3))
    live = np.zeros((len(windows), 2, 3))
    for r in range(reps):
        book = generate(scenario, Streams.for_replication(SEED, r), [pulse])
        for w, (a, b) in enumerate(windows):
            inside = (book.time >= a) & (book.time < b)
            np.add.at(counts[r, w], (book.region[inside], book.sku[inside]), 1)
            on = inside & (book.channel == 1)
            np.add.at(live[w], (book.region[on], book.sku[on]), 1)
        assert set(np.unique(book.channel)) <= {BASELINE, 1}
    for w, (a, b) in enumerate(windows):
        for g in range(2):
            for k in range(3):
                expected = integral(g, k, a, b)
                assert_poisson_counts(counts[:, w, g, k], expected, f"[{a:g}, {b:g}) g={g} k={k}")
                n = counts[:, w, g, k].sum()
                p = integral(g, k, a, b, "pulse") / expected
                assert abs(live[w, g, k] / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-12


def test_draw_pulses_uplift_matches_planner_quantiles():
    # Theory: M ~ lognormal fitted to P50 and P90, so P(M ≤ P50) = 0.5 and P(M ≤ P90) = 0.9.
    # 4000 replications: binomial SE ≤ 0.008, tolerance 4 SE.
    livestream = {
        "start": "2h",
        "duration": "2h",
        "decay": "30min",
        "uplift": {"p50": 30, "p90": 150},
        "featured": {"a": 1.0},
    }
    scenario = seasonal_scenario([1] * 24, livestreams={"launch": livestream}, horizon="1d")
    reps = 4000
    uplift = np.array(
        [draw_pulses(scenario, Streams.for_replication(SEED, r))[0].uplift for r in range(reps)]
    )
    for q, level in [(0.5, 30), (0.9, 150)]:
        assert abs((uplift <= level).mean() - q) < 4 * math.sqrt(q * (1 - q) / reps)


def test_order_size_is_one_plus_poisson():
    # Theory: order size = 1 + Poisson(μ − 1), so mean μ and variance μ − 1. ~40,000 orders:
    # SE of the mean ≈ 0.004, tolerance 4 SE; variance within 5 % (its SE is ≈ 1 %).
    scenario = seasonal_scenario(
        [1] * 24,
        horizon="7d",
        skus={"a": {"unit_cost": 1, "price": 2, "order_size_mean": 1.6}},
        baseline={"orders_per_hour": 240},
    )
    qty = generate(scenario, Streams.for_replication(SEED, 0), []).quantity
    assert qty.min() >= 1
    assert abs(qty.mean() - 1.6) < 4 * math.sqrt(0.6 / len(qty))
    assert qty.var() == pytest.approx(0.6, rel=0.05)


def tiny_like(extra_warehouse=False):
    """A tiny.yaml-shaped scenario with a livestream, returns and two SKUs."""
    sites = {
        "factory": {"kind": "factory", "location": [0, 0], "capacity": 60},
        "central": {
            "kind": "warehouse",
            "role": "central",
            "location": [10, 0],
            "initial_stock": 1500,
            "pick_pack": {"workers": 4, "rate": 30},
        },
        "north": {
            "kind": "region",
            "location": [15, 50],
            "weight": 2,
            "sla": "48h",
            "patience": "3d",
        },
        "west": {
            "kind": "region",
            "location": [-30, 0],
            "weight": 1,
            "sla": "72h",
            "patience": "3d",
        },
    }
    lanes = [
        {"from": "factory", "to": "central", "transit": "4h"},
        {"from": "central", "to": "north", "transit": "30h"},
        {"from": "central", "to": "west", "transit": "20h"},
    ]
    if extra_warehouse:
        sites["fwd"] = {
            "kind": "warehouse",
            "role": "forward",
            "location": [10, 40],
            "initial_stock": 300,
            "pick_pack": {"workers": 3, "rate": 25},
        }
        lanes += [
            {"from": "central", "to": "fwd", "transit": "8h"},
            {"from": "fwd", "to": "north", "transit": "12h"},
        ]
    return scenario_from_data(
        {
            "name": "tiny_like",
            "seed": 7,
            "horizon": "4d",
            "skus": {
                "lipstick": {"unit_cost": 8, "price": 25, "order_size_mean": 1.2},
                "serum": {"unit_cost": 15, "price": 49},
            },
            "sites": sites,
            "lanes": lanes,
            "demand": {
                "baseline": {"orders_per_hour": 20, "sku_mix": {"lipstick": 2, "serum": 1}},
                "livestreams": {
                    "launch": {
                        "start": "2d",
                        "duration": "3h",
                        "decay": "40min",
                        "uplift": {"p50": 20, "p90": 60},
                        "featured": {"lipstick": 1.0},
                    }
                },
            },
            "returns": {"baseline": {"probability": 0.05}, "live": {"probability": 0.3}},
        },
        "test",
    )


def books_equal(a, b):
    fields = ("time", "region", "sku", "quantity", "channel", "return_units", "return_lag")
    return len(a) == len(b) and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)


def test_generate_is_deterministic_sorted_and_common_across_designs():
    # DESIGN §3: the same (seed, replication) gives the same orders; orders come sorted by time;
    # adding a warehouse does not change any region's demand (common random numbers).
    scenario = tiny_like()
    books = []
    for _ in range(2):
        streams = Streams.for_replication(scenario.seed, 3)
        books.append(generate(scenario, streams, draw_pulses(scenario, streams)))
    assert len(books[0]) > 1000
    assert books_equal(*books)
    assert (np.diff(books[0].time) >= 0).all()
    assert (books[0].channel == 1).any() and (books[0].return_units > 0).any()

    other = Streams.for_replication(scenario.seed, 4)
    assert not books_equal(books[0], generate(scenario, other, draw_pulses(scenario, other)))

    bigger = tiny_like(extra_warehouse=True)
    streams = Streams.for_replication(bigger.seed, 3)
    assert books_equal(books[0], generate(bigger, streams, draw_pulses(bigger, streams)))
