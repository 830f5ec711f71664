"""Every KPI in one place: its name, unit, range, direction, description, format and computation.

The registry (`info`, `KPIS`, `FAMILIES`) is what the report, the statistics, the gate, the sweep
and the compare read; `compute` turns one replication's record into a row of `kpis.csv`. Adding a
KPI is one entry here and one line in `compute`.

Service KPIs (`fill_rate`, `otd`) count only orders whose promise falls before the horizon: an
order promised after the run ends has no known outcome yet, and counting it late would punish the
last days of every run.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from twin.model.ledger import ALLOCATED, CANCELLED, WAITING

if TYPE_CHECKING:
    from twin.model.world import RunRecord

Unit = Literal["share", "units", "orders", "hours", "money", "count", "km"]
Better = Literal["higher", "lower"] | None


@dataclass(frozen=True)
class KpiInfo:
    """What a KPI is: how to read it, format it and judge it.

    - `unit`: `share` (a rate in [0, 1]), `units`, `orders`, `hours`, `money`, `count` or `km`;
    - `low`, `high`: the values it can take (an interval is clipped to them);
    - `better`: `higher`, `lower`, or None where neither is better (utilisation, demand);
    - `skewed`: lopsided or bounded across runs (many zeros, a long tail, rates near 1), so the
      report gives a bootstrap percentile interval beside Student t;
    - `censored`: the value is capped (recovery censored at the next pulse or the horizon).
    """

    name: str
    unit: Unit
    description: str
    better: Better = None
    low: float = 0.0
    high: float = math.inf
    skewed: bool = False
    censored: bool = False

    @property
    def is_rate(self) -> bool:
        """A share in [0, 1], shown as a percentage."""
        return self.unit == "share"

    def verdict(self, diff: float) -> str:
        """`better`, `worse` or `same` for a change of `diff` in this KPI."""
        if self.better is None or diff == 0 or not math.isfinite(diff):
            return "same"
        return "better" if (diff > 0) == (self.better == "higher") else "worse"


def _share(name: str, description: str, better: Better = "higher", skewed: bool = True) -> KpiInfo:
    return KpiInfo(name, "share", description, better, 0.0, 1.0, skewed)


KPIS: dict[str, KpiInfo] = {
    k.name: k
    for k in (
        KpiInfo("orders", "orders", "Orders created"),
        KpiInfo("units_demanded", "units", "Units ordered by customers"),
        _share("fill_rate", "Units shipped from stock within the promise window ÷ units demanded"),
        _share(
            "immediate_fill_rate",
            "Units served from stock on arrival (no backorder) ÷ units demanded",
        ),
        _share("otd", "Orders delivered by their promised time ÷ orders created (cancelled count as late)"),
        KpiInfo(
            "lead_time_p50", "hours", "Median order-to-delivery time of delivered orders", "lower"
        ),
        KpiInfo(
            "lead_time_p95",
            "hours",
            "95th percentile order-to-delivery time of delivered orders",
            "lower",
            skewed=True,
        ),
        KpiInfo("lost_sales", "units", "Units of orders cancelled while backordered", "lower", skewed=True),
        KpiInfo(
            "lost_revenue",
            "money",
            "Revenue of orders cancelled while backordered (units × price)",
            "lower",
            skewed=True,
        ),
        KpiInfo(
            "backlog_peak", "units", "Largest number of open backorder units at any time", "lower",
            skewed=True,
        ),
        KpiInfo(
            "recovery_h",
            "hours",
            "Longest recovery over the pulses: hours from a pulse's start until backlog is back to "
            "its pre-pulse level (censored at the next pulse or the horizon)",
            "lower",
            skewed=True,
            censored=True,
        ),
        KpiInfo("cost_total", "money", "Total cost over the run (sum of the cost parts)", "lower"),
        KpiInfo("revenue", "money", "Delivered units × price − refunds", "higher", -math.inf),
        KpiInfo(
            "profit",
            "money",
            "Revenue − total cost − lost-margin penalty (where configured)",
            "higher",
            -math.inf,
        ),
        KpiInfo(
            "leftover_units",
            "units",
            "Stock left at the end of the horizon (overstock after the sale)",
            "lower",
        ),
        _share("utilisation_pick_pack", "Share of pick/pack capacity in use", None, False),
        _share("utilisation_factory", "Share of factory regular capacity in use", None, False),
        _share(
            "return_rate",
            "Returned units received by the horizon ÷ delivered units",
            None,
            False,
        ),
        _share(
            "return_rate_expected",
            "Units delivered that will come back (received or still to come) ÷ delivered units",
            None,
            False,
        ),
        KpiInfo("restocked_units", "units", "Returned units inspected and put back into stock"),
        KpiInfo(
            "returns_pending_units",
            "units",
            "Units delivered by the horizon that will still come back after it",
        ),
        KpiInfo(
            "refunds_pending",
            "money",
            "Refunds still owed after the horizon for returns to come (a liability)",
            "lower",
        ),
        KpiInfo(
            "restock_pending_units",
            "units",
            "Units of returns to come that inspection is expected to put back into stock",
        ),
        KpiInfo("routing_waves", "count", "Routed delivery waves sent"),
        KpiInfo("routing_vehicles", "count", "Vans sent on routed waves", "lower"),
        KpiInfo("routing_km", "km", "Kilometres driven on routed waves", "lower"),
        KpiInfo(
            "routing_fallbacks", "count", "Routed waves the solver left to the fallback heuristic",
            "lower",
        ),
        KpiInfo("routing_milk_runs", "count", "Transfer milk-runs (one trip through several warehouses)"),
        KpiInfo(
            "routing_milk_run_fallbacks",
            "count",
            "Milk-runs the solver left to the fallback heuristic",
            "lower",
        ),
        _share("otd_disrupted", "OTD of orders created while any disruption was active"),
        _share("otd_normal", "OTD of orders created while no disruption was active"),
        _share(
            "fill_rate_disrupted", "Fill rate of orders created while any disruption was active"
        ),
        _share("fill_rate_normal", "Fill rate of orders created while no disruption was active"),
    )
}
"""The KPIs of every scenario (families made per scenario are in `FAMILIES`)."""

COST_PARTS: dict[str, str] = {
    "procurement": "components bought from suppliers (contract price, surcharge above contract)",
    "supplier_reserved": "supplier capacity reserved (fee per unit-day, used or not)",
    "production_regular": "production on regular capacity",
    "production_elastic": "production on elastic capacity (unit cost + premium)",
    "elastic_reserved": "elastic capacity reserved (fee per unit-hour, used or not)",
    "holding": "holding stock (unit-hours × rate)",
    "warehouse_fixed": "keeping warehouses open (each one's fixed cost over the horizon)",
    "transport_linehaul": "line-haul transport (factory → central → forward)",
    "transport_last_mile": "last-mile delivery to customers (per order, per wave, routes)",
    "returns": "returns handling",
}
"""The parts of `cost_total`, each a KPI `cost_<part>`."""

for _part, _what in COST_PARTS.items():
    KPIS[f"cost_{_part}"] = KpiInfo(f"cost_{_part}", "money", f"Cost: {_what}", "lower")

RECOVERY_PREFIX = "recovery_h:"
"""Per-pulse recovery KPIs are named `recovery_h:<pulse name>`."""
CENSORED_PREFIX = "recovery_censored:"
"""1 when the pulse's recovery was censored (backlog not back by the next pulse or the horizon)."""

KPIS["recovery_censored"] = KpiInfo(
    "recovery_censored",
    "share",
    "Whether the longest recovery was censored (its mean: the share of runs censored)",
    None,
    0.0,
    1.0,
)

FAMILIES: dict[str, KpiInfo] = {
    RECOVERY_PREFIX: KPIS["recovery_h"],
    CENSORED_PREFIX: KPIS["recovery_censored"],
    "cost_": KpiInfo("cost_", "money", "Cost part", "lower"),
    "routing_": KpiInfo("routing_", "count", "Routed last-mile total"),
    "otd_": KPIS["otd"],
    "fill_rate_": KPIS["fill_rate"],
    "utilisation_": KPIS["utilisation_pick_pack"],
}
"""KPI names made per scenario, by prefix, and what they share with their family."""


def info(name: str) -> KpiInfo:
    """The registry entry of a KPI (a family's for per-scenario names); a plain count otherwise."""
    known = KPIS.get(name)
    if known is not None:
        return known
    for prefix, family in FAMILIES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            description = family.description
            pulse = name[len(prefix) :]
            if prefix == RECOVERY_PREFIX:
                description = (
                    f"Hours from {pulse}'s start until backlog is back to its pre-pulse level "
                    "(censored at the next pulse or the horizon)"
                )
            elif prefix == CENSORED_PREFIX:
                description = f"Whether {pulse}'s recovery was censored (mean: share of runs)"
            return KpiInfo(
                name, family.unit, description, family.better, family.low, family.high,
                family.skewed, family.censored,
            )
    return KpiInfo(name, "count", "")


def is_known(name: str) -> bool:
    """Whether `name` is a KPI twin computes (by name or by a family's prefix)."""
    return name in KPIS or name.startswith(tuple(FAMILIES))


def unknown_kpi(name: str) -> str | None:
    """Why `name` is no KPI twin computes (with the nearest name), or None when it may be one.

    Lets commands refuse a misspelt KPI before any replication runs.
    """
    if is_known(name):
        return None
    near = difflib.get_close_matches(name, list(KPIS), n=1)
    return "is not a KPI" + (f"; did you mean {near[0]!r}?" if near else "")


MISSING = "–"
"""What a table shows for a value that is not available (e.g. a CI from one replication)."""


def decimals_for(values: list[float]) -> int:
    """Decimals that show a magnitude sensibly: none from 100 up, one from 1, two below 1."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    largest = max(finite, default=0.0)
    if largest >= 100:
        return 0
    return 1 if largest >= 1 else 2


def format_value(name: str, value: float, decimals: int | None = None, currency: str = "") -> str:
    """One value of a KPI as a planner reads it: `83.3%`, `5.3 h`, `¥3,485,581`, `12,400`."""
    if not math.isfinite(value):
        return MISSING
    unit = info(name).unit
    if unit == "share":
        return f"{100.0 * value:.1f}%"
    if unit == "hours":
        return f"{value:,.1f} h"
    places = decimals_for([value]) if decimals is None else decimals
    if value == 0 or (unit in ("units", "orders", "count") and abs(value) >= 10):
        places = 0  # "0", not "0.00"; whole things from 10 up
    text = f"{value:,.{places}f}"
    if unit == "money" and currency:
        return f"-{currency}{text[1:]}" if text.startswith("-") else f"{currency}{text}"
    return text


def format_ci(name: str, low: float, high: float, currency: str = "") -> str:
    """A confidence interval as `[low, high]`, both ends with the same precision."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return MISSING
    places = decimals_for([low, high])
    return f"[{format_value(name, low, places, currency)}, {format_value(name, high, places, currency)}]"


def format_spread(name: str, half_width: float, currency: str = "") -> str:
    """A ± half-width in the KPI's own unit: percentage points for rates (`± 9.8 pp`)."""
    if not math.isfinite(half_width):
        return ""
    unit = info(name).unit
    if unit == "share":
        return f"± {100.0 * half_width:.1f} pp"
    if unit == "hours":
        return f"± {half_width:,.1f} h"
    text = f"{half_width:,.{0 if half_width == 0 else decimals_for([half_width])}f}"
    return f"± {currency if unit == 'money' else ''}{text}"


def format_difference(name: str, diff: float, currency: str = "") -> str:
    """A signed change of a KPI: `+1.2 pp`, `−3.5 h`, `+¥12,000`; `±0.0 pp` when it rounds to 0."""
    if not math.isfinite(diff):
        return MISSING
    unit = info(name).unit
    if unit == "share":
        text, shown = f"{100.0 * abs(diff):.1f} pp", round(100.0 * diff, 1)
    elif unit == "hours":
        text, shown = f"{abs(diff):,.1f} h", round(diff, 1)
    else:
        places = decimals_for([diff])
        text = f"{currency if unit == 'money' else ''}{abs(diff):,.{places}f}"
        shown = round(diff, places)
    sign = "+" if shown > 0 else ("−" if shown < 0 else "±")
    return f"{sign}{text}"


def waited_for_stock(record: RunRecord) -> np.ndarray:
    """Per order, whether it waited for stock: cancelled, still waiting, or allocated late."""
    o, book = record.outcomes, record.book
    return (
        (o.status == CANCELLED)
        | (o.status == WAITING)
        | ((o.status == ALLOCATED) & (o.allocated > book.time))
    )


def backlog_series(record: RunRecord) -> tuple[np.ndarray, np.ndarray]:
    """Open backorder units as a step function: (change times, level after each change)."""
    o, book, h = record.outcomes, record.book, record.horizon_h
    waited = waited_for_stock(record)
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


def recovery_hours(
    times: np.ndarray, levels: np.ndarray, start: float, end: float
) -> tuple[float, bool]:
    """Hours from a pulse's start until backlog is back to its pre-pulse level, and if censored.

    The backlog is watched in [start, end), `end` being the next pulse's start or the horizon:
    once backlog first rises above its level just before the pulse, recovery is the first time
    it is back at or below that level. If it never is before `end`, the recovery is censored:
    the value is `end − start`, a lower bound, and the flag is True.
    """
    before = level_before(times, levels, start)
    inside = (times >= start) & (times < end)
    t_in, l_in = times[inside], levels[inside]
    above = np.flatnonzero(l_in > before)
    if len(above) == 0:
        return 0.0, False
    back = np.flatnonzero(l_in[above[0] :] <= before)
    if len(back) == 0:
        return end - start, True
    return float(t_in[above[0] + back[0]] - start), False


def next_starts(starts: Sequence[float], horizon: float) -> list[float]:
    """For each start, the next later start among them, or the horizon.

    That is where a pulse's recovery is censored and where its window ends.
    """
    return [min([s for s in starts if s > start] + [horizon]) for start in starts]


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
    ends = next_starts([p.start for p in record.pulses], h)
    recoveries = [
        recovery_hours(times, levels, p.start, end)
        for p, end in zip(record.pulses, ends, strict=True)
    ]
    if recoveries:
        longest = max(recoveries)
        kpis["recovery_h"], kpis["recovery_censored"] = longest[0], float(longest[1])
    else:
        kpis["recovery_h"], kpis["recovery_censored"] = 0.0, 0.0
    for pulse, (hours, censored) in zip(record.pulses, recoveries, strict=True):
        kpis[f"recovery_h:{pulse.name}"] = hours
        kpis[f"{CENSORED_PREFIX}{pulse.name}"] = float(censored)
    for part in COST_PARTS:
        kpis[f"cost_{part}"] = float(record.costs.get(part, 0.0))
    kpis["cost_total"] = float(sum(kpis[f"cost_{p}"] for p in COST_PARTS))
    owner, line_sku, line_qty, _ = book.lines()
    line_qty = line_qty.astype(float)
    gross = float((line_qty * price[line_sku])[delivered[owner]].sum())
    kpis["revenue"] = gross - record.refunds
    margin = float((line_qty * (price - unit_cost)[line_sku])[lost[owner]].sum())
    kpis["lost_revenue"] = float((line_qty * price[line_sku])[lost[owner]].sum())
    delivered_units = qty[delivered]
    kpis["profit"] = kpis["revenue"] - kpis["cost_total"] - sc.costs.lost_sale_penalty * margin
    kpis["leftover_units"] = float(sum(b.on_hand for b in record.balances))
    kpis["utilisation_pick_pack"] = _ratio(record.pick_pack_busy, record.pick_pack_capacity)
    kpis["utilisation_factory"] = _ratio(record.factory_busy, record.factory_capacity)
    kpis["return_rate"] = _ratio(float(record.returns_received), float(delivered_units.sum()))
    kpis["restocked_units"] = float(record.restocked)
    kpis.update(_returns_outlook(record))
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
    for start, end in _merged_windows(record.disruptions):
        during |= (book.created >= start) & (book.created < end)
    out = {}
    for label, mask in (("disrupted", during), ("normal", ~during)):
        sel = judged & mask
        on_time = sel & delivered & (o.delivered <= promised)
        out[f"otd_{label}"] = _ratio(float(on_time.sum()), float(sel.sum()))
        shipped = sel & (o.status == ALLOCATED) & (o.shipped <= promised)
        out[f"fill_rate_{label}"] = _ratio(qty[shipped].sum(), qty[sel].sum())
    return out


def _returns_outlook(record: RunRecord) -> dict[str, float]:
    """Returns still to come after the horizon: units, refunds owed, stock expected back."""
    by_channel = returns_by_channel(record)
    delivered, to_return, _, pending, refunds = by_channel.sum(axis=0)
    return {
        "return_rate_expected": _ratio(float(to_return), float(delivered)),
        "returns_pending_units": float(pending),
        "refunds_pending": float(refunds),
        "restock_pending_units": restock_pending(record),
    }


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def returns_by_channel(record: RunRecord) -> np.ndarray:
    """Per channel (baseline, live): delivered units, to be returned, received, to come, refunds owed.

    A return arrives `return_lag` after its order's delivery; the ones due after the horizon are
    still to come: stock that will come back and refunds that will be owed after the run ends.
    """
    book, o = record.book, record.outcomes
    h = record.horizon_h
    owner, line_sku, line_qty, line_ret = book.lines()
    price = np.array([record.scenario.skus[k].price for k in record.skus])
    delivered = (o.status == ALLOCATED) & (o.delivered < h)
    arrives = o.delivered + book.return_lag
    live = book.channel[owner] > 0
    out = np.zeros((2, 5))
    for c, mask in enumerate((~live, live)):
        d = mask & delivered[owner]
        ret = line_ret * d
        due_later = arrives[owner] >= h
        out[c] = (
            line_qty[d].sum(),
            ret.sum(),
            (ret * ~due_later).sum(),
            (ret * due_later).sum(),
            (ret * due_later * price[line_sku]).sum(),
        )
    return out


def restock_pending(record: RunRecord) -> float:
    """Units of the returns still to come that inspection is expected to put back into stock."""
    book, o, sc = record.book, record.outcomes, record.scenario
    h = record.horizon_h
    owner, _, _, line_ret = book.lines()
    delivered = (o.status == ALLOCATED) & (o.delivered < h)
    later = delivered & (o.delivered + book.return_lag >= h)
    fraction = np.array(
        [sc.sites[w].inspection.restock_fraction for w in record.warehouses]
    )
    if sc.returns.to is not None:
        share = np.full(len(book), fraction[record.warehouses.index(sc.returns.to)])
    else:
        share = fraction[np.maximum(o.warehouse, 0)]
    return float((line_ret * later[owner] * share[owner]).sum())


def _merged_windows(disruptions: list) -> list[tuple[float, float]]:
    """The union of all disruption windows, as disjoint sorted intervals."""
    merged: list[tuple[float, float]] = []
    for d in sorted(disruptions, key=lambda d: d.start):
        if merged and d.start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], d.end))
        else:
            merged.append((d.start, d.end))
    return merged
