"""Figures of a run report, each drawn across every replication (bands, shares, quantiles).

Built on `matplotlib.figure.Figure` directly (Agg, no pyplot state), rendered to PNG by
`figures.to_png_base64`. Colours come from `palette` (one per site, SKU, channel, cause) and time
axes from `timeaxis` (calendar dates and livestream names).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, MultipleLocator

from twin import kpi
from twin.experiments.trace import CAUSES
from twin.report import palette, timeaxis
from twin.report.analysis import Results, pulse_windows

WINDOW_BEFORE_H = 6.0
WINDOW_AFTER_H = 36.0
MAX_MAP_ROWS = 24


def compact_tick(x: float) -> str:
    """Axis tick labels at a glance: 950, 12k, 1.5M."""
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def _pulse_marks(results: Results) -> tuple[list[str], list[float], list[float]]:
    ax = results.axes
    assert ax is not None
    return list(ax.pulses), list(ax.pulse_start), list(ax.pulse_end)


def fan_figure(results: Results, pulse: str, skus: list[str]) -> Figure:
    """On-hand and waiting units of `skus` at every warehouse through `pulse`: P10–P90 band, P50.

    One row per SKU, one column per warehouse; the shelf in the site's colour, units waiting in
    red. Bands are across all replications.
    """
    ax_names = results.axes
    assert ax_names is not None
    grid = results.arrays["grid"][0].astype(float)
    start = ax_names.pulse_start[ax_names.pulses.index(pulse)]
    lo, hi = start - WINDOW_BEFORE_H, min(start + WINDOW_AFTER_H, ax_names.horizon)
    inside = (grid >= lo) & (grid <= hi)
    t = grid[inside]
    colours = palette.site_colours(ax_names.sites)
    rows, cols = len(skus), len(ax_names.sites)
    height = 1.45 * rows + 0.8
    fig = Figure(figsize=(2.3 * cols + 0.6, height))
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False)
    # laid out by hand: a layout engine measures all 2 × rows × cols axes and doubles the cost
    fig.subplots_adjust(
        left=0.6 / (2.3 * cols + 0.6), right=0.97, bottom=0.3 / height, top=1 - 0.55 / height,
        wspace=0.42, hspace=0.18,
    )
    names, starts, ends = _pulse_marks(results)
    for i, sku in enumerate(skus):
        k = ax_names.skus.index(sku)
        for w, site in enumerate(ax_names.sites):
            a = axes[i][w]
            b = a.twinx()  # units waiting can be 10x the shelf: their own scale, on the right
            for target, series, colour in (
                (a, results.arrays["on_hand"][:, inside, w, k], colours[site]),
                (b, results.arrays["backlog"][:, inside, w, k], palette.WAITING),
            ):
                p10, p50, p90 = np.percentile(series, [10, 50, 90], axis=0)
                waiting = colour == palette.WAITING
                target.fill_between(t, p10, p90, color=colour, alpha=0.12 if waiting else 0.25,
                                    linewidth=0, step="post")
                target.step(t, p50, where="post", color=colour, linewidth=1.2,
                            linestyle="--" if waiting else "-")
                target.set_ylim(bottom=0, top=max(float(p90.max()) * 1.08, 1.0))
                target.yaxis.set_major_locator(MaxNLocator(3))
                target.yaxis.set_major_formatter(lambda x, _p: compact_tick(x))
                target.tick_params(labelsize=6.5, length=2, pad=1)
            b.tick_params(axis="y", colors=palette.WAITING)
            a.set_xlim(lo, hi)
            a.xaxis.set_major_locator(MultipleLocator(12.0, offset=start % 12.0))
            a.tick_params(axis="x", labelsize=6.5, length=2, pad=1)
            a.xaxis.set_major_formatter(
                lambda x, _p, s=start: f"{x - s:+.0f} h" if abs(x - s) > 0.01 else "start"
            )
            timeaxis.mark_pulses(a, names, starts, ends, named=False)
            if i == 0:
                a.set_title(site, fontsize=9, color=colours[site])
            if w == 0:
                a.set_ylabel(sku, fontsize=8)
    fig.suptitle(
        f"{pulse}: units on the shelf (site colour, left axis) and units of orders waiting (black, "
        f"dashed, right axis), P10–P90 band and P50 over {results.n} runs; hours from its start",
        fontsize=9,
    )
    return fig


def stockout_map(results: Results) -> Figure:
    """Probability a SKU's shelf is empty at a site, over time (SKU × site rows, share of runs)."""
    ax = results.axes
    assert ax is not None
    grid = results.arrays["grid"][0].astype(float)
    empty = (results.arrays["on_hand"] <= 0).mean(axis=0)  # [T, W, K]
    waiting = (results.arrays["backlog"] > 0).mean(axis=0)
    score = (empty * (waiting > 0)).max(axis=0)  # [W, K]
    pairs = [(w, k) for w in range(len(ax.sites)) for k in range(len(ax.skus)) if score[w, k] > 0]
    pairs.sort(key=lambda p: -score[p])
    pairs = pairs[:MAX_MAP_ROWS]
    fig = Figure(figsize=(11, 0.26 * max(len(pairs), 3) + 1.3), layout="constrained")
    a = fig.subplots()
    if not pairs:
        a.text(0.5, 0.5, "No SKU ran out at any site in any run", ha="center", va="center")
        a.set_axis_off()
        return fig
    prob = np.array([empty[:, w, k] for w, k in pairs])
    edges = np.append(grid, ax.horizon)
    cmap = LinearSegmentedColormap.from_list("out", ["#ffffff", "#fdd49e", "#d7301f", "#7f0000"])
    mesh = a.pcolormesh(edges, np.arange(len(pairs) + 1), prob, cmap=cmap, vmin=0, vmax=1)
    a.set_yticks(np.arange(len(pairs)) + 0.5)
    a.set_yticklabels([f"{ax.skus[k]} @ {ax.sites[w]}" for w, k in pairs], fontsize=7)
    a.invert_yaxis()
    timeaxis.format_axis(a, 0.0, ax.horizon, results.start)
    names, starts, ends = _pulse_marks(results)
    for s, e in zip(starts, ends, strict=True):
        a.axvline(s, color="#444", linewidth=0.6, linestyle=":")
        a.axvline(e, color="#444", linewidth=0.6, linestyle=":")
    for name, s in zip(names, starts, strict=True):
        if "/replay" not in name:
            a.annotate(name, (s, 0), xytext=(2, 2), textcoords="offset points", fontsize=7,
                       annotation_clip=False, va="bottom")
    bar = fig.colorbar(mesh, ax=a, shrink=0.8, pad=0.01)
    bar.set_label("share of runs with an empty shelf", fontsize=8)
    bar.set_ticks([0, 0.25, 0.5, 0.75, 1.0])
    bar.set_ticklabels(["0%", "25%", "50%", "75%", "100%"])
    return fig


CAUSE_BIN_H = 6
"""Lost and late units are summed over this many hours per bar."""


def causes_figure(results: Results) -> Figure:
    """Lost and late units per 6 hours by binding cause (by when the order came), mean over runs."""
    ax = results.axes
    assert ax is not None
    hourly = results.arrays["cause_hourly"].mean(axis=0)  # [C, H]
    hours = hourly.shape[1]
    bins = -(-hours // CAUSE_BIN_H)
    padded = np.zeros((hourly.shape[0], bins * CAUSE_BIN_H))
    padded[:, :hours] = hourly
    binned = padded.reshape(hourly.shape[0], bins, CAUSE_BIN_H).sum(axis=2)
    keep = [c for c in range(len(CAUSES)) if binned[c].sum() > 0]
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    a = fig.subplots()
    left = np.arange(bins, dtype=float) * CAUSE_BIN_H
    bottom = np.zeros(bins)
    for c in keep:
        a.bar(left, binned[c], width=CAUSE_BIN_H, bottom=bottom, align="edge", linewidth=0,
              color=palette.CAUSE_COLOURS[CAUSES[c]], label=CAUSES[c])
        bottom += binned[c]
    timeaxis.format_axis(a, 0.0, ax.horizon, results.start)
    timeaxis.mark_pulses(a, *_pulse_marks(results))
    a.set_ylabel(f"units per {CAUSE_BIN_H} h (mean of runs)", fontsize=8)
    a.yaxis.set_major_formatter(lambda x, _p: compact_tick(x))
    a.set_ylim(0, max(float(bottom.max()) * 1.15, 1.0))
    if keep:
        fig.legend(loc="outside lower center", fontsize=7, ncols=min(5, len(keep)), frameon=False)
    return fig


def utilisation_figure(results: Results) -> Figure:
    """Load of each resource over time (mean over runs), saturation (≥ 95 %) in red."""
    ax = results.axes
    assert ax is not None
    busy = results.arrays["busy"]  # [N, R, T]
    grid = results.arrays["grid"][0].astype(float)
    hourly = np.arange(0.0, ax.horizon + 1e-9, 1.0)
    bins = np.clip(np.searchsorted(hourly, grid, side="right") - 1, 0, len(hourly) - 2)
    rows = []
    for r in range(busy.shape[1]):
        series = np.full(len(hourly) - 1, np.nan)
        seen = np.isfinite(busy[:, r]).sum(axis=0)
        total = np.nansum(busy[:, r], axis=0)
        mean = np.where(seen > 0, total / np.maximum(seen, 1), np.nan)
        for b in np.unique(bins):
            vals = mean[bins == b]
            if np.isfinite(vals).any():
                series[b] = np.nanmax(vals)
        rows.append(series)
    data = np.ma.masked_invalid(np.array(rows))
    fig = Figure(figsize=(11, 0.3 * len(rows) + 1.4), layout="constrained")
    a = fig.subplots()
    cmap = LinearSegmentedColormap.from_list("load", ["#f7fbff", "#6baed6", "#08306b"])
    cmap = cmap.with_extremes(over=palette.DISRUPTION, bad="#ffffff")
    mesh = a.pcolormesh(hourly, np.arange(len(rows) + 1), data, cmap=cmap, vmin=0.0, vmax=0.95)
    a.set_yticks(np.arange(len(rows)) + 0.5)
    a.set_yticklabels(list(ax.resources), fontsize=7)
    a.invert_yaxis()
    timeaxis.format_axis(a, 0.0, ax.horizon, results.start)
    for s in ax.pulse_start:
        a.axvline(s, color="#b8860b", linewidth=0.8, linestyle=":")
    bar = fig.colorbar(mesh, ax=a, shrink=0.8, pad=0.01, extend="max")
    bar.set_ticks([0, 0.25, 0.5, 0.75, 0.95])
    bar.set_ticklabels(["0%", "25%", "50%", "75%", "95%"])
    bar.set_label("load (red: ≥ 95 %)", fontsize=8)
    return fig


def distribution_figure(results: Results, names: list[str], targets: dict[str, float]) -> Figure:
    """Each KPI's value in every run (dots), its P10 / P50 / P90 (ticks) and its target (line)."""
    cols = 3
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(11, 1.25 * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    rng = np.random.default_rng(0)  # jitter only: fixed so the picture is the same every time
    for i, name in enumerate(names):
        a = axes[i // cols][i % cols]
        values = results.kpis[name].to_numpy(float)
        values = values[np.isfinite(values)]
        scale = 100.0 if kpi.info(name).is_rate else 1.0
        jitter = rng.uniform(-0.25, 0.25, len(values))
        a.scatter(values * scale, jitter, s=14, color="#4c72b0", alpha=0.75, linewidth=0)
        if len(values):
            for q, h in zip(np.percentile(values, [10, 50, 90]), (0.35, 0.5, 0.35), strict=True):
                a.plot([q * scale] * 2, [-h, h], color="#222", linewidth=1.2 if h == 0.5 else 0.8)
        if name in targets:
            a.axvline(targets[name] * scale, color=palette.WORSE, linewidth=1.0, linestyle="--")
        a.set_yticks([])
        a.set_ylim(-0.6, 0.6)
        unit = " (%)" if scale == 100.0 else ""
        a.set_title(f"{name}{unit}", fontsize=8, loc="left")
        a.tick_params(labelsize=7)
        if scale != 100.0:
            a.xaxis.set_major_formatter(lambda x, _p: compact_tick(x))
    for j in range(len(names), rows * cols):
        axes[j // cols][j % cols].set_axis_off()
    return fig


def network_figure(results: Results) -> Figure:
    """Sites at their locations; lanes drawn as wide as the units they moved (mean of runs)."""
    ax = results.axes
    assert ax is not None
    loc = {k: tuple(v) for k, v in dict(results.settings["locations"]).items()}  # type: ignore[arg-type]
    kinds = dict(results.settings["kinds"])  # type: ignore[arg-type]
    flows = results.arrays["flows"].mean(axis=0)
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    a = fig.subplots()
    top = max(float(flows.max()), 1.0)
    colours = palette.site_colours(ax.sites)
    for lane, units in zip(ax.lanes, flows, strict=True):
        origin, dest = lane.split("->")
        if units <= 0 or origin not in loc or dest not in loc:
            continue
        (x0, y0), (x1, y1) = loc[origin], loc[dest]
        colour = colours.get(origin, "#555555")
        a.plot([x0, x1], [y0, y1], color=colour, alpha=0.55, linewidth=0.6 + 7.0 * units / top,
               solid_capstyle="round", zorder=1)
    for sid, (x, y) in loc.items():
        kind = kinds[sid]
        if kind == "warehouse":
            a.scatter([x], [y], s=90, color=colours[sid], edgecolor="#222", zorder=3)
        elif kind == "region":
            a.scatter([x], [y], s=40, color="#dddddd", edgecolor="#777", zorder=2)
        else:
            a.scatter([x], [y], s=60, marker="s", color="#333333", zorder=3)
    a.set_aspect("equal", adjustable="datalim")
    a.set_xticks([])
    a.set_yticks([])
    # the sweep's label placer: sites crowd (a region beside its forward warehouse), so labels
    # go where they overlap nothing, warehouses first, then factories and suppliers, then regions
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from twin.report.sweep import place_labels

    FigureCanvasAgg(fig)  # the placer measures text with a renderer
    names = list(loc)
    xy = np.array([loc[n] for n in names], dtype=float)
    rank = {"warehouse": 0, "region": 2}
    place_labels(a, xy[:, 0], xy[:, 1], names, [rank.get(kinds[n], 1) for n in names])
    a.set_title(
        f"Units moved per lane (line width, mean of {results.n} runs); squares: factories and "
        "suppliers, grey: regions",
        fontsize=8,
    )
    return fig


def cost_figure(results: Results) -> Figure:
    """Mean cost by part over runs, with each part's P10–P90 range."""
    parts = [f"cost_{p}" for p in kpi.COST_PARTS if f"cost_{p}" in results.kpis.columns]
    values = results.kpis[parts]
    order = values.mean().sort_values().index
    fig = Figure(figsize=(8, 0.32 * len(order) + 1.0), layout="constrained")
    a = fig.subplots()
    mean = values[order].mean()
    p10, p90 = values[order].quantile(0.1), values[order].quantile(0.9)
    y = np.arange(len(order))
    a.barh(y, mean, color="#4c72b0", alpha=0.85)
    a.errorbar(mean, y, xerr=[mean - p10, p90 - mean], fmt="none", ecolor="#222", linewidth=0.8)
    a.set_yticks(y)
    a.set_yticklabels([o.removeprefix("cost_") for o in order], fontsize=8)
    cur = results.currency
    a.xaxis.set_major_formatter(lambda x, _p: f"{cur}{x:,.0f}")
    a.tick_params(labelsize=7)
    a.set_title(f"Cost by part: mean of {results.n} runs, whiskers P10–P90", fontsize=8)
    return fig


def featured_skus(results: Results, pulse: str, count: int = 4) -> list[str]:
    """The SKUs a pulse features (from the scenario), else those waiting most during it."""
    featured = dict(results.settings.get("featured") or {}).get(pulse.split("/")[0])  # type: ignore[arg-type]
    if featured:
        return list(featured)[:count]
    ax = results.axes
    assert ax is not None
    grid = results.arrays["grid"][0].astype(float)
    windows = {n: (s, stop) for n, s, _e, stop in pulse_windows(ax)}
    s, stop = windows[pulse]
    inside = (grid >= s) & (grid < stop)
    waiting = results.arrays["backlog"][:, inside].max(axis=1).sum(axis=1).mean(axis=0)  # [K]
    order = np.argsort(-waiting, kind="stable")
    return [ax.skus[k] for k in order[:count] if waiting[k] > 0]
