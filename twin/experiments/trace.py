"""What a report needs from one replication, as compact float32 arrays (its `Trace`).

A `Trace` answers *where, when and why* for one replication: stock, backlog and inbound per SKU ×
site through time (from the sampler), resource load through time, lost and late units per site ×
region × SKU, each lost or late unit's binding cause, service by region and site, units moved per
lane, and the returns still to come. Every replication returns one (a few hundred kilobytes on the
flagship), so the report reads the spread across all replications, never one replication as if it
were typical. `stack` and `unstack` turn a list of traces into one dict of arrays (for `npz`).

Cause attribution is a rule chain on recorded state, first match wins (README, "The run report"):

1. `closure`: the order's warehouse was closed when the order came;
2. for an order that waited for stock at a forward site while a central site held its SKU:
   `line-haul capacity` when a line-haul departure to the site within the previous day left full
   or was cut, else `no stock at site` (the stock was in the network but not placed here);
3. for an order that waited while no central site held its SKU: `supplier` when the factories'
   components could not make what was ordered of the SKU (components short), `factory capacity`
   when the factory's regular lines ran ≥ 90 % in the previous day, `disruption` when a line was
   down, else `upstream empty` (the plan did not make or buy enough in time);
4. for an order served from stock but late: `pick/pack queue` when the pick/pack wait on arrival
   was at least half its time before leaving, `last-mile wave` when it then waited over an hour
   for a wave, else `last-mile transit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from twin.kpi import next_starts, restock_pending, returns_by_channel, waited_for_stock
from twin.model.ledger import ALLOCATED, CANCELLED

if TYPE_CHECKING:
    from twin.model.world import RunRecord

CAUSES = (
    "closure",
    "no stock at site",
    "line-haul capacity",
    "upstream empty",
    "factory capacity",
    "supplier",
    "disruption",
    "pick/pack queue",
    "last-mile wave",
    "last-mile transit",
)
"""Binding causes of lost and late units, in the order the rule chain tries them."""

FULL = 0.99
"""A departure loaded to this share of its capacity counts as full."""
FACTORY_SATURATED = 0.9
LINEHAUL_LOOKBACK_H = 24.0
FACTORY_LOOKBACK_H = 24.0
PULSE_WINDOW_AFTER_H = 48.0
"""A pulse's window runs at most this long after it ends (or to the next pulse, or the horizon)."""


@dataclass(frozen=True)
class Trace:
    """One replication's compact record for reports (arrays float32 unless said).

    Shapes: T sample times, W warehouses, K SKUs, G regions, R resources, C causes, H hours,
    L lanes, P pulses.

    - `grid` [T] hours; `on_hand`, `backlog`, `inbound` [T, W, K] units;
    - `busy` [R, T] share of a resource in use (see `Samples`; line-haul departures and
      last-mile waves as load ÷ capacity at their departure's sample, NaN elsewhere),
      `queue_h` [W, T] pick/pack wait on arrival;
    - `demanded` [G, K], `lost` [W, G, K] units of cancelled orders, `late` [W, G, K] units of
      orders not delivered by their promise (and not cancelled);
    - `cause_units` [C, W, K] and `cause_hourly` [C, H] lost + late units by binding cause;
    - `orders_judged`, `orders_on_time`, `units_judged`, `units_filled`, `lead_p50` [W, G]:
      service by source warehouse × region (orders promised before the horizon);
    - `flows` [L] units moved along each lane (`lanes`);
    - `returns` [2, 5] per channel (baseline, live): delivered units, units to be returned,
      received by the horizon, still to come, refunds still owed;
    - `restock_pending` expected units put back into stock from returns still to come;
    - `uplift` [P] the multiplier each pulse drew;
    - `pulse_short` [P, W, K] lost + late units of orders placed in each pulse's window (from its
      start to the next pulse's start or the horizon, at most `PULSE_WINDOW_AFTER_H` after it ends).
    """

    grid: np.ndarray
    on_hand: np.ndarray
    backlog: np.ndarray
    inbound: np.ndarray
    busy: np.ndarray
    queue_h: np.ndarray
    demanded: np.ndarray
    lost: np.ndarray
    late: np.ndarray
    cause_units: np.ndarray
    cause_hourly: np.ndarray
    orders_judged: np.ndarray
    orders_on_time: np.ndarray
    units_judged: np.ndarray
    units_filled: np.ndarray
    lead_p50: np.ndarray
    flows: np.ndarray
    returns: np.ndarray
    restock_pending: np.ndarray
    uplift: np.ndarray
    pulse_short: np.ndarray

    @property
    def nbytes(self) -> int:
        """Bytes of all arrays (what ships back from a worker)."""
        return sum(getattr(self, f.name).nbytes for f in fields(self))


@dataclass(frozen=True)
class TraceAxes:
    """The names along a trace's axes: the same for every replication of a scenario."""

    sites: tuple[str, ...]
    roles: tuple[str, ...]
    skus: tuple[str, ...]
    regions: tuple[str, ...]
    resources: tuple[str, ...]
    lanes: tuple[str, ...]
    pulses: tuple[str, ...]
    pulse_start: tuple[float, ...]
    pulse_end: tuple[float, ...]
    horizon: float

    def to_json(self) -> dict[str, object]:
        """A JSON-able dict (for the results folder)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> TraceAxes:
        """Read back what `to_json` wrote."""
        values = {
            f.name: tuple(data[f.name]) if f.name != "horizon" else float(data[f.name])  # type: ignore[arg-type]
            for f in fields(cls)
        }
        return cls(**values)  # type: ignore[arg-type]


def axes_of(record: RunRecord) -> TraceAxes:
    """The axes of `record`'s trace."""
    sc = record.scenario
    return TraceAxes(
        sites=tuple(record.warehouses),
        roles=tuple(getattr(sc.sites[w], "role", "") for w in record.warehouses),
        skus=tuple(record.skus),
        regions=tuple(record.regions),
        resources=record.samples.resources
        + tuple(f"linehaul:{n}" for n in record.departures)
        + tuple(f"wave:{n}" for n in record.waves),
        lanes=_lane_names(record),
        pulses=tuple(p.name for p in record.pulses),
        pulse_start=tuple(p.start for p in record.pulses),
        pulse_end=tuple(p.end for p in record.pulses),
        horizon=float(record.horizon_h),
    )


def _lane_names(record: RunRecord) -> tuple[str, ...]:
    """Every lane of the scenario as `origin->destination` (carriers merged), in file order."""
    seen: dict[str, None] = {}
    for lane in record.scenario.lanes:
        seen[f"{lane.origin}->{lane.destination}"] = None
    return tuple(seen)


def trace_of(record: RunRecord) -> Trace:
    """Build the trace of one replication from its record."""
    book, o, samples = record.book, record.outcomes, record.samples
    h = record.horizon_h
    n_w, n_g, n_k = len(record.warehouses), len(record.regions), len(record.skus)
    owner, line_sku, line_qty, _ = book.lines()
    line_qty = line_qty.astype(np.float64)
    region = book.region[owner]
    site = o.warehouse[owner]

    lost_order = (o.status == CANCELLED) & (o.cancelled < h)
    judged = book.promised < h
    on_time = judged & (o.status == ALLOCATED) & (o.delivered <= book.promised)
    late_order = judged & ~on_time & ~lost_order
    waited = waited_for_stock(record)

    demanded = _sum3(None, region, line_sku, line_qty, (n_g, n_k))
    lost = _sum3(site, region, line_sku, line_qty * lost_order[owner], (n_w, n_g, n_k))
    late = _sum3(site, region, line_sku, line_qty * late_order[owner], (n_w, n_g, n_k))

    cause = _causes(record, waited, lost_order | late_order)
    affected = cause[owner] >= 0
    c_line = cause[owner][affected]
    cause_units = add_at(
        (len(CAUSES), n_w, n_k), (c_line, site[affected], line_sku[affected]), line_qty[affected]
    )
    hours = max(1, math.ceil(h))
    hour = np.minimum(np.floor(book.time[owner][affected]).astype(np.int64), hours - 1)
    cause_hourly = add_at((len(CAUSES), hours), (c_line, hour), line_qty[affected])

    units = book.units.astype(np.float64)
    served = o.warehouse >= 0
    w_o, g_o = np.where(served, o.warehouse, 0), book.region
    orders_judged = _count2(w_o, g_o, judged & served, (n_w, n_g))
    orders_on_time = _count2(w_o, g_o, on_time, (n_w, n_g))
    units_judged = _count2(w_o, g_o, judged & served, (n_w, n_g), units)
    filled = judged & (o.status == ALLOCATED) & (o.shipped <= book.promised)
    units_filled = _count2(w_o, g_o, filled, (n_w, n_g), units)
    lead_p50 = _lead_p50(record, n_w, n_g)

    return Trace(
        grid=samples.grid,
        on_hand=samples.on_hand,
        backlog=samples.backlog,
        inbound=samples.inbound,
        busy=np.vstack([samples.busy, _loads(record)]).astype(np.float32),
        queue_h=samples.queue_h,
        demanded=demanded.astype(np.float32),
        lost=lost.astype(np.float32),
        late=late.astype(np.float32),
        cause_units=cause_units.astype(np.float32),
        cause_hourly=cause_hourly.astype(np.float32),
        orders_judged=orders_judged.astype(np.float32),
        orders_on_time=orders_on_time.astype(np.float32),
        units_judged=units_judged.astype(np.float32),
        units_filled=units_filled.astype(np.float32),
        lead_p50=lead_p50.astype(np.float32),
        flows=_flows(record).astype(np.float32),
        returns=returns_by_channel(record).astype(np.float32),
        restock_pending=np.array([restock_pending(record)], np.float32),
        uplift=np.array([p.uplift for p in record.pulses], np.float32),
        pulse_short=_pulse_short(record, lost_order | late_order).astype(np.float32),
    )


def pulse_window_ends(
    starts: list[float], ends: list[float], horizon: float
) -> list[float]:
    """Where each pulse's window ends: the next pulse's start, the horizon, or 48 h after it ends."""
    nexts = next_starts(starts, horizon)
    return [min(n, e + PULSE_WINDOW_AFTER_H) for n, e in zip(nexts, ends, strict=True)]


def _pulse_short(record: RunRecord, short: np.ndarray) -> np.ndarray:
    """Lost + late units per pulse window × site × SKU."""
    book, o = record.book, record.outcomes
    owner, line_sku, line_qty, _ = book.lines()
    pulses = record.pulses
    stops = pulse_window_ends(
        [p.start for p in pulses], [p.end for p in pulses], record.horizon_h
    )
    out = np.zeros((len(pulses), len(record.warehouses), len(record.skus)))
    t = book.time[owner]
    site = o.warehouse[owner]
    hit = short[owner] & (site >= 0)
    for i, (p, stop) in enumerate(zip(pulses, stops, strict=True)):
        sel = hit & (t >= p.start) & (t < stop)
        out[i] = add_at(out[i].shape, (site[sel], line_sku[sel]), line_qty[sel])
    return out


def add_at(shape: tuple[int, ...], index: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
    """Sum `weights` into a new array of `shape` at `index` (np.add.at's result, ~10x faster)."""
    flat = np.ravel_multi_index(index, shape) if len(weights) else np.zeros(0, np.int64)
    total = np.bincount(flat, weights=np.asarray(weights, np.float64), minlength=math.prod(shape))
    return total.reshape(shape)


def _sum3(
    a: np.ndarray | None, b: np.ndarray, c: np.ndarray, weights: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Sum `weights` into an array indexed by (a, b, c), or (b, c) when `a` is None."""
    if a is None:
        return add_at(shape, (b, c), weights)
    keep = a >= 0
    return add_at(shape, (a[keep], b[keep], c[keep]), weights[keep])


def _count2(
    a: np.ndarray,
    b: np.ndarray,
    mask: np.ndarray,
    shape: tuple[int, int],
    weights: np.ndarray | None = None,
) -> np.ndarray:
    w = np.ones(int(mask.sum())) if weights is None else weights[mask]
    return add_at(shape, (a[mask], b[mask]), w)


def _lead_p50(record: RunRecord, n_w: int, n_g: int) -> np.ndarray:
    """Median order-to-delivery hours of delivered orders per source warehouse × region."""
    o, book = record.outcomes, record.book
    done = (o.status == ALLOCATED) & (o.delivered < record.horizon_h)
    out = np.full((n_w, n_g), np.nan)
    if not done.any():
        return out
    lead = (o.delivered - book.time)[done]
    key = o.warehouse[done] * n_g + book.region[done]
    order = np.argsort(key, kind="stable")
    key, lead = key[order], lead[order]
    bounds = np.flatnonzero(np.diff(key)) + 1
    for part_key, part in zip(key[np.r_[0, bounds]], np.split(lead, bounds), strict=True):
        out[part_key // n_g, part_key % n_g] = np.median(part)
    return out


def _windows(record: RunRecord, kinds: tuple[str, ...]) -> dict[str, list[tuple[float, float]]]:
    """Disruption windows of some kinds, by target."""
    out: dict[str, list[tuple[float, float]]] = {}
    for d in record.disruptions:
        if d.kind in kinds:
            out.setdefault(d.target, []).append((d.start, d.end))
    return out


def _active(times: np.ndarray, windows: list[tuple[float, float]], before: float = 0.0) -> np.ndarray:
    """Whether a window overlaps [t − before, t] for each t."""
    hit = np.zeros(len(times), bool)
    for start, end in windows:
        hit |= (times >= start) & (times - before < end)
    return hit


def _causes(record: RunRecord, waited: np.ndarray, affected: np.ndarray) -> np.ndarray:
    """The binding cause (index into CAUSES) of each affected order; −1 for the others."""
    book, o, samples = record.book, record.outcomes, record.samples
    cause = np.full(len(book), -1, np.int64)
    idx = np.flatnonzero(affected & (o.warehouse >= 0))
    if not len(idx):
        return cause
    t = book.time[idx]
    w = o.warehouse[idx]
    k = book.sku[idx]
    gi = np.clip(np.searchsorted(samples.grid, t, side="right") - 1, 0, len(samples.grid) - 1)
    roles = [getattr(record.scenario.sites[s], "role", "") for s in record.warehouses]
    central = [i for i, r in enumerate(roles) if r == "central"]
    upstream_stock = (
        samples.on_hand[:, central, :].sum(axis=1)[gi, k] if central else np.zeros(len(idx))
    )
    forward = np.array([r == "forward" for r in roles])[w]

    closed = np.zeros(len(idx), bool)
    for target, wins in _windows(record, ("warehouse_closure",)).items():
        if target in record.warehouses:
            mine = w == record.warehouses.index(target)
            closed |= mine & _active(t, wins)
    linehaul_full = _linehaul_full(record, t, w)
    short = samples.makeable[gi, k] < np.maximum(samples.to_make[gi, k], 1.0)
    supplier = short & (samples.to_make[gi, k] > 0) | (samples.makeable[gi, k] <= 0)
    line_down = np.zeros(len(idx), bool)
    for wins in _windows(record, ("line_down",)).values():
        line_down |= _active(t, wins, FACTORY_LOOKBACK_H)
    factory_busy = _factory_load(record, t)

    wait = waited[idx]
    pre_ship = np.nan_to_num(o.shipped[idx] - o.allocated[idx], nan=0.0)
    queue = samples.queue_h[w, gi]
    choices = [
        (closed, "closure"),
        (wait & forward & (upstream_stock > 0) & linehaul_full, "line-haul capacity"),
        (wait & forward & (upstream_stock > 0), "no stock at site"),
        (wait & supplier, "supplier"),
        (wait & (factory_busy >= FACTORY_SATURATED), "factory capacity"),
        (wait & line_down, "disruption"),
        (wait, "upstream empty"),
        ((queue > 0.0) & (queue >= 0.5 * pre_ship), "pick/pack queue"),
        (pre_ship - queue > 1.0, "last-mile wave"),
    ]
    cause[idx] = np.select(
        [c for c, _ in choices],
        [CAUSES.index(name) for _, name in choices],
        CAUSES.index("last-mile transit"),
    )
    return cause


def _linehaul_full(record: RunRecord, t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Whether a line-haul departure to warehouse w in the day before t left full or was cut."""
    out = np.zeros(len(t), bool)
    cuts = _windows(record, ("carrier_capacity_cut",))
    for name, log in record.departures.items():
        dest = name.split("->", 1)[1].split("@", 1)[0]
        if dest not in record.warehouses:
            continue
        mine = w == record.warehouses.index(dest)
        if not mine.any():
            continue
        full = [time for time, cap, units in log if cap is not None and units >= FULL * cap]
        hit = np.zeros(len(t), bool)
        for time in full:
            hit |= (t >= time) & (t - LINEHAUL_LOOKBACK_H < time)
        lane = name.split("@", 1)[0]
        hit |= _active(t, cuts.get(lane, []))
        out |= mine & hit
    return out


def _factory_load(record: RunRecord, t: np.ndarray) -> np.ndarray:
    """The busiest factory's regular-line load over the day before t."""
    samples = record.samples
    rows = [i for i, r in enumerate(samples.resources) if r.startswith("factory:")]
    if not rows:
        return np.zeros(len(t))
    grid = samples.grid.astype(np.float64)
    width = np.diff(np.append(grid, record.horizon_h))
    load = np.nan_to_num(samples.busy[rows].astype(np.float64)).max(axis=0)
    worked = np.concatenate([[0.0], np.cumsum(load * width)])
    hi = np.searchsorted(grid, t, side="right")
    lo = np.searchsorted(grid, t - FACTORY_LOOKBACK_H, side="left")
    span = np.concatenate([[0.0], np.cumsum(width)])
    hours = span[hi] - span[lo]
    return np.where(hours > 0, (worked[hi] - worked[lo]) / np.maximum(hours, 1e-9), 0.0)


def _loads(record: RunRecord) -> np.ndarray:
    """Line-haul departures and last-mile waves as load ÷ capacity on the sample grid."""
    grid = record.samples.grid.astype(np.float64)
    logs = list(record.departures.values()) + list(record.waves.values())
    out = np.full((len(logs), len(grid)), np.nan)
    for row, log in enumerate(logs):
        for time, cap, load in log:
            if cap is None or time >= record.horizon_h:
                continue
            i = max(0, int(np.searchsorted(grid, time, side="right")) - 1)
            share = load / cap if cap > 0 else 1.0
            out[row, i] = share if math.isnan(out[row, i]) else max(out[row, i], share)
    return out


def _flows(record: RunRecord) -> np.ndarray:
    """Units moved along each lane: line-haul loads and last-mile units delivered or on the way."""
    names = _lane_names(record)
    out = np.zeros(len(names))
    where = {n: i for i, n in enumerate(names)}
    for name, log in record.departures.items():
        key = name.split("@", 1)[0]
        if key in where:
            out[where[key]] += sum(units for _, _, units in log)
    o, book = record.outcomes, record.book
    sent = (o.status == ALLOCATED) & (o.shipped < record.horizon_h)
    units = add_at(
        (len(record.warehouses), len(record.regions)),
        (o.warehouse[sent], book.region[sent]),
        book.units[sent],
    )
    for w, wid in enumerate(record.warehouses):
        for g, rid in enumerate(record.regions):
            key = f"{wid}->{rid}"
            if key in where:
                out[where[key]] += units[w, g]
    return out


def stack(traces: list[Trace]) -> dict[str, np.ndarray]:
    """One array per field with replications first (e.g. `on_hand` [N, T, W, K])."""
    return {f.name: np.stack([getattr(t, f.name) for t in traces]) for f in fields(Trace)}


def unstack(arrays: dict[str, np.ndarray]) -> list[Trace]:
    """The traces `stack` made, one per replication."""
    n = len(arrays["grid"])
    return [Trace(**{f.name: arrays[f.name][r] for f in fields(Trace)}) for r in range(n)]
