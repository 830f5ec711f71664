"""The single-file HTML report of a grid sweep (`twin sweep --out`): tables and figures by point.

Like the run report it is self-contained (inline CSS, figures as base64 PNG `data:` URIs). It shows
the grid, the chosen KPIs of every point with their 95 % intervals, a figure per chosen KPI and
the Pareto front of cost against service. The figures depend on the grid's dimensions:

- **one path**: the KPI's mean against the path's values, with 95 % CI error bars (numbers on a
  numeric axis; other values evenly spaced in the order given);
- **two paths**: a heatmap, rows the first path (its first value at the top), columns the second,
  each cell annotated with the mean;
- **three or more paths**: small multiples of that heatmap, one panel per combination of the
  other paths' values (in point order, titled with them), all panels on one colour scale.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot), as `twin.report.figures` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from twin.experiments.stats import is_rate
from twin.report.figures import to_png_base64
from twin.report.html import (
    _CSS,
    MISSING,
    _img,
    describe_kpi,
    format_ci,
    format_value,
    kpi_kind,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from twin.experiments.sweep import SweepResult

MAX_FACET_COLUMNS = 4
"""Panels per row in the small multiples of a grid with three or more paths."""

_CSS_MORE = """
tr.front td { background: #fff4e5; }
"""
"""What the sweep report adds to the run report's style: the Pareto front's rows stand out."""


def render_sweep_report(
    result: SweepResult,
    kpis: Sequence[str] = ("fill_rate", "otd", "cost_total"),
    title: str | None = None,
) -> str:
    """Render a sweep as a complete, self-contained HTML document (a string)."""
    heading = title if title is not None else f"Sweep of {result.scenario}"
    shown = list(dict.fromkeys([*kpis, result.cost, result.service]))
    body = [
        f"<h1>{escape(heading)}</h1>",
        f'<p class="summary">{escape(sweep_summary(result))}</p>',
        "<h2>Grid</h2>",
        "<p>Points are the cartesian product of these values, the first path varying slowest, "
        "each path's values in the order given. Every point runs the same replications on the "
        "same seed (common random numbers), so differences between points are paired.</p>",
        grid_table(result),
        "<h2>KPIs by point</h2>",
        "<p>Mean over replications and 95 % Student-t confidence interval. Highlighted rows are "
        f"on the Pareto front of <code>{escape(result.cost)}</code> against "
        f"<code>{escape(result.service)}</code>.</p>",
        f'<div class="wide">{point_table(result, shown)}</div>',
    ]
    body += _figure_sections(result, list(kpis))
    body += [
        "<h2>Pareto front</h2>",
        f"<p>Mean <code>{escape(result.cost)}</code> (lower is better) against mean "
        f"<code>{escape(result.service)}</code> (higher is better) of every point, with 95 % "
        "intervals; the points no other point beats on both are on the front (orange, joined), "
        "cheapest first in the table below.</p>",
        _img(to_png_base64(pareto_figure(result)), "Pareto front of cost against service"),
        pareto_front_table(result),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(heading)}</title>\n<style>{_CSS}{_CSS_MORE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def sweep_summary(result: SweepResult) -> str:
    """One line: points, replications, seed and whether the points are paired."""
    n = result.meta.get("replications", result.kpis["replication"].nunique())
    parts = [
        f"{len(result.points)} points × {n} replications",
        f"seed {result.meta.get('seed', '?')}",
        "common random numbers" if result.meta.get("paired", True) else "different seeds",
        f"{len(result.grid)}-dimensional grid",
    ]
    return " · ".join(parts)


def grid_table(result: SweepResult) -> str:
    """One row per grid path: the path and its values in order."""
    rows = []
    for path in result.grid:
        values = ", ".join(escape(str(v)) for v in result.points[path].drop_duplicates())
        rows.append(
            f"<tr><td><code>{escape(path)}</code></td><td>{values}</td>"
            f'<td class="num">{len(result.grid[path])}</td></tr>'
        )
    head = '<tr><th>path</th><th>values</th><th class="num">count</th></tr>'
    return f"<table>\n<thead>{head}</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def point_table(result: SweepResult, kpis: Sequence[str]) -> str:
    """One row per point: its grid values, then mean and 95 % CI of each KPI."""
    summary = result.summary.set_index(["point", "kpi"])
    front = set(result.front)
    kpis = [k for k in kpis if k in set(result.summary["kpi"])]
    head = (
        "<tr><th>point</th>"
        + "".join(f"<th><code>{escape(p)}</code></th>" for p in result.grid)
        + "".join(
            f'<th class="num" title="{escape(describe_kpi(k))}"><code>{escape(k)}</code></th>'
            f'<th class="num">95 % CI</th>'
            for k in kpis
        )
        + "<th>front</th></tr>"
    )
    rows = []
    for _, point in result.points.iterrows():
        name = str(point["point"])
        cells = [f"<td>{escape(name)}</td>"]
        cells += [f'<td class="num">{escape(str(point[p]))}</td>' for p in result.grid]
        for kpi in kpis:
            row = summary.loc[(name, kpi)]
            mean, low, high = (float(row[c]) for c in ("mean", "ci_low", "ci_high"))
            cells.append(f'<td class="num">{escape(format_value(kpi, mean))}</td>')
            cells.append(f'<td class="num">{escape(format_ci(kpi, low, high))}</td>')
        cells.append(f"<td>{'★' if name in front else ''}</td>")
        css = ' class="front"' if name in front else ""
        rows.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    return (
        f'<table class="points">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def pareto_front_table(result: SweepResult) -> str:
    """The points on the front, cheapest first: grid values, cost and service means."""
    front = result.pareto[result.pareto["pareto"]]
    head = (
        "<tr><th>point</th>"
        + "".join(f"<th><code>{escape(p)}</code></th>" for p in result.grid)
        + f'<th class="num"><code>{escape(result.cost)}</code></th>'
        + f'<th class="num"><code>{escape(result.service)}</code></th></tr>'
    )
    rows = []
    for _, row in front.iterrows():
        cells = [f"<td>{escape(str(row['point']))}</td>"]
        cells += [f'<td class="num">{escape(str(row[p]))}</td>' for p in result.grid]
        for kpi in (result.cost, result.service):
            cells.append(f'<td class="num">{escape(format_value(kpi, float(row[kpi])))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        return f"<p>{MISSING} no point has finite means of both KPIs.</p>"
    return f"<table>\n<thead>{head}</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def line_figure(result: SweepResult, kpi: str) -> Figure:
    """A one-path grid: the KPI's mean against the path's values with 95 % CI error bars."""
    (path,) = result.grid
    rows = result.summary[result.summary["kpi"] == kpi]
    x, labels = _positions(rows[path])
    order = np.argsort(x, kind="stable")
    mean = rows["mean"].to_numpy(dtype=float)[order]
    low = rows["ci_low"].to_numpy(dtype=float)[order]
    high = rows["ci_high"].to_numpy(dtype=float)[order]
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    errors = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
    ax.errorbar(x[order], mean, yerr=errors, marker="o", capsize=4, color="tab:blue")
    if labels is not None:
        ax.set_xticks(x, labels)
    ax.set_xlabel(path)
    ax.set_ylabel(kpi)
    ax.yaxis.set_major_formatter(_formatter(kpi))
    _clip_rate_axis(ax, kpi)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{kpi}: mean and 95 % CI by {path}", fontsize="medium")
    return fig


def heatmap_figure(result: SweepResult, kpi: str) -> Figure:
    """A grid of two or more paths: heatmaps of the KPI's mean over the first two paths.

    With more than two paths, one panel per combination of the others' values, in point order,
    all on one colour scale.
    """
    paths = list(result.grid)
    rows_path, cols_path, others = paths[0], paths[1], paths[2:]
    rows = result.summary[result.summary["kpi"] == kpi]
    row_values = list(result.points[rows_path].drop_duplicates())
    col_values = list(result.points[cols_path].drop_duplicates())
    facets = (
        [((), rows)]
        if not others
        else [
            (key if isinstance(key, tuple) else (key,), part)
            for key, part in rows.groupby(others, sort=False)
        ]
    )
    finite = rows["mean"].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    norm = Normalize(*(float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0))
    ncols = min(len(facets), MAX_FACET_COLUMNS)
    nrows = math.ceil(len(facets) / ncols)
    cell_w, cell_h = 0.9 * len(col_values) + 1.6, 0.45 * len(row_values) + 1.3
    width = min(16.0, max(6.0, ncols * cell_w + 1.5))
    fig = Figure(figsize=(width, nrows * cell_h + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    cmap = colormaps["viridis"]
    image = None
    for index, (ax, (key, part)) in enumerate(zip(axes.flat, facets, strict=False)):
        table = (
            part.pivot(index=rows_path, columns=cols_path, values="mean")
            .reindex(index=row_values, columns=col_values)
            .to_numpy(dtype=float)
        )
        image = ax.imshow(table, cmap=cmap, norm=norm, aspect="auto")
        small = len(col_values) > 8 or len(row_values) > 12
        for (i, j), value in np.ndenumerate(table):
            shade = norm(value) if np.isfinite(value) else 1.0
            ax.text(
                j,
                i,
                format_value(kpi, float(value)),
                ha="center",
                va="center",
                fontsize="x-small" if small else "small",
                color="white" if shade < 0.55 else "black",
            )
        ax.set_xticks(range(len(col_values)), [str(v) for v in col_values])
        ax.set_yticks(range(len(row_values)), [str(v) for v in row_values])
        if index // ncols == nrows - 1 or index + ncols >= len(facets):  # bottom of its column
            ax.set_xlabel(cols_path, fontsize="small")
        if index % ncols == 0:
            ax.set_ylabel(rows_path, fontsize="small")
        if others:
            ax.set_title(
                ", ".join(f"{p}={v}" for p, v in zip(others, key, strict=True)), fontsize="small"
            )
    for ax in list(axes.flat)[len(facets) :]:
        ax.set_visible(False)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.9)
        bar.ax.yaxis.set_major_formatter(_formatter(kpi))
        bar.set_label(f"mean {kpi}")
    fig.suptitle(f"{kpi}: mean by point", fontsize="medium")
    return fig


def pareto_figure(result: SweepResult) -> Figure:
    """Mean cost against mean service for every point, the front highlighted, points labelled."""
    cost, service = result.cost, result.service
    table = result.pareto
    ci = result.summary.set_index(["point", "kpi"])
    fig = Figure(figsize=(8.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    x = table[cost].to_numpy(dtype=float)
    y = table[service].to_numpy(dtype=float)
    xerr = _yerr(ci, table["point"], cost, x)
    yerr = _yerr(ci, table["point"], service, y)
    on = table["pareto"].to_numpy(dtype=bool)
    bars = {"elinewidth": 0.8, "capsize": 0, "zorder": 1}
    ax.errorbar(
        x[~on],
        y[~on],
        xerr=xerr[:, ~on],
        yerr=yerr[:, ~on],
        fmt="o",
        color="0.5",
        ecolor="0.85",
        label="point (95 % CI)",
        **bars,
    )
    ax.errorbar(
        x[on],
        y[on],
        xerr=xerr[:, on],
        yerr=yerr[:, on],
        fmt="o",
        color="tab:orange",
        ecolor="#f8d3a8",
        markersize=8,
        label="Pareto front",
        **bars,
    )
    ax.plot(x[on], y[on], color="tab:orange", linewidth=1.2, drawstyle="steps-post")
    for name, xi, yi, front in zip(table["point"], x, y, on, strict=True):
        if np.isfinite(xi) and np.isfinite(yi):
            ax.annotate(
                str(name),
                (xi, yi),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize="x-small",
                fontweight="bold" if front else "normal",
            )
    ax.set_xlabel(f"{cost} (lower is better)")
    ax.set_ylabel(f"{service} (higher is better)")
    ax.xaxis.set_major_formatter(_formatter(cost))
    ax.yaxis.set_major_formatter(_formatter(service))
    _clip_rate_axis(ax, service)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", frameon=False)
    return fig


def _figure_sections(result: SweepResult, kpis: list[str]) -> list[str]:
    dims = len(result.grid)
    known = set(result.summary["kpi"])
    out: list[str] = []
    if dims == 1:
        out += [
            "<h2>KPIs along the grid</h2>",
            "<p>Mean by value with 95 % confidence intervals.</p>",
        ]
    elif dims == 2:
        out += [
            "<h2>Heatmaps</h2>",
            f"<p>Mean by point: rows <code>{escape(result.paths[0])}</code>, columns "
            f"<code>{escape(result.paths[1])}</code>.</p>",
        ]
    else:
        others = ", ".join(f"<code>{escape(p)}</code>" for p in result.paths[2:])
        out += [
            "<h2>Heatmaps</h2>",
            f"<p>Mean by point: rows <code>{escape(result.paths[0])}</code>, columns "
            f"<code>{escape(result.paths[1])}</code>; one panel per combination of "
            f"{others}, all panels of a KPI on one colour scale.</p>",
        ]
    for kpi in kpis:
        if kpi not in known:
            continue
        what = describe_kpi(kpi)
        out.append(f"<h3><code>{escape(kpi)}</code></h3>")
        if what:
            out.append(f"<p>{escape(what)}.</p>")
        if dims == 1:
            out.append(_img(to_png_base64(line_figure(result, kpi)), f"{kpi} by {result.paths[0]}"))
        else:
            out.append(
                _img(to_png_base64(heatmap_figure(result, kpi)), f"Heatmap of {kpi} by point")
            )
    return out


def _positions(values: pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """Positions on the x axis of grid values: the numbers themselves, or 0, 1, ... with labels."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float), None
    labels = [str(v) for v in values]
    return np.arange(len(labels), dtype=float), labels


def _yerr(ci: pd.DataFrame, points: pd.Series, kpi: str, mean: np.ndarray) -> np.ndarray:
    """Asymmetric error bars (2 × n) from the clipped CI; zero where there is no interval."""
    low = np.array([ci.at[(p, kpi), "ci_low"] for p in points], dtype=float)
    high = np.array([ci.at[(p, kpi), "ci_high"] for p in points], dtype=float)
    return np.nan_to_num(np.vstack([mean - low, high - mean]), nan=0.0).clip(min=0.0)


def _clip_rate_axis(ax: Axes, kpi: str) -> None:
    """Keep a rate's y axis within [0 %, 100 %] (plus a hair, so points at 100 % show whole)."""
    if is_rate(kpi):
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, -0.005), min(high, 1.005))


def _formatter(kpi: str) -> FuncFormatter:
    """Axis labels as the tables show them: percentages for rates, thousands separators else."""
    if is_rate(kpi):
        return FuncFormatter(lambda v, _pos: f"{100 * v:.1f}%")
    if kpi_kind(kpi) == "hours":
        return FuncFormatter(lambda v, _pos: f"{v:,.1f} h")
    return FuncFormatter(lambda v, _pos: _plain(v))


def _plain(value: Any) -> str:
    v = float(value)
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"
