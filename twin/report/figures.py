"""Matplotlib figures of one replication's detail, rendered to PNG for the HTML report.

Figures are built on `matplotlib.figure.Figure` objects directly (Agg rendering, no pyplot), so
nothing touches matplotlib's global figure registry and reports can be built in parallel.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from twin.experiments.results import Detail

DPI = 100
"""Resolution of the embedded PNGs: sharp on screen, small enough to keep the report light."""

WINDOW_BEFORE_H = 6.0
"""Hours shown before a livestream's start in its "Around <event>" figure."""

WINDOW_AFTER_H = 36.0
"""Hours shown after a livestream's start in its "Around <event>" figure."""

_EVENT_SHADE = {"color": "tab:orange", "alpha": 0.15, "linewidth": 0}
_DISRUPTION_SHADE = {
    "facecolor": to_rgba("tab:red", 0.06),
    "edgecolor": to_rgba("tab:red", 0.35),
    "hatch": "//",
    "linewidth": 0,
}
"""Hatched so that a livestream inside a disruption window still reads as its own band."""

_MAX_DAY_TICKS = 21
"""Up to this many days, the costs-by-day figure labels every day."""


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One livestream event as plotted: name, start and duration (h), drawn uplift M."""

    name: str
    start: float
    duration: float
    uplift: float


def live_events(events: pd.DataFrame) -> list[LiveEvent]:
    """Read the `detail.events` table into `LiveEvent`s, in start order."""
    if events.empty:
        return []
    rows = events.sort_values("start", kind="stable")
    return [
        LiveEvent(
            name=str(row["name"]),
            start=float(row["start"]),
            duration=float(row["duration"]),
            uplift=float(row["uplift"]) if "uplift" in rows.columns else float("nan"),
        )
        for _, row in rows.iterrows()
    ]


def disruption_windows(disruptions: pd.DataFrame) -> list[tuple[float, float]]:
    """The union of the disruption windows (h) as disjoint sorted `(start, end)` intervals."""
    if disruptions.empty:
        return []
    merged: list[tuple[float, float]] = []
    for start, end in sorted(zip(disruptions["start"], disruptions["end"], strict=True)):
        lo, hi = float(start), float(end)
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def to_png_base64(fig: Figure, dpi: int = DPI) -> str:
    """Render a figure to PNG and return it base64-encoded, ready for a `data:` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _no_data(ax: Axes, what: str) -> None:
    """Write a centred "no data" note on an empty axis instead of leaving it blank."""
    ax.text(0.5, 0.5, f"no {what} recorded", transform=ax.transAxes, ha="center", va="center")


def stock_figure(detail: Detail) -> Figure:
    """On-hand units per warehouse over time (days), livestream and disruption windows shaded."""
    stock = detail.stock
    # a central warehouse holds many times a forward one's stock: give each role its own panel
    roles = sorted(stock["role"].unique()) if "role" in stock.columns else []
    panels = [stock[stock["role"] == r] for r in roles] if len(roles) > 1 else [stock]
    fig = Figure(figsize=(9.0, 2.6 + 2.2 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    if stock.empty:
        _no_data(axes[0], "stock")
    for ax, panel in zip(axes, panels, strict=True):
        for warehouse, rows in panel.groupby("warehouse", sort=True):
            rows = rows.sort_values("time", kind="stable")
            ax.plot(rows["time"] / 24.0, rows["units"], label=str(warehouse), linewidth=1.4)
        for i, (start, end) in enumerate(disruption_windows(detail.disruptions)):
            label = "disruption" if i == 0 and ax is axes[0] else None
            ax.axvspan(start / 24.0, end / 24.0, label=label, **_DISRUPTION_SHADE)
        for i, event in enumerate(live_events(detail.events)):
            label = "livestream" if i == 0 and ax is axes[0] else None
            ax.axvspan(
                event.start / 24.0,
                (event.start + event.duration) / 24.0,
                label=label,
                **_EVENT_SHADE,
            )
        title = f"{panel['role'].iloc[0]} warehouses" if len(panels) > 1 and len(panel) else None
        ax.set_ylabel("on-hand units" if title is None else f"on hand: {title}")
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("time (days)")
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles:
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=min(len(handles), 8),
            fontsize="small",
            frameon=False,
        )
    return fig


def _demand_in_window(demand: pd.DataFrame, lo: float, hi: float) -> pd.DataFrame:
    """Orders per 15-min bin and channel inside [lo, hi): bins as rows, channels as columns."""
    inside = demand[(demand["time"] >= lo) & (demand["time"] < hi)]
    if inside.empty:
        return pd.DataFrame()
    return inside.pivot_table(
        index="time", columns="channel", values="orders", aggfunc="sum", fill_value=0
    ).sort_index()


def _backlog_in_window(
    backlog: pd.DataFrame, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """Backlog step function clipped to [lo, hi]: the value at `lo`, each change, held to `hi`."""
    rows = backlog.sort_values("time", kind="stable")
    times = rows["time"].to_numpy(dtype=float)
    units = rows["units"].to_numpy(dtype=float)
    before = units[times <= lo]
    start_value = before[-1] if before.size else 0.0
    inside = (times > lo) & (times <= hi)
    xs = np.concatenate(([lo], times[inside]))
    ys = np.concatenate(([start_value], units[inside]))
    return np.append(xs, hi), np.append(ys, ys[-1])


def _channel_order(channels: Iterable[object], event: LiveEvent) -> list[object]:
    """Put this event's channel first and `baseline` last so the pulse reads on top."""
    return sorted(channels, key=lambda c: (str(c) != event.name, str(c) == "baseline", str(c)))


def event_title(event: LiveEvent) -> str:
    """Figure title of an event window: its name and the uplift M drawn in this replication."""
    uplift = "n/a" if np.isnan(event.uplift) else f"{event.uplift:,.1f}×"
    return f"Around {event.name} (drawn uplift M = {uplift})"


def event_figure(detail: Detail, event: LiveEvent) -> Figure:
    """Demand by channel and backlog units from 6 h before to 36 h after one livestream's start."""
    lo, hi = event.start - WINDOW_BEFORE_H, event.start + WINDOW_AFTER_H
    fig = Figure(figsize=(9.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.axvspan(0.0, event.duration, label="livestream on air", **_EVENT_SHADE)
    demand = _demand_in_window(detail.demand, lo, hi)
    for channel in _channel_order(demand.columns, event):
        hours = demand.index.to_numpy(dtype=float) - event.start
        ax.step(hours, demand[channel], where="post", label=f"orders: {channel}", linewidth=1.3)
    if demand.empty:
        _no_data(ax, "demand")
    ax.set_xlim(-WINDOW_BEFORE_H, WINDOW_AFTER_H)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"hours from {event.name} start")
    ax.set_ylabel("orders per 15 min")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.grid(True, alpha=0.3)

    twin_ax = ax.twinx()
    xs, ys = _backlog_in_window(detail.backlog, lo, hi)
    twin_ax.step(
        xs - event.start,
        ys,
        where="post",
        color="black",
        linewidth=1.6,
        linestyle="--",
        label="backlog units",
    )
    twin_ax.set_ylim(bottom=0)
    twin_ax.set_ylabel("backlog (units)")
    twin_ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))

    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = twin_ax.get_legend_handles_labels()
    fig.legend(
        handles + more_handles,
        labels + more_labels,
        loc="outside lower center",
        ncols=min(len(handles) + len(more_handles), 5),
        fontsize="small",
        frameon=False,
    )
    ax.set_title(event_title(event))
    return fig


def cost_figure(costs: dict[str, float]) -> Figure:
    """Horizontal bars of the cost parts over the run, largest at the top."""
    parts = sorted(costs.items(), key=lambda kv: kv[1])
    fig = Figure(figsize=(9.0, 0.45 * max(len(parts), 2) + 1.0), layout="constrained")
    ax = fig.add_subplot()
    if not parts:
        _no_data(ax, "cost")
        return fig
    names = [name for name, _ in parts]
    values = [float(value) for _, value in parts]
    bars = ax.barh(names, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize="small")
    ax.set_xlabel("amount over the run")
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.margins(x=0.15)
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def cost_by_day(cost_table: pd.DataFrame) -> pd.DataFrame:
    """Cost per day (rows, every day from 0 to the last) and part (columns, largest total first)."""
    if cost_table.empty:
        return pd.DataFrame()
    wide = cost_table.pivot_table(
        index="day", columns="part", values="amount", aggfunc="sum", fill_value=0.0
    )
    days = range(0, int(cost_table["day"].max()) + 1)
    wide = wide.reindex(days, fill_value=0.0)
    order = wide.sum().sort_values(ascending=False, kind="stable").index
    return wide[order]


def cost_by_day_figure(cost_table: pd.DataFrame) -> Figure:
    """Bars of cost per day, stacked by part (largest part at the bottom), legend beside."""
    fig = Figure(figsize=(9.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    wide = cost_by_day(cost_table)
    if wide.empty:
        _no_data(ax, "cost")
        return fig
    days = wide.index.to_numpy(dtype=float)
    bottom = np.zeros(len(days))
    colours = _part_colours(list(wide.columns))
    for part in wide.columns:
        values = wide[part].to_numpy(dtype=float)
        ax.bar(days, values, bottom=bottom, width=0.8, label=str(part), color=colours[part])
        bottom += values
    ax.set_xlabel("day")
    ax.set_ylabel("cost per day")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    if len(days) <= _MAX_DAY_TICKS:
        ax.set_xticks(days)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(days[0] - 0.6, days[-1] + 0.6)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles[::-1],
        labels[::-1],
        loc="outside right upper",
        fontsize="small",
        frameon=False,
        title="cost part",
        title_fontsize="small",
    )
    return fig


def _part_colours(parts: list[object]) -> dict[object, object]:
    """A distinct colour per cost part (tab10, then tab20 when there are more than ten)."""
    cmap = colormaps["tab10" if len(parts) <= 10 else "tab20"]
    return {part: cmap(i % cmap.N) for i, part in enumerate(parts)}
