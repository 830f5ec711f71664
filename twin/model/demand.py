"""Demand (DESIGN §4): baseline plus livestream pulses as an exact non-homogeneous Poisson process.

For region g and SKU k the intensity is
    λ_gk(t) = base_gk · season(t) · (1 + Σ_e 1[t_e ≤ t < t_e + D_e] · (M_e − 1) · share_egk · exp(−(t − t_e)/τ_e))
with share_egk = featured_e[k] · audience_e[g]. Arrivals are drawn by thinning against a bound that is
provably above λ: the horizon is cut at whole hours (season is constant within an hour) and at every
pulse's start and end, and within each piece every pulse is largest at the piece's start. The whole
replication's demand is drawn up front, vectorised, from one named stream per (region, SKU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.config.schema import Scenario
from twin.distributions import LogNormal
from twin.rng import Streams

BASELINE = 0
"""Channel code of baseline orders; livestream e (in file order) has code e + 1."""


@dataclass(frozen=True, slots=True)
class Pulse:
    """One livestream's pulse as drawn for a replication."""

    name: str
    start: float
    duration: float
    decay: float
    uplift: float
    """The multiplier M drawn for this replication."""

    @property
    def end(self) -> float:
        """When the pulse stops."""
        return self.start + self.duration


@dataclass(frozen=True, slots=True)
class Season:
    """Hour-of-day × day-of-week multipliers, each rescaled to mean 1."""

    hour_of_day: np.ndarray
    day_of_week: np.ndarray
    start_weekday: int = 0

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Season:
        """Flat unless the scenario gives profiles."""
        spec = scenario.demand.seasonality
        hod = np.ones(24) if spec.hour_of_day is None else np.asarray(spec.hour_of_day, float)
        dow = np.ones(7) if spec.day_of_week is None else np.asarray(spec.day_of_week, float)
        return cls(hod / hod.mean(), dow / dow.mean(), spec.start_weekday)

    def at(self, t: np.ndarray) -> np.ndarray:
        """The multiplier at times `t` (hours)."""
        hours = np.floor(t).astype(np.int64)
        return (
            self.hour_of_day[hours % 24] * self.day_of_week[(hours // 24 + self.start_weekday) % 7]
        )


@dataclass(frozen=True)
class OrderBook:
    """Every order of a replication, sorted by creation time, with its pre-drawn return outcome.

    Return outcomes are drawn with demand (from their own streams) so that two designs compared on
    one seed see the same returns for the same orders.
    """

    time: np.ndarray
    region: np.ndarray
    sku: np.ndarray
    quantity: np.ndarray
    channel: np.ndarray
    return_units: np.ndarray
    """Units that will come back if the order is delivered."""
    return_lag: np.ndarray
    """Hours from delivery to the return's arrival at the warehouse."""

    def __len__(self) -> int:
        return len(self.time)


def draw_pulses(scenario: Scenario, streams: Streams) -> list[Pulse]:
    """Each livestream's uplift M for this replication, from the planner's P50 and P90."""
    pulses = []
    for name, event in scenario.demand.livestreams.items():
        dist = LogNormal.from_quantiles(event.uplift.p50, event.uplift.p90)
        uplift = float(dist.sample(streams.get(f"livestream/{name}/uplift"), 1)[0])
        pulses.append(Pulse(name, event.start, event.duration, event.decay, uplift))
    return pulses


def base_rates(scenario: Scenario) -> np.ndarray:
    """Baseline orders per hour by (region, SKU), regions and SKUs in file order."""
    regions = scenario.sites_of("region")
    weights = np.array([scenario.sites[r].weight for r in regions], float)
    mix_spec = scenario.demand.baseline.sku_mix
    mix = np.array([mix_spec.get(k, 0.0 if mix_spec else 1.0) for k in scenario.skus], float)
    return scenario.demand.baseline.orders_per_hour * np.outer(
        weights / weights.sum(), mix / mix.sum()
    )


def shares(scenario: Scenario) -> np.ndarray:
    """share_egk by (event, region, SKU): featured share × audience weight (default 1)."""
    regions = scenario.sites_of("region")
    out = np.zeros((len(scenario.demand.livestreams), len(regions), len(scenario.skus)))
    for e, event in enumerate(scenario.demand.livestreams.values()):
        audience = np.array([event.audience.get(r, 1.0) for r in regions])
        featured = np.array([event.featured.get(k, 0.0) for k in scenario.skus])
        out[e] = np.outer(audience, featured)
    return out


def pulse_terms(t: np.ndarray, pulses: list[Pulse], amplitudes: np.ndarray) -> np.ndarray:
    """(M_e − 1)·share·exp(−(t − t_e)/τ_e) inside each pulse, one column per pulse."""
    out = np.zeros((len(t), len(pulses)))
    for e, p in enumerate(pulses):
        if amplitudes[e] == 0.0:
            continue
        on = (t >= p.start) & (t < p.end)
        out[on, e] = amplitudes[e] * np.exp(-(t[on] - p.start) / p.decay)
    return out


def sample_nhpp(
    rng: np.random.Generator,
    base: float,
    season: Season,
    pulses: list[Pulse],
    amplitudes: np.ndarray,
    horizon: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact NHPP arrival times on [0, horizon) and their channels, by thinning.

    `amplitudes[e]` is (M_e − 1)·share_egk. The channel of an accepted arrival is drawn in
    proportion to each component's share of λ(t) (baseline, or one of the pulses).
    """
    cuts = [np.arange(0.0, horizon, 1.0), [horizon]]
    cuts += [[p.start, p.end] for p in pulses]
    edges = np.unique(np.clip(np.concatenate(cuts), 0.0, horizon))
    lo, hi = edges[:-1], edges[1:]
    bound = 1.0 + pulse_terms(lo, pulses, amplitudes).sum(axis=1)
    lam_max = base * season.at(lo) * bound
    counts = rng.poisson(lam_max * (hi - lo))
    piece = np.repeat(np.arange(len(lo)), counts)
    t = lo[piece] + rng.random(len(piece)) * (hi - lo)[piece]
    terms = pulse_terms(t, pulses, amplitudes)
    total = 1.0 + terms.sum(axis=1)
    accept = rng.random(len(t)) * bound[piece] < total
    pick = rng.random(len(t)) * total
    channel = _channels(pick, terms)
    return t[accept], channel[accept]


def _channels(pick: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """Channel codes: 0 if `pick` < 1 (baseline), else 1 + the pulse whose band holds it."""
    channel = np.zeros(len(pick), dtype=np.int16)
    upper = np.ones(len(pick))
    for e in range(terms.shape[1]):
        lower, upper = upper, upper + terms[:, e]
        channel[(pick >= lower) & (pick < upper)] = e + 1
    return channel


def generate(scenario: Scenario, streams: Streams, pulses: list[Pulse]) -> OrderBook:
    """Draw every order of the replication, merged over regions and SKUs and sorted by time."""
    regions = scenario.sites_of("region")
    skus = list(scenario.skus)
    base = base_rates(scenario)
    share = shares(scenario)
    season = Season.from_scenario(scenario)
    uplift = np.array([p.uplift for p in pulses])
    lag_dists = [scenario.returns.baseline.lag.build(), scenario.returns.live.lag.build()]
    probs = [scenario.returns.baseline.probability, scenario.returns.live.probability]
    parts: list[tuple[np.ndarray, ...]] = []
    for g, region in enumerate(regions):
        for k, sku in enumerate(skus):
            if base[g, k] == 0.0:
                continue
            rng = streams.get(f"demand/region={region}/sku={sku}")
            amplitudes = (uplift - 1.0) * share[:, g, k] if pulses else np.zeros(0)
            t, channel = sample_nhpp(rng, base[g, k], season, pulses, amplitudes, scenario.horizon)
            size_mean = scenario.skus[sku].order_size_mean
            qty = 1 + (
                rng.poisson(size_mean - 1.0, len(t)) if size_mean > 1 else np.zeros(len(t), int)
            )
            ret_rng = streams.get(f"returns/region={region}/sku={sku}")
            live = channel > 0
            p = np.where(live, probs[1], probs[0])
            ret_units = ret_rng.binomial(qty, p)
            lag = np.where(
                live, lag_dists[1].sample(ret_rng, len(t)), lag_dists[0].sample(ret_rng, len(t))
            )
            parts.append(
                (
                    t,
                    np.full(len(t), g, np.int32),
                    np.full(len(t), k, np.int32),
                    qty.astype(np.int64),
                    channel,
                    ret_units.astype(np.int64),
                    lag,
                )
            )
    if not parts:
        empty = np.zeros(0)
        return OrderBook(
            empty,
            empty.astype(np.int32),
            empty.astype(np.int32),
            empty.astype(np.int64),
            empty.astype(np.int16),
            empty.astype(np.int64),
            empty,
        )
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    order = np.argsort(cols[0], kind="stable")
    return OrderBook(*(c[order] for c in cols))


def expected_orders(
    scenario: Scenario, pulses: list[Pulse], t0: float, t1: float, steps_per_hour: int = 600
) -> np.ndarray:
    """∫ λ_gk over [t0, t1) by (region, SKU), numerically: the mean a window's count must match."""
    n = max(1, math.ceil((t1 - t0) * steps_per_hour))
    t = t0 + (np.arange(n) + 0.5) * (t1 - t0) / n
    season = Season.from_scenario(scenario).at(t)
    base = base_rates(scenario)
    share = shares(scenario)
    uplift = np.array([p.uplift for p in pulses])
    out = np.zeros_like(base)
    for g in range(base.shape[0]):
        for k in range(base.shape[1]):
            amplitudes = (uplift - 1.0) * share[:, g, k] if pulses else np.zeros(0)
            lam = base[g, k] * season * (1.0 + pulse_terms(t, pulses, amplitudes).sum(axis=1))
            out[g, k] = lam.sum() * (t1 - t0) / n
    return out
