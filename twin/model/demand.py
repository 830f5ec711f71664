"""Demand (DESIGN §4): baseline plus livestream pulses as an exact non-homogeneous Poisson process.

For region g and SKU k the intensity is
    λ_gk(t) = base_gk · season(t) · (1 + Σ_e 1[t_e ≤ t < t_e + D_e] · (M_e − 1) · share_egk · exp(−(t − t_e)/τ_e))
with share_egk = featured_e[k] · audience_e[g]. Arrivals are drawn by thinning against a bound that is
provably above λ: the horizon is cut at whole hours (season is constant within an hour) and at every
pulse's start and end, and within each piece every pulse is largest at the piece's start. The whole
replication's demand is drawn up front, vectorised, from one named stream per (region, SKU).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from twin.config.schema import Scenario
from twin.distributions import LogNormal
from twin.rng import Streams

BASELINE = 0
"""Channel code of baseline orders; the pulse at index p (see `draw_pulses`) has code p + 1."""


@dataclass(frozen=True, slots=True)
class Pulse:
    """One livestream's pulse as drawn for a replication."""

    name: str
    start: float
    duration: float
    decay: float
    uplift: float
    """The multiplier M drawn for this replication."""
    event: int = 0
    """Index of the livestream (in file order) whose audience this pulse reaches."""
    replay: bool = False

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
        weekday = spec.start_weekday
        if scenario.start is not None and "start_weekday" not in spec.model_fields_set:
            weekday = scenario.start.weekday()  # the calendar start sets the weekday of hour 0
        return cls(hod / hod.mean(), dow / dow.mean(), weekday)

    def at(self, t: np.ndarray) -> np.ndarray:
        """The multiplier at times `t` (hours)."""
        hours = np.floor(t).astype(np.int64)
        return (
            self.hour_of_day[hours % 24] * self.day_of_week[(hours // 24 + self.start_weekday) % 7]
        )


@dataclass(frozen=True)
class OrderBook:
    """Every order of a replication, sorted by release time, with its pre-drawn return outcome.

    An order's first line is in `sku`/`quantity`; further lines (baskets) are in the `extra_*`
    arrays, the lines of order i at `extra_start[i]:extra_start[i + 1]`. `time` is when the order
    reaches fulfilment: its creation, or the event start for a pre-order. Return outcomes are drawn
    with demand (from their own streams) so that two designs compared on one seed see the same
    returns for the same orders.
    """

    time: np.ndarray
    region: np.ndarray
    sku: np.ndarray
    quantity: np.ndarray
    channel: np.ndarray
    """0 for baseline, else 1 + the index of the pulse that brought the order."""
    return_units: np.ndarray
    """Units of the first line that will come back if the order is delivered."""
    return_lag: np.ndarray
    """Hours from delivery to the return's arrival at the warehouse."""
    created: np.ndarray
    promised: np.ndarray
    """Promised delivery time: creation + the region's SLA, or the pre-sale promise."""
    presale: np.ndarray
    extra_start: np.ndarray
    extra_sku: np.ndarray
    extra_quantity: np.ndarray
    extra_return_units: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    @functools.cached_property
    def units(self) -> np.ndarray:
        """Units per order over all its lines."""
        owner = np.repeat(np.arange(len(self)), np.diff(self.extra_start))
        extra = np.bincount(owner, weights=self.extra_quantity, minlength=len(self))
        return _frozen(self.quantity + extra.astype(np.int64))

    def lines(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every line: (order index, SKU, units, returned units), first lines then extra lines."""
        return self._lines

    @functools.cached_property
    def _lines(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = len(self)
        owner = np.repeat(np.arange(n), np.diff(self.extra_start))
        return (
            _frozen(np.concatenate([np.arange(n), owner])),
            _frozen(np.concatenate([self.sku, self.extra_sku])),
            _frozen(np.concatenate([self.quantity, self.extra_quantity])),
            _frozen(np.concatenate([self.return_units, self.extra_return_units])),
        )


def _frozen(array: np.ndarray) -> np.ndarray:
    """`array`, read-only: cached views of the book are shared by every caller."""
    array.flags.writeable = False
    return array


def draw_pulses(scenario: Scenario, streams: Streams) -> list[Pulse]:
    """Each livestream's uplift M for this replication, from the planner's P50 and P90."""
    pulses = []
    for e, (name, event) in enumerate(scenario.demand.livestreams.items()):
        dist = LogNormal.from_quantiles(event.uplift.p50, event.uplift.p90)
        # a livestream never lowers demand: a draw below 1 (possible when P50 is near 1) is no
        # pulse, which also keeps the thinning bound above λ
        uplift = max(1.0, float(dist.sample(streams.get(f"livestream/{name}/uplift"), 1)[0]))
        pulses.append(Pulse(name, event.start, event.duration, event.decay, uplift, e))
        if event.replay is not None:
            r = event.replay
            pulses.append(
                Pulse(
                    f"{name}/replay",
                    event.start + r.after,
                    r.duration,
                    r.decay,
                    1.0 + r.uplift_fraction * (uplift - 1.0),
                    e,
                    replay=True,
                )
            )
    return pulses


def amplitudes_of(pulses: list[Pulse], share: np.ndarray, g: int, k: int) -> np.ndarray:
    """(M_p − 1)·share_egk for each pulse p of event e, in region g and SKU k."""
    if not pulses:
        return np.zeros(0)
    return np.array([(p.uplift - 1.0) * share[p.event, g, k] for p in pulses])


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


def draw_demand(scenario: Scenario, streams: Streams) -> tuple[list[Pulse], OrderBook]:
    """A replication's pulses and order book, as the model draws them (planners reuse it)."""
    pulses = draw_pulses(scenario, streams)
    return pulses, generate(scenario, streams, pulses)


def generate(scenario: Scenario, streams: Streams, pulses: list[Pulse]) -> OrderBook:
    """Draw every order of the replication, merged over regions and SKUs and sorted by release."""
    regions = scenario.sites_of("region")
    skus = list(scenario.skus)
    base = base_rates(scenario)
    share = shares(scenario)
    season = Season.from_scenario(scenario)
    mix = base.sum(axis=0) / base.sum()
    parts: list[dict[str, np.ndarray]] = []
    for g, region in enumerate(regions):
        for k, sku in enumerate(skus):
            if base[g, k] == 0.0:
                continue
            rng = streams.get(f"demand/region={region}/sku={sku}")
            amplitudes = amplitudes_of(pulses, share, g, k)
            t, channel = sample_nhpp(rng, base[g, k], season, pulses, amplitudes, scenario.horizon)
            part = {
                "time": t,
                "channel": channel,
                "region": np.full(len(t), g, np.int32),
                "sku": np.full(len(t), k, np.int32),
                "quantity": _sizes(rng, scenario.skus[sku].order_size_mean, len(t)),
            }
            part.update(
                _presale(
                    scenario,
                    streams.get(f"presale/region={region}/sku={sku}"),
                    part,
                    pulses,
                    scenario.sites[region].sla,
                )
            )  # type: ignore[union-attr]
            part.update(
                _basket(scenario, streams.get(f"basket/region={region}/sku={sku}"), k, len(t), mix)
            )
            part.update(_returns(scenario, streams.get(f"returns/region={region}/sku={sku}"), part))
            parts.append(part)
    return _merge(parts)


def _sizes(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    """Units per line: 1 + Poisson(mean − 1)."""
    return 1 + (rng.poisson(mean - 1.0, n) if mean > 1 else np.zeros(n, np.int64)).astype(np.int64)


def _presale(
    scenario: Scenario,
    rng: np.random.Generator,
    part: dict[str, np.ndarray],
    pulses: list[Pulse],
    sla: float,
) -> dict[str, np.ndarray]:
    """Move a share of each event's orders before it as pre-orders (created, release, promise)."""
    t = part["time"]
    created, release = t.copy(), t.copy()
    promised = t + sla
    presale = np.zeros(len(t), bool)
    events = list(scenario.demand.livestreams.values())
    for code, pulse in enumerate(pulses, start=1):
        spec = events[pulse.event].presale
        if spec is None or pulse.replay:
            continue
        mine = part["channel"] == code
        moved = mine & (rng.random(len(t)) < spec.share)
        n = int(moved.sum())
        created[moved] = pulse.start - spec.opens * rng.random(n)
        release[moved] = pulse.start
        promised[moved] = pulse.start + spec.promise
        presale |= moved
    return {
        "time": release,
        "created": np.maximum(created, 0.0),
        "promised": promised,
        "presale": presale,
    }


def _basket(
    scenario: Scenario, rng: np.random.Generator, k: int, n: int, mix: np.ndarray
) -> dict[str, np.ndarray]:
    """Extra lines of each order: Poisson(mean) of them, other SKUs drawn by the baseline mix."""
    mean = scenario.demand.basket.extra_lines_mean
    others = np.delete(np.arange(len(mix)), k)
    weight = mix[others].sum()
    counts = rng.poisson(mean, n) if mean > 0 and weight > 0 else np.zeros(n, np.int64)
    p = mix[others] / weight if weight > 0 else None
    owner = np.repeat(np.arange(n), counts)
    drawn = rng.choice(others, size=len(owner), p=p) if len(owner) else np.zeros(0, np.int64)
    # one line per (order, SKU): drop repeats of a SKU within an order
    order = np.lexsort((drawn, owner))
    owner, drawn = owner[order], drawn[order]
    keep = np.ones(len(owner), bool)
    keep[1:] = (owner[1:] != owner[:-1]) | (drawn[1:] != drawn[:-1])
    owner, sku = owner[keep], drawn[keep].astype(np.int32)
    size_means = np.array([s.order_size_mean for s in scenario.skus.values()])
    qty = 1 + rng.poisson(size_means[sku] - 1.0).astype(np.int64)
    return {
        "extra_count": np.bincount(owner, minlength=n).astype(np.int64),
        "extra_sku": sku,
        "extra_quantity": qty,
    }


def _returns(
    scenario: Scenario, rng: np.random.Generator, part: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Returned units per line (binomial per unit) and one lag per order, by channel."""
    r = scenario.returns
    channels = [r.baseline, r.live, r.presale or r.live]
    kind = np.where(part["presale"], 2, np.where(part["channel"] > 0, 1, 0))
    prob = np.array([c.probability for c in channels])
    ret = rng.binomial(part["quantity"], prob[kind]).astype(np.int64)
    owner_kind = np.repeat(kind, part["extra_count"])
    extra_ret = rng.binomial(part["extra_quantity"], prob[owner_kind]).astype(np.int64)
    lag = np.zeros(len(kind))
    for c, spec in enumerate(channels):
        mask = kind == c
        lag[mask] = spec.lag.build().sample(rng, int(mask.sum()))
    return {"return_units": ret, "extra_return_units": extra_ret, "return_lag": lag}


_ORDER_COLUMNS = (
    "time",
    "region",
    "sku",
    "quantity",
    "channel",
    "return_units",
    "return_lag",
    "created",
    "promised",
    "presale",
)
_DTYPES = {
    "region": np.int32,
    "sku": np.int32,
    "quantity": np.int64,
    "channel": np.int16,
    "return_units": np.int64,
    "presale": bool,
}


def _merge(parts: list[dict[str, np.ndarray]]) -> OrderBook:
    """Concatenate the (region, SKU) parts and sort by release time, then creation time."""
    cols = {
        c: np.concatenate([p[c] for p in parts]) if parts else np.zeros(0, _DTYPES.get(c, float))
        for c in _ORDER_COLUMNS
    }
    counts = np.concatenate([p["extra_count"] for p in parts]) if parts else np.zeros(0, np.int64)
    extra = {
        c: np.concatenate([p[c] for p in parts]) if parts else np.zeros(0, np.int64)
        for c in ("extra_sku", "extra_quantity", "extra_return_units")
    }
    order = np.lexsort((cols["created"], cols["time"]))
    starts = np.concatenate([[0], np.cumsum(counts)])
    # regroup the extra lines to follow the sorted orders
    new_counts = counts[order]
    new_starts = np.concatenate([[0], np.cumsum(new_counts)]).astype(np.int64)
    idx = np.repeat(starts[:-1][order] - new_starts[:-1], new_counts) + np.arange(new_starts[-1])
    return OrderBook(
        **{c: cols[c][order].astype(_DTYPES.get(c, cols[c].dtype)) for c in _ORDER_COLUMNS},
        extra_start=new_starts,
        extra_sku=extra["extra_sku"][idx].astype(np.int32),
        extra_quantity=extra["extra_quantity"][idx].astype(np.int64),
        extra_return_units=extra["extra_return_units"][idx].astype(np.int64),
    )


def expected_orders(
    scenario: Scenario, pulses: list[Pulse], t0: float, t1: float, steps_per_hour: int = 600
) -> np.ndarray:
    """∫ λ_gk over [t0, t1) by (region, SKU), numerically: the mean a window's count must match."""
    n = max(1, math.ceil((t1 - t0) * steps_per_hour))
    t = t0 + (np.arange(n) + 0.5) * (t1 - t0) / n
    season = Season.from_scenario(scenario).at(t)
    base = base_rates(scenario)
    share = shares(scenario)
    out = np.zeros_like(base)
    for g in range(base.shape[0]):
        for k in range(base.shape[1]):
            amplitudes = amplitudes_of(pulses, share, g, k)
            lam = base[g, k] * season * (1.0 + pulse_terms(t, pulses, amplitudes).sum(axis=1))
            out[g, k] = lam.sum() * (t1 - t0) / n
    return out
