"""The numbers behind a run report's answers, read across every replication.

*Will we stock out, where, when, by how much, what is holding us back?* Each function here answers
one part from the replications' KPIs and `Trace`s (stacked: replications first), in plain data the
template and the figures render. Nothing here reads one replication as if it were typical: counts
are "in k of n runs", amounts are P10/P50/P90 across runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from twin import kpi
from twin.experiments.trace import CAUSES, TraceAxes, pulse_window_ends

HEADLINE_KPIS = ("fill_rate", "otd", "lost_sales", "lost_revenue", "cost_total", "profit")
"""KPIs on the first screen, at P10 / P50 / P90."""


@dataclass(frozen=True)
class TargetCheck:
    """One target: how often the replications met it."""

    kpi: str
    rule: str
    met: int
    n: int
    share: float
    low: float
    high: float
    chance: float

    @property
    def passed(self) -> bool:
        """Met in at least `chance` of the replications."""
        return self.share >= self.chance


@dataclass(frozen=True)
class Driver:
    """A SKU running out at a site during a pulse, across replications."""

    sku: str
    site: str
    pulse: str
    runs_out: int
    n: int
    hours_into_p50: float
    short_p50: float
    """Lost + late units of orders placed in the pulse's window, P50 over the runs where the SKU
    ran out."""
    lost_p50: float
    """The same units, mean over all runs (the ranking)."""


@dataclass(frozen=True)
class Results:
    """A run's results as the report reads them (what `twin report DIR` loads back)."""

    scenario: str
    kpis: pd.DataFrame
    summary: pd.DataFrame
    arrays: dict[str, np.ndarray]
    axes: TraceAxes | None
    settings: dict[str, object]
    meta: dict[str, object]

    @property
    def n(self) -> int:
        """Replications."""
        return len(self.kpis)

    @property
    def currency(self) -> str:
        """The scenario's currency symbol ("" when none)."""
        return str(self.settings.get("currency") or "")

    @property
    def start(self) -> datetime | None:
        """Calendar time of hour 0, when the scenario gives one."""
        text = self.settings.get("start")
        return None if not text else datetime.fromisoformat(str(text))

    @property
    def has_traces(self) -> bool:
        """Whether per-replication traces were recorded."""
        return self.axes is not None and "on_hand" in self.arrays


def target_bounds(results: Results) -> dict[str, tuple[str, float]]:
    """Each target's direction (`≥` or `≤`) and threshold, from the report settings."""
    targets = results.settings.get("targets") or {}
    assert isinstance(targets, dict)
    return {
        name: ("≥", float(spec["min"])) if spec.get("min") is not None else ("≤", float(spec["max"]))
        for name, spec in targets.items()
    }


def target_checks(results: Results) -> list[TargetCheck]:
    """Every target of the scenario, with the share of replications meeting it."""
    out = []
    targets = results.settings.get("targets") or {}
    assert isinstance(targets, dict)
    for name, (sign, bound) in target_bounds(results).items():
        if name not in results.summary.index:
            continue
        row = results.summary.loc[name]
        spec = targets[name]
        values = results.kpis[name].to_numpy(float)
        n = int(np.isfinite(values).sum())
        out.append(
            TargetCheck(
                kpi=name,
                rule=f"{sign} {kpi.format_value(name, float(bound), currency=results.currency)}",
                met=round(float(row["p_target"]) * n) if n else 0,
                n=n,
                share=float(row["p_target"]),
                low=float(row["p_target_low"]),
                high=float(row["p_target_high"]),
                chance=float(spec.get("chance", 0.9)),
            )
        )
    return out


def pulse_windows(axes: TraceAxes) -> list[tuple[str, float, float, float]]:
    """(name, start, end, window end) of each pulse (see `trace.pulse_window_ends`)."""
    stops = pulse_window_ends(list(axes.pulse_start), list(axes.pulse_end), axes.horizon)
    return list(zip(axes.pulses, axes.pulse_start, axes.pulse_end, stops, strict=True))


def drivers(results: Results, top: int = 6) -> list[Driver]:
    """The SKU × site × pulse shortages that cost most units, across replications.

    A SKU *runs out* at a site in a pulse's window when, at some sample of the window, its shelf
    is empty while orders wait for it there. Ranked by the mean lost + late units of orders placed
    in the window (over all runs).
    """
    if not results.has_traces:
        return []
    ax, arr = results.axes, results.arrays
    assert ax is not None
    grid = arr["grid"][0].astype(float)
    on_hand, backlog, short = arr["on_hand"], arr["backlog"], arr["pulse_short"]
    n = on_hand.shape[0]
    found: list[Driver] = []
    for p, (name, start, _end, stop) in enumerate(pulse_windows(ax)):
        inside = (grid >= start) & (grid < stop)
        if not inside.any():
            continue
        times = grid[inside]
        out = (on_hand[:, inside] <= 0) & (backlog[:, inside] > 0)  # [N, t, W, K]
        ran_out = out.any(axis=1)  # [N, W, K]
        first = out.argmax(axis=1)
        for w, site in enumerate(ax.sites):
            for k, sku in enumerate(ax.skus):
                runs = ran_out[:, w, k]
                units = short[:, p, w, k]
                if runs.sum() == 0 or units.mean() <= 0:
                    continue
                found.append(
                    Driver(
                        sku=sku,
                        site=site,
                        pulse=name,
                        runs_out=int(runs.sum()),
                        n=n,
                        hours_into_p50=float(np.median(times[first[runs, w, k]] - start)),
                        short_p50=float(np.median(units[runs])),
                        lost_p50=float(units.mean()),
                    )
                )
    found.sort(key=lambda d: (-d.lost_p50, d.pulse, d.site, d.sku))
    return found[:top]


def driver_sentence(d: Driver) -> str:
    """`mask_pack at fwd_sh runs out 2 h into double11_main in 14 of 20 runs; P50 18k units short`."""
    when = (
        f"{d.hours_into_p50:.0f} h into {d.pulse}"
        if d.hours_into_p50 >= 0.5
        else f"as {d.pulse} starts"
    )
    return (
        f"{d.sku} at {d.site} runs out {when} in {d.runs_out} of {d.n} runs; "
        f"P50 {compact(d.short_p50)} units lost or late"
    )


def compact(x: float) -> str:
    """`18k`, `1.2M`, `950`: a quantity at a glance."""
    if not math.isfinite(x):
        return kpi.MISSING
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            value = x / size
            return f"{value:.1f}{suffix}" if abs(value) < 10 else f"{value:.0f}{suffix}"
    return f"{x:.0f}"


def worst_runs(results: Results, by: str = "fill_rate", count: int = 5) -> pd.DataFrame:
    """The replications worst on `by` (direction from the registry), with each pulse's uplift."""
    kp = results.kpis
    if by not in kp.columns:
        return pd.DataFrame()
    ascending = kpi.info(by).better != "lower"
    cols = [c for c in ("replication", by, "lost_sales", "cost_total") if c in kp.columns]
    table = kp.sort_values(by, ascending=ascending, kind="stable")[cols].head(count).copy()
    if results.axes is not None and "uplift" in results.arrays:
        uplift = results.arrays["uplift"]
        for p, name in enumerate(results.axes.pulses):
            if "/replay" in name:
                continue
            table[f"uplift {name}"] = [uplift[int(r), p] for r in table["replication"]]
    return table


def cause_table(results: Results) -> pd.DataFrame:
    """Lost + late units by binding cause: mean per run, share, runs where it appears."""
    units = results.arrays["cause_units"].sum(axis=(2, 3))  # [N, C]
    total = units.sum(axis=1, keepdims=True)
    frame = pd.DataFrame(
        {
            "cause": CAUSES,
            "mean_units": units.mean(axis=0),
            "p90_units": np.percentile(units, 90, axis=0),
            "share": units.sum(axis=0) / max(float(total.sum()), 1e-12),
            "runs": (units > 0).sum(axis=0),
        }
    )
    return frame[frame["mean_units"] > 0].sort_values("mean_units", ascending=False)


def sku_site_losses(results: Results, top: int = 10) -> pd.DataFrame:
    """Lost units by SKU × site (P50 and mean over runs) and the share of the SKU's demand lost."""
    ax = results.axes
    assert ax is not None
    lost = results.arrays["lost"].sum(axis=2)  # [N, W, K]
    demand = results.arrays["demanded"].sum(axis=1)  # [N, K]
    rows = []
    for w, site in enumerate(ax.sites):
        for k, sku in enumerate(ax.skus):
            mean = float(lost[:, w, k].mean())
            if mean <= 0:
                continue
            rows.append(
                {
                    "sku": sku,
                    "site": site,
                    "lost_p50": float(np.median(lost[:, w, k])),
                    "lost_mean": mean,
                    "lost_p90": float(np.percentile(lost[:, w, k], 90)),
                    "share_of_sku_demand": float(lost[:, w, k].sum() / max(demand[:, k].sum(), 1)),
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values("lost_mean", ascending=False).head(top)


def _service(arr: dict[str, np.ndarray], part: tuple[slice | int, ...]) -> tuple[float, float]:
    """Fill rate and OTD pooled over every run's orders in `part` of the [N, W, G] arrays."""
    judged = arr["orders_judged"][part].sum()
    units = arr["units_judged"][part].sum()
    fill = float(arr["units_filled"][part].sum() / units) if units else math.nan
    otd = float(arr["orders_on_time"][part].sum() / judged) if judged else math.nan
    return fill, otd


def region_table(results: Results) -> pd.DataFrame:
    """Service by region over all runs: fill rate, OTD, median lead time (P50 of run medians)."""
    ax = results.axes
    assert ax is not None
    arr = results.arrays
    rows = []
    for g, region in enumerate(ax.regions):
        served = arr["orders_judged"][:, :, g] > 0
        lead = np.where(served, arr["lead_p50"][:, :, g], np.nan)
        lead = np.array([np.nanmedian(row) if np.isfinite(row).any() else np.nan for row in lead])
        fill, otd = _service(arr, (slice(None), slice(None), g))
        rows.append(
            {
                "region": region,
                "fill_rate": fill,
                "otd": otd,
                "lead_time_p50": float(np.nanmedian(lead)) if np.isfinite(lead).any() else math.nan,
                "lost_units_p50": float(np.median(arr["lost"][:, :, g, :].sum(axis=(1, 2)))),
            }
        )
    return pd.DataFrame(rows)


def site_table(results: Results) -> pd.DataFrame:
    """Service by source warehouse over all runs, and its pick/pack load."""
    ax = results.axes
    assert ax is not None
    arr = results.arrays
    rows = []
    for w, site in enumerate(ax.sites):
        fill, otd = _service(arr, (slice(None), w))
        busy = arr["busy"][:, ax.resources.index(f"pick_pack:{site}")]
        rows.append(
            {
                "site": site,
                "role": ax.roles[w],
                "orders_p50": float(np.median(arr["orders_judged"][:, w].sum(axis=1))),
                "fill_rate": fill,
                "otd": otd,
                "pick_pack_peak": float(np.nanmax(np.nanmean(busy, axis=0))),
                "lost_units_p50": float(np.median(arr["lost"][:, w].sum(axis=(1, 2)))),
            }
        )
    return pd.DataFrame(rows)


def returns_table(results: Results) -> pd.DataFrame:
    """Returns by channel: rate on delivered units, received by the horizon, still to come."""
    ret = results.arrays["returns"]  # [N, 2, 5]
    rows = []
    for c, channel in enumerate(("baseline", "livestream")):
        delivered, to_return, received, pending, refunds = ret[:, c].mean(axis=0)
        rows.append(
            {
                "channel": channel,
                "delivered": float(delivered),
                "return_rate": float(to_return / delivered) if delivered else math.nan,
                "received": float(received),
                "to_come": float(pending),
                "refunds_to_come": float(refunds),
            }
        )
    return pd.DataFrame(rows)


def saturated(results: Results, threshold: float = 0.95) -> pd.DataFrame:
    """Resources that run at ≥ `threshold` of capacity: share of runs and the pulse when they do."""
    ax = results.axes
    assert ax is not None
    busy = results.arrays["busy"]  # [N, R, T]
    grid = results.arrays["grid"][0].astype(float)
    rows = []
    for r, name in enumerate(ax.resources):
        hot = np.nan_to_num(busy[:, r]) >= threshold  # [N, T]
        runs = int(hot.any(axis=1).sum())
        if not runs:
            continue
        pulses = []
        for pname, s, _e, stop in pulse_windows(ax):
            inside = (grid >= s) & (grid < min(stop, s + 24.0))
            share = hot[:, inside].any(axis=1).mean() if inside.any() else 0.0
            if share >= 0.5:
                pulses.append(pname)
        rows.append(
            {
                "resource": name,
                "runs": runs,
                "hours_p50": float(np.median(_hours_hot(hot, grid, ax.horizon))),
                "during": ", ".join(pulses),
            }
        )
    frame = pd.DataFrame(rows)
    return frame.sort_values("hours_p50", ascending=False) if not frame.empty else frame


def _hours_hot(hot: np.ndarray, grid: np.ndarray, horizon: float) -> np.ndarray:
    """Hours per run a resource spent saturated (each sample holds until the next)."""
    width = np.diff(np.append(grid, horizon))
    return (hot * width).sum(axis=1)


def _censored_flags(results: Results, name: str) -> np.ndarray:
    """Which runs' value of a censored KPI is a lower bound (from its `recovery_censored` twin)."""
    if name.startswith(kpi.RECOVERY_PREFIX):
        flag = f"{kpi.CENSORED_PREFIX}{name[len(kpi.RECOVERY_PREFIX):]}"
    else:
        flag = "recovery_censored"
    if flag not in results.kpis.columns:
        return np.zeros(results.n, bool)
    return results.kpis[flag].to_numpy(float) > 0.5


def censored_count(results: Results, name: str) -> int:
    """Runs in which a censored KPI's value is only a lower bound."""
    return int(_censored_flags(results, name).sum())


def censored_quantiles(results: Results, name: str) -> dict[str, str]:
    """P10 / P50 / P90 of a censored KPI: `> x h` where the quantile falls on a censored run.

    Censoring cuts a recovery at the window's end, above every measured recovery of the same
    window, so the censored runs are the top of the order; a quantile that lands among them is
    known only to exceed the smallest censored value.
    """
    values = results.kpis[name].to_numpy(float)
    flags = _censored_flags(results, name)
    order = np.argsort(values, kind="stable")
    n = len(values)
    out = {}
    for label, q in (("p10", 10), ("p50", 50), ("p90", 90)):
        rank = min(n - 1, math.ceil(q / 100 * n) - 1) if n else 0
        value = float(values[order[rank]]) if n else math.nan
        if n and flags[order[rank:]].all() and flags[order[rank]]:
            out[label] = f"> {value:,.1f} h"
        else:
            out[label] = kpi.format_value(name, float(np.percentile(values, q)) if n else math.nan)
    return out


def recovery_text(results: Results, name: str) -> str:
    """`12.5 h` (P50), or `> 20.0 h (censored in 12 of 20)` when censoring hides the median."""
    values = results.kpis[name].to_numpy(float)
    flag = f"{kpi.CENSORED_PREFIX}{name.split(':', 1)[1]}" if ":" in name else "recovery_censored"
    censored = (
        results.kpis[flag].to_numpy(float) > 0.5
        if flag in results.kpis.columns
        else np.zeros(len(values), bool)
    )
    k, n = int(censored.sum()), len(values)
    if k == 0:
        return f"{np.median(values):,.1f} h"
    if k * 2 >= n:  # the median run was censored: only a lower bound is known
        return f"> {np.min(values[censored]):,.1f} h (censored in {k} of {n})"
    measured = np.sort(values)  # censored values are lower bounds above every measured median
    return f"{measured[n // 2]:,.1f} h (censored in {k} of {n})"
