"""KPIs of DESIGN §5, computed from one replication's record (never from model internals).

Service KPIs (`fill_rate`, `otd`) count only orders whose promise falls before the horizon: an
order promised after the run ends has no known outcome yet, and counting it late would punish the
last days of every run.
"""

from __future__ import annotations

import numpy as np

from twin.model.disruption import merged_windows
from twin.model.ledger import ALLOCATED, CANCELLED, WAITING
from twin.model.world import RunRecord

COST_PARTS = (
    "procurement",
    "supplier_reserved",
    "production_regular",
    "production_elastic",
    "elastic_reserved",
    "holding",
    "warehouse_fixed",
    "transport_linehaul",
    "transport_last_mile",
    "returns",
)


def backlog_series(record: RunRecord) -> tuple[np.ndarray, np.ndarray]:
    """Open backorder units as a step function: (change times, level after each change)."""
    o, book, h = record.outcomes, record.book, record.horizon_h
    waited = (
        (o.status == CANCELLED)
        | (o.status == WAITING)
        | ((o.status == ALLOCATED) & (o.allocated > book.time))
    )
    start = book.time[waited]
    end = np.where(o.status[waited] == CANCELLED, o.cancelled[waited], o.allocated[waited])
    q = book.units[waited]
    closing = np.isfinite(end) & (end < h)
    times = np.concatenate([start, end[closing]])
    change = np.concatenate([q, -q[closing]])
    order = np.argsort(times, kind="stable")
    return np.concatenate([[0.0], times[order]]), np.concatenate([[0], np.cumsum(change[order])])


def level_before(times: np.ndarray, levels: np.ndarray, t: float) -> float:
    """The step function's value just before `t`."""
    return float(levels[max(0, np.searchsorted(times, t, side="left") - 1)])


def recovery_hours(times: np.ndarray, levels: np.ndarray, start: float, horizon: float) -> float:
    """Hours from a pulse's start until backlog is back to its pre-pulse level (censored at the horizon)."""
    before = level_before(times, levels, start)
    after = times >= start
    t_after, l_after = times[after], levels[after]
    if len(l_after) == 0 or l_after.max() <= before:
        return 0.0
    peak = int(np.argmax(l_after))
    back = np.nonzero(l_after[peak:] <= before)[0]
    if len(back) == 0:
        return horizon - start
    return float(t_after[peak + back[0]] - start)


def compute(record: RunRecord) -> dict[str, float]:
    """Every KPI of one replication, as plain floats (one row of `kpis.csv`)."""
    sc, book, o = record.scenario, record.book, record.outcomes
    h = sc.horizon
    qty = book.units.astype(float)
    promised = book.promised
    price = np.array([sc.skus[k].price for k in record.skus])
    unit_cost = np.array([sc.skus[k].unit_cost for k in record.skus])
    allocated = o.status == ALLOCATED
    delivered = allocated & (o.delivered < h)
    judged = promised < h
    units_judged = qty[judged].sum()
    kpis: dict[str, float] = {
        "orders": float(len(book)),
        "units_demanded": float(qty.sum()),
        "fill_rate": _ratio(qty[judged & allocated & (o.shipped <= promised)].sum(), units_judged),
        "immediate_fill_rate": _ratio(qty[allocated & (o.allocated == book.time)].sum(), qty.sum()),
        "otd": _ratio(
            float((judged & delivered & (o.delivered <= promised)).sum()), float(judged.sum())
        ),
    }
    lead = o.delivered[delivered] - book.time[delivered]
    kpis["lead_time_p50"] = float(np.percentile(lead, 50)) if len(lead) else float("nan")
    kpis["lead_time_p95"] = float(np.percentile(lead, 95)) if len(lead) else float("nan")
    lost = (o.status == CANCELLED) & (o.cancelled < h)
    kpis["lost_sales"] = float(qty[lost].sum())
    times, levels = backlog_series(record)
    kpis["backlog_peak"] = float(levels.max())
    recoveries = [recovery_hours(times, levels, p.start, h) for p in record.pulses]
    kpis["recovery_h"] = max(recoveries) if recoveries else 0.0
    for pulse, hours in zip(record.pulses, recoveries, strict=True):
        kpis[f"recovery_h:{pulse.name}"] = hours
    for part in COST_PARTS:
        kpis[f"cost_{part}"] = float(record.costs.get(part, 0.0))
    kpis["cost_total"] = float(sum(kpis[f"cost_{p}"] for p in COST_PARTS))
    owner, line_sku, line_qty, _ = book.lines()
    line_qty = line_qty.astype(float)
    gross = float((line_qty * price[line_sku])[delivered[owner]].sum())
    kpis["revenue"] = gross - record.refunds
    margin = float((line_qty * (price - unit_cost)[line_sku])[lost[owner]].sum())
    delivered_units = qty[delivered]
    kpis["profit"] = kpis["revenue"] - kpis["cost_total"] - sc.costs.lost_sale_penalty * margin
    kpis["leftover_units"] = float(sum(b.on_hand for b in record.balances))
    kpis["utilisation_pick_pack"] = _ratio(record.pick_pack_busy, record.pick_pack_capacity)
    kpis["utilisation_factory"] = _ratio(record.factory_busy, record.factory_capacity)
    kpis["return_rate"] = _ratio(float(record.returns_received), float(delivered_units.sum()))
    kpis["restocked_units"] = float(record.restocked)
    if sc.disruptions.scheduled or sc.disruptions.random:
        kpis.update(_split_by_disruption(record, judged, delivered, promised, qty))
    for name, value in record.routing.items():
        kpis[f"routing_{name}"] = value
    return kpis


def _split_by_disruption(
    record: RunRecord,
    judged: np.ndarray,
    delivered: np.ndarray,
    promised: np.ndarray,
    qty: np.ndarray,
) -> dict[str, float]:
    """OTD and fill rate of orders created during a disruption, and of the others."""
    book, o = record.book, record.outcomes
    during = np.zeros(len(book), bool)
    for start, end in merged_windows(record.disruptions):
        during |= (book.created >= start) & (book.created < end)
    out = {}
    for label, mask in (("disrupted", during), ("normal", ~during)):
        sel = judged & mask
        on_time = sel & delivered & (o.delivered <= promised)
        out[f"otd_{label}"] = _ratio(float(on_time.sum()), float(sel.sum()))
        shipped = sel & (o.status == ALLOCATED) & (o.shipped <= promised)
        out[f"fill_rate_{label}"] = _ratio(qty[shipped].sum(), qty[sel].sum())
    return out


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")
