"""The single-file HTML report of a grid sweep (`twin sweep --out`): verdict, tables and figures.

Like the run report it is self-contained (inline CSS, figures as base64 PNG `data:` URIs). It
opens with its **verdict**: which points are better or worse than the reference point (the base
scenario's own point, else the first) on the cost and service KPIs, by paired t-tests over the
replications every point shares (common random numbers), coloured by each KPI's direction; which
points no other point *significantly* dominates; and a warning when few replications or very wide
intervals make that unreliable. Then the grid, the chosen KPIs of every point, the paired
differences against the reference, a figure per chosen KPI, and cost against service with both the
Pareto front of the means and the not-significantly-dominated points. The per-KPI figures depend
on the grid's dimensions:

- **one path**: the KPI's mean against the path's values, with 95 % CI error bars (numbers on a
  numeric axis; other values evenly spaced in the order given);
- **two paths**: a heatmap, rows the first path (its first value at the top), columns the second,
  each cell annotated with the mean;
- **three or more paths**: small multiples of that heatmap, one panel per combination of the
  other paths' values (in point order, titled with them), all panels on one colour scale.

Colour scales of a KPI stay within its range (a rate within [0, 1]) and tick labels carry as many
decimals as it takes to tell them apart. Every fact about a KPI comes from `twin.kpi`. Figures
are built on `matplotlib.figure.Figure` directly (no pyplot), as `twin.report.figures` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import Formatter, MaxNLocator

from twin import kpi as registry
from twin.kpi import MISSING
from twin.report.compare import (
    ALPHA,
    COLOURS,
    MIN_REPS,
    Judgement,
    css_class,
    currency_of,
    judge,
    p_text,
    wide_by_kpi,
)
from twin.report.figures import to_png_base64
from twin.report.html import _CSS, VERDICT_CSS, _img, data_number

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.text import Annotation
    from matplotlib.transforms import Bbox

    from twin.experiments.sweep import SweepResult

MAX_FACET_COLUMNS = 4
"""Panels per row in the small multiples of a grid with three or more paths."""

MAX_VERDICT_ROWS = 12
"""Points the verdict table lists; on a larger grid it lists the not-dominated points only."""

LABEL_RADII = (7.0, 14.0, 22.0, 32.0, 44.0)
"""Offsets (points) at which a Pareto label is tried around its point, nearest first."""

_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
"""Where a label is tried around its point: the four diagonals, then the four sides."""

_CSS_MORE = VERDICT_CSS + """
#verdict ul { padding-left: 1.2rem; margin: 0.4rem 0; }
#verdict li { margin: 0.2rem 0; }
table.points { width: 100%; font-size: 0.88rem; }
table.points th, table.points td { padding: 0.3rem 0.45rem; }
table.points th { overflow-wrap: anywhere; }
table.points td:first-child, table.points th:first-child { white-space: nowrap; }
table.points th { vertical-align: bottom; }
.ci { color: #666; font-size: 0.8rem; }
tr.front td { background: #fff4e5; }
tr.reference td { font-weight: 600; }
table.grid td { overflow-wrap: anywhere; }
"""
"""What the sweep report adds to the run report's style: verdict colours, tables that wrap."""


def render_sweep_report(
    result: SweepResult,
    kpis: Sequence[str] = ("fill_rate", "otd", "cost_total"),
    title: str | None = None,
    currency: str = "",
) -> str:
    """Render a sweep as a complete, self-contained HTML document (a string)."""
    heading = title if title is not None else f"Sweep of {result.scenario}"
    currency = currency or currency_of(result.designs)
    shown = list(dict.fromkeys([result.cost, result.service, *kpis]))
    shown = [k for k in shown if k in set(result.summary["kpi"])]
    reference = result.reference
    body = [
        f"<h1>{escape(heading)}</h1>",
        f'<p class="summary">{escape(sweep_summary(result))}</p>',
        verdict_section(result, shown, currency),
        "<h2>Grid</h2>",
        "<p>Points are the cartesian product of these values, the first path varying slowest, "
        "each path's values in the order given. Every point runs the same replications on the "
        "same seed (common random numbers), so differences between points are paired.</p>",
        grid_table(result),
        "<h2>KPIs by point</h2>",
        "<p>Mean over replications with its 95 % Student-t confidence interval below. "
        "Highlighted rows are on the Pareto front of the means of "
        f"<code>{escape(result.cost)}</code> against <code>{escape(result.service)}</code>; "
        "<em>undominated</em> marks the points no other point significantly dominates (paired "
        f"t-tests); the reference <strong>{escape(reference)}</strong> is in bold.</p>",
        f'<div class="wide">{point_table(result, shown, currency)}</div>',
    ]
    if len(result.points) > 1:
        body += [
            "<h2>Paired differences against the reference</h2>",
            f"<p>Each point − <strong>{escape(reference)}</strong>, replication by replication "
            "(same seeds, so most noise cancels), with paired 95 % intervals: green where the "
            "point is significantly better, red where worse, grey where the difference is not "
            "significant (two-sided paired t-test at 5 %).</p>",
            _img(
                to_png_base64(difference_figure(result, shown)),
                f"Paired differences of each point against {reference}",
            ),
        ]
    body += _figure_sections(result, [k for k in kpis if k in shown], currency)
    fig = pareto_figure(result)
    unlabelled = getattr(fig, "twin_unlabelled", [])
    note = (
        f" {len(unlabelled)} point(s) could not be labelled without overlap "
        f"({', '.join(unlabelled)}); the table lists every point."
        if unlabelled
        else ""
    )
    body += [
        "<h2>Cost against service</h2>",
        f"<p>Mean <code>{escape(result.cost)}</code> (lower is better) against mean "
        f"<code>{escape(result.service)}</code> (higher is better) of every point, with 95 % "
        "intervals. <strong>Orange, joined:</strong> the Pareto front of the means (no point "
        "has a lower mean cost and a higher mean service). <strong>Green rings:</strong> the "
        "points no other point <em>significantly</em> dominates, i.e. is not better on both "
        "KPIs by paired t-tests at 5 % over the replications: a point off the orange front may "
        f"be there because its gap is noise.{escape(note)}</p>",
        _img(to_png_base64(fig), "Pareto front of cost against service"),
        pareto_front_table(result, currency),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(heading)}</title>\n<style>{_CSS}{_CSS_MORE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def sweep_summary(result: SweepResult) -> str:
    """One line: points, replications, seed and whether the points are paired."""
    n = replications(result)
    parts = [
        f"{len(result.points)} points × {n} replications",
        f"seed {result.meta.get('seed', '?')}",
        "common random numbers" if result.meta.get("paired", True) else "different seeds",
        f"{len(result.grid)}-dimensional grid",
    ]
    return " · ".join(parts)


def replications(result: SweepResult) -> int:
    """Replications per point."""
    n = result.meta.get("replications")
    if isinstance(n, int | float) and n > 0:
        return int(n)
    return int(result.kpis["replication"].nunique())


def describe_point(result: SweepResult, point: str) -> str:
    """A point's grid values as `path=value, ...` with each path shortened to its last part."""
    row = result.points.set_index("point").loc[point]
    return ", ".join(f"{_short(p)}={row[p]}" for p in result.grid)


def reference_text(result: SweepResult) -> str:
    """Which point is the reference and why (plain text)."""
    ref = result.reference
    if result.meta.get("base_point") == ref:
        return f"{ref} ({describe_point(result, ref)}), the scenario's own values"
    return (
        f"{ref} ({describe_point(result, ref)}), the first point: the scenario's own values "
        "are not on the grid"
    )


def reliability_warnings(result: SweepResult, kpis: Sequence[str], currency: str = "") -> list[str]:
    """Why the verdict may not hold: too few replications, very wide intervals ([] if none)."""
    out = []
    n = replications(result)
    if n < MIN_REPS:
        out.append(
            f"Only {n} replication{'s' if n != 1 else ''} per point: intervals are wide and "
            f"real differences may show as not significant; run at least {MIN_REPS} "
            f"(--reps {MIN_REPS}) before deciding."
        )
    by_point = {
        str(point): part.set_index("kpi")
        for point, part in result.summary.groupby("point", sort=False)
    }
    wide = wide_by_kpi(by_point, kpis, "points", currency)
    if wide:
        out.append(
            f"Very wide 95 % intervals (runs differ a lot): {'; '.join(wide)}. Paired "
            "differences are narrower, but more replications would help."
        )
    return out


def judged_differences(result: SweepResult, kpis: Sequence[str]) -> pd.DataFrame:
    """`result.differences(kpis)` with a `judgement` column (`twin.report.compare.judge`)."""
    diffs = result.differences(kpis)
    diffs["judgement"] = [
        judge(str(k), float(row["diff"]), float(row["p_value"])) for (_, k), row in diffs.iterrows()
    ]
    return diffs


def verdict_groups(result: SweepResult, diffs: pd.DataFrame) -> dict[str, list[str]]:
    """Points grouped by how they do against the reference on cost and service.

    `both better`, `cheaper` (cost significantly better, service not significantly worse),
    `better service` (the converse), `trade-off` (one better, the other worse), `worse` (worse on
    one or both, better on neither) and `no significant difference`.
    """
    groups: dict[str, list[str]] = {
        "both better": [], "cheaper": [], "better service": [], "trade-off": [], "worse": [],
        "no significant difference": [],
    }  # fmt: skip
    for point in result.points["point"]:
        if point == result.reference:
            continue
        c = _judgement(diffs, point, result.cost)
        s = _judgement(diffs, point, result.service)
        if c == "better" and s == "better":
            groups["both better"].append(point)
        elif "better" in (c, s) and "worse" in (c, s):
            groups["trade-off"].append(point)
        elif c == "better":
            groups["cheaper"].append(point)
        elif s == "better":
            groups["better service"].append(point)
        elif "worse" in (c, s):
            groups["worse"].append(point)
        else:
            groups["no significant difference"].append(point)
    return groups


def _judgement(diffs: pd.DataFrame, point: str, kpi: str) -> Judgement:
    key = (point, kpi)
    return diffs.at[key, "judgement"] if key in diffs.index else "not significant"


def verdict_section(result: SweepResult, kpis: Sequence[str], currency: str = "") -> str:
    """The report's opening: warnings, the reference, the verdict in words and a judged table."""
    parts = ['<section id="verdict">', "<h2>Verdict</h2>"]
    warnings = reliability_warnings(result, kpis, currency)
    if warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
        parts.append(f'<div class="warning"><strong>Read with care.</strong><ul>{items}</ul></div>')
    ref = result.reference
    summary = result.summary.set_index(["point", "kpi"])
    ref_means = ", ".join(
        f"<code>{escape(k)}</code> "
        + data_number(
            k, "mean", float(summary.at[(ref, k), "mean"]),
            registry.format_value(k, float(summary.at[(ref, k), "mean"]), currency=currency),
            point=ref,
        )
        for k in kpis
    )  # fmt: skip
    n = replications(result)
    parts.append(
        f"<p>Reference: <strong>{escape(reference_text(result))}</strong> ({ref_means}). "
        f"Every other point is judged against it by paired t-tests over {n} replications on "
        f"common random numbers (significant at p &lt; {ALPHA:g}).</p>"
    )
    if len(result.points) < 2:
        parts.append("<p>One point: nothing to compare.</p></section>")
        return "\n".join(parts)
    diffs = judged_differences(result, kpis)
    groups = verdict_groups(result, diffs)
    cost, service = escape(result.cost), escape(result.service)
    words = {
        "both better": (f"better on both <code>{cost}</code> and <code>{service}</code>", "better"),
        "cheaper": (f"better <code>{cost}</code>, no worse <code>{service}</code>", "better"),
        "better service": (
            f"better <code>{service}</code>, no worse <code>{cost}</code>",
            "better",
        ),
        "trade-off": ("better on one, worse on the other", "changed"),
        "worse": ("worse, better on neither", "worse"),
        "no significant difference": ("no significant difference on either", "ns"),
    }
    items = []
    for key, members in groups.items():
        if members:
            text, cls = words[key]
            items.append(
                f'<li><span class="{cls}">{text}</span>: {escape(", ".join(members))}</li>'
            )
    front = result.paired_front
    items.append(
        f"<li><strong>not significantly dominated</strong> ({len(front)} of "
        f"{len(result.points)}): {escape(', '.join(front) or 'none')}; Pareto front of the "
        f"means: {escape(', '.join(result.front) or 'none')}</li>"
    )
    parts.append(f"<ul>{''.join(items)}</ul>")
    rows = [p for p in result.points["point"] if p != ref]
    listed = rows if len(rows) <= MAX_VERDICT_ROWS else [p for p in rows if p in set(front)]
    parts.append(_verdict_table(result, diffs, listed, kpis, currency))
    more = (
        f" The table lists the not-dominated points only ({len(listed)} of {len(rows)}); the "
        "figure below shows all."
        if len(listed) < len(rows)
        else ""
    )
    parts += [
        '<p class="legend"><span class="better">■ significantly better</span> · '
        '<span class="worse">■ significantly worse</span> · '
        '<span class="ns">■ not significant</span> (by each KPI\'s direction). Each cell: '
        f"point − {escape(ref)}, its paired 95 % interval and p-value.{more}</p>",
        "</section>",
    ]
    return "\n".join(parts)


def _verdict_table(
    result: SweepResult,
    diffs: pd.DataFrame,
    points: Sequence[str],
    kpis: Sequence[str],
    currency: str,
) -> str:
    front = set(result.paired_front)
    head = (
        "<tr><th>point</th>"
        + "".join(f'<th class="num"><code>{_breakable(k)}</code></th>' for k in kpis)
        + "</tr>"
    )
    rows = []
    for point in points:
        mark = " ✓" if point in front else ""
        cells = [
            f"<td><strong>{escape(point)}</strong>{mark}<br>"
            f'<span class="ci">{_breakable(describe_point(result, point))}</span></td>'
        ]
        for k in kpis:
            key = (point, k)
            if key not in diffs.index:
                cells.append(f'<td class="cell ns">{MISSING}</td>')
                continue
            row = diffs.loc[key]
            diff, low, high, p = (float(row[c]) for c in ("diff", "ci_low", "ci_high", "p_value"))
            judgement = row["judgement"]
            word = {"not significant": "n.s."}.get(judgement, judgement)
            fmt = registry.format_difference
            cells.append(
                f'<td class="cell {css_class(judgement)}" title="{escape(judgement)}">'
                '<span class="diff">'
                + data_number(k, "diff", diff, fmt(k, diff, currency), point=point)
                + '</span><span class="sub">'
                + data_number(k, "ci_low", low, fmt(k, low, currency), point=point)
                + " … "
                + data_number(k, "ci_high", high, fmt(k, high, currency), point=point)
                + '</span><span class="sub">'
                + data_number(k, "p_value", p, p_text(p), point=point)
                + f" · {escape(word)}</span></td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="verdict">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def _short(path: str) -> str:
    """The last part of a field path (`policies.forward_replenishment.target` → `target`)."""
    return path.rsplit(".", 1)[-1]


def _breakable(text: str) -> str:
    """Escape text and let it wrap after dots, underscores and commas (narrow columns)."""
    out = escape(text)
    for ch in ("_", ".", ", "):
        out = out.replace(ch, ch + "<wbr>")
    return out


def grid_table(result: SweepResult) -> str:
    """One row per grid path: the path and its values in order."""
    rows = []
    for path in result.grid:
        values = ", ".join(escape(str(v)) for v in result.points[path].drop_duplicates())
        rows.append(
            f"<tr><td><code>{_breakable(path)}</code></td><td>{values}</td>"
            f'<td class="num">{len(result.grid[path])}</td></tr>'
        )
    head = '<tr><th>path</th><th>values</th><th class="num">count</th></tr>'
    return (
        f'<table class="grid">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def point_table(result: SweepResult, kpis: Sequence[str], currency: str = "") -> str:
    """One row per point: its grid values, each KPI's mean with its 95 % CI, front marks."""
    summary = result.summary.set_index(["point", "kpi"])
    front = set(result.front)
    undominated = set(result.paired_front)
    kpis = [k for k in kpis if k in set(result.summary["kpi"])]
    head = (
        "<tr><th>point</th>"
        + "".join(f"<th><code>{_breakable(p)}</code></th>" for p in result.grid)
        + "".join(
            f'<th class="num" title="{escape(registry.info(k).description)}">'
            f"<code>{_breakable(k)}</code></th>"
            for k in kpis
        )
        + "<th>front of means</th><th>undominated (paired)</th></tr>"
    )
    rows = []
    for _, point in result.points.iterrows():
        name = str(point["point"])
        cells = [f"<td>{escape(name)}</td>"]
        cells += [f'<td class="num">{escape(str(point[p]))}</td>' for p in result.grid]
        for k in kpis:
            row = summary.loc[(name, k)]
            mean, low, high = (float(row[c]) for c in ("mean", "ci_low", "ci_high"))
            cells.append(
                f'<td class="num">{escape(registry.format_value(k, mean, currency=currency))}'
                f'<br><span class="ci">{escape(registry.format_ci(k, low, high, currency))}'
                "</span></td>"
            )
        cells.append(f"<td>{'★' if name in front else ''}</td>")
        cells.append(f"<td>{'✓' if name in undominated else ''}</td>")
        classes = [
            c for c, on in (("front", name in front), ("reference", name == result.reference)) if on
        ]
        css = f' class="{" ".join(classes)}"' if classes else ""
        rows.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    return (
        f'<table class="points">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def pareto_front_table(result: SweepResult, currency: str = "") -> str:
    """The not-dominated points and the front of the means, cheapest first, with cost and service."""
    table = result.pareto
    paired = table["paired_front"] if "paired_front" in table.columns else table["pareto"]
    shown = table[table["pareto"] | paired]
    head = (
        "<tr><th>point</th>"
        + "".join(f"<th><code>{_breakable(p)}</code></th>" for p in result.grid)
        + f'<th class="num"><code>{_breakable(result.cost)}</code></th>'
        + f'<th class="num"><code>{_breakable(result.service)}</code></th>'
        + "<th>front of means</th><th>undominated (paired)</th></tr>"
    )
    rows = []
    for index, row in shown.iterrows():
        cells = [f"<td>{escape(str(row['point']))}</td>"]
        cells += [f'<td class="num">{escape(str(row[p]))}</td>' for p in result.grid]
        for k in (result.cost, result.service):
            value = registry.format_value(k, float(row[k]), currency=currency)
            cells.append(f'<td class="num">{escape(value)}</td>')
        cells.append(f"<td>{'★' if row['pareto'] else ''}</td>")
        cells.append(f"<td>{'✓' if paired.loc[index] else ''}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        return f"<p>{MISSING} no point has finite means of both KPIs.</p>"
    return (
        f'<div class="wide"><table class="points">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table></div>"
    )


# ---------------------------------------------------------------- figures


class KpiFormatter(Formatter):
    """Tick labels of a KPI as the tables print it, with just enough decimals to be distinct.

    Rates read as percentages (differences, `signed`, in percentage points), hours with `h`, the
    rest with thousands separators. The decimals
    are chosen per axis from the ticks shown (`set_locs`): the fewest that keep every label
    different, so a scale from 99.90 % to 100 % does not read `99.9%, 99.9%, 100.0%`.
    """

    def __init__(self, kpi: str, signed: bool = False) -> None:
        self.unit = registry.info(kpi).unit
        self.signed = signed
        self.decimals = 1 if self.unit == "share" else 0

    def set_locs(self, locs: Sequence[float]) -> None:
        """Choose the decimals for these tick positions."""
        super().set_locs(locs)
        values = [float(v) for v in locs if math.isfinite(float(v))]
        for decimals in range(0, 7):
            labels = [self.text(v, decimals) for v in values]
            if len(set(labels)) == len(labels):
                self.decimals = decimals
                return
        self.decimals = 7

    def text(self, value: float, decimals: int) -> str:
        """One label with `decimals` decimals (of the percentage, for a rate)."""
        sign = "+" if self.signed else ""
        if self.unit == "share":
            return f"{100.0 * value:{sign},.{decimals}f}" + (" pp" if self.signed else "%")
        if self.unit == "hours":
            return f"{value:{sign},.{decimals}f} h"
        return f"{value:{sign},.{decimals}f}"

    def __call__(self, x: float, pos: int | None = None) -> str:
        """The label at `x`."""
        return self.text(x, self.decimals)


def colour_norm(kpi: str, values: np.ndarray) -> Normalize:
    """A colour scale of `values` within the KPI's range (a rate stays within [0, 1]).

    When every value is the same the scale gets a little room around it, still inside the
    range (a constant 100 % fill rate spans 99 %–100 %, not matplotlib's 90 %–110 %).
    """
    entry = registry.info(kpi)
    finite = values[np.isfinite(values)]
    if not len(finite):
        return Normalize(0.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        room = 0.01 if entry.is_rate else max(abs(low) * 0.01, 1.0)
        low, high = low - room, high + room
        if high > entry.high:
            low, high = low - (high - entry.high), entry.high
        if low < entry.low:
            low, high = entry.low, min(entry.high, high + (entry.low - low))
    return Normalize(max(low, entry.low), min(high, entry.high))


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
    ax.yaxis.set_major_formatter(KpiFormatter(kpi))
    _clip_rate_axis(ax, kpi)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{kpi}: mean and 95 % CI by {path}", fontsize="medium")
    return fig


def heatmap_figure(result: SweepResult, kpi: str, currency: str = "") -> Figure:
    """A grid of two or more paths: heatmaps of the KPI's mean over the first two paths.

    With more than two paths, one panel per combination of the others' values, in point order,
    all on one colour scale (`colour_norm`: within the KPI's range, a rate within [0, 1]).
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
    norm = colour_norm(kpi, rows["mean"].to_numpy(dtype=float))
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
                registry.format_value(kpi, float(value), currency=currency),
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
        bar.ax.yaxis.set_major_formatter(KpiFormatter(kpi))
        bar.set_label(f"mean {kpi}")
    fig.suptitle(f"{kpi}: mean by point", fontsize="medium")
    return fig


def difference_figure(result: SweepResult, kpis: Sequence[str]) -> Figure:
    """Paired differences of every point against the reference, one panel per KPI.

    Rows are the points (grid values beside the name), columns the KPIs; each row's marker sits
    at the mean of `point − reference` over the shared replications with its paired 95 %
    interval, coloured green (significantly better), red (worse) or grey (not significant) by
    the KPI's direction. The dashed line is "no difference".
    """
    diffs = judged_differences(result, kpis)
    points = [p for p in result.points["point"] if p != result.reference]
    panels = [k for k in kpis if k in set(diffs.index.get_level_values("kpi"))] or list(kpis)
    n = max(len(points), 1)
    width = min(12.0, 2.3 * len(panels) + 2.4)
    fig = Figure(figsize=(width, 0.3 * n + 1.7), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    ys = np.arange(len(points))[::-1].astype(float)
    seen: set[str] = set()
    for ax, name in zip(axes, panels, strict=True):
        ends = [0.0]
        for y, point in zip(ys, points, strict=True):
            key = (point, name)
            if key not in diffs.index:
                continue
            row = diffs.loc[key]
            d, hw = float(row["diff"]), float(row["half_width"])
            if not math.isfinite(d):
                continue
            hw = hw if math.isfinite(hw) else 0.0
            ends += [d - hw, d + hw]
            seen.add(row["judgement"])
            colour = COLOURS[row["judgement"]]
            ax.errorbar(
                d, y, xerr=hw, fmt="o", color=colour, ecolor=colour, elinewidth=2, capsize=3,
                markersize=5,
            )  # fmt: skip
        low, high = min(ends), max(ends)
        pad = 0.1 * (high - low) if high > low else (0.001 if registry.info(name).is_rate else 1.0)
        ax.set_xlim(low - pad, high + pad)
        ax.axvline(0.0, color="black", linewidth=1.0, linestyle="--")
        ax.xaxis.set_major_formatter(KpiFormatter(name, signed=True))
        ax.xaxis.set_major_locator(_few_ticks())
        better = registry.info(name).better
        ax.set_title(f"{name}" + (f"\n({better} is better)" if better else ""), fontsize="small")
        ax.tick_params(axis="x", labelsize="small", labelrotation=30)
        ax.grid(True, axis="x", alpha=0.3)
    labels = [f"{p} ({describe_point(result, p)})" for p in points]
    axes[0].set_yticks(ys, labels, fontsize="small")
    axes[0].set_ylim(-0.7, max(len(points), 1) - 0.3)
    handles = [
        Line2D([], [], color=COLOURS[j], marker="o", linewidth=2, label=_judgement_label(j))
        for j in ("better", "worse", "changed", "not significant")
        if j in seen
    ]
    if handles:
        fig.legend(
            handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small",
            frameon=False,
        )  # fmt: skip
    fig.suptitle(f"point − {result.reference} (paired 95 % CI)", fontsize="medium")
    return fig


def _judgement_label(judgement: str) -> str:
    if judgement == "not significant":
        return "not significant"
    if judgement == "changed":
        return "significant (no better direction)"
    return f"significantly {judgement}"


def _few_ticks() -> MaxNLocator:
    """Four or so ticks: the panels of the differences figure are narrow."""
    return MaxNLocator(nbins=4)


def pareto_figure(result: SweepResult) -> Figure:
    """Mean cost against mean service for every point, both fronts marked, labels not overlapping.

    Grey points with light 95 % interval bars; the Pareto front of the means in orange, joined;
    green rings round the points no other point significantly dominates (paired t-tests). Each
    point is labelled with its name where a free spot near it exists (`place_labels`); the
    names that found none are in the figure's `twin_unlabelled` attribute.
    """
    cost, service = result.cost, result.service
    table = result.pareto
    ci = result.summary.set_index(["point", "kpi"])
    fig = Figure(figsize=(8.0, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = table[cost].to_numpy(dtype=float)
    y = table[service].to_numpy(dtype=float)
    xerr = _yerr(ci, table["point"], cost, x)
    yerr = _yerr(ci, table["point"], service, y)
    on = table["pareto"].to_numpy(dtype=bool)
    paired = table["paired_front"].to_numpy(dtype=bool) if "paired_front" in table.columns else on
    bars = {"elinewidth": 0.8, "capsize": 0, "zorder": 1}
    ax.errorbar(
        x, y, xerr=xerr, yerr=yerr, fmt="o", color="0.45", ecolor="0.85", markersize=5,
        label="point (mean, 95 % CI)", **bars,
    )  # fmt: skip
    ax.plot(
        x[on], y[on], color="tab:orange", linewidth=1.2, drawstyle="steps-post", marker="o",
        markersize=7, label="Pareto front of the means", zorder=3,
    )  # fmt: skip
    ax.scatter(
        x[paired], y[paired], s=190, facecolors="none", edgecolors="#1a7f37", linewidths=1.6,
        label=f"not significantly dominated (paired t-tests, {ALPHA:.0%})", zorder=4,
    )  # fmt: skip
    ax.set_xlabel(f"{cost} (lower is better)")
    ax.set_ylabel(f"{service} (higher is better)")
    ax.xaxis.set_major_formatter(KpiFormatter(cost))
    ax.yaxis.set_major_formatter(KpiFormatter(service))
    _pad_axes(ax, x, y, xerr, yerr)
    _clip_rate_axis(ax, service)
    ax.grid(True, alpha=0.3)
    fig.legend(loc="outside lower center", ncols=3, fontsize="small", frameon=False)
    names = [str(p) for p in table["point"]]
    priority = [0 if p else (1 if o else 2) for p, o in zip(paired, on, strict=True)]
    placed = place_labels(ax, x, y, names, priority)
    fig.twin_unlabelled = [n for n, a in zip(names, placed, strict=True) if a is None]  # type: ignore[attr-defined]
    return fig


def _pad_axes(ax: Axes, x: np.ndarray, y: np.ndarray, xerr: np.ndarray, yerr: np.ndarray) -> None:
    """Room around the points (and their intervals) for labels: 8 % of each span per side."""
    for values, err, setter in ((x, xerr, ax.set_xlim), (y, yerr, ax.set_ylim)):
        ok = np.isfinite(values)
        if not ok.any():
            continue
        low = float(np.min(values[ok] - err[0][ok]))
        high = float(np.max(values[ok] + err[1][ok]))
        span = high - low if high > low else max(abs(high) * 0.02, 1e-3)
        setter(low - 0.08 * span, high + 0.08 * span)


def place_labels(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    priority: Sequence[int] | None = None,
) -> list[Annotation | None]:
    """Label each point with its name where the label overlaps no other label, point or edge.

    A greedy search, like adjustText but simple: the layout is fixed first (one draw, then the
    layout engine is switched off so nothing moves afterwards), then points are labelled in
    `priority` order (lower first, ties by position) trying `LABEL_RADII` × `_DIRECTIONS`
    around each, nearest first; a label further away than the first ring gets a thin leader
    line. A label that fits nowhere is left out (None in the returned list, in `names` order).
    """
    fig = ax.figure
    fig.draw_without_rendering()  # settle the constrained layout before measuring
    fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = ax.get_window_extent(renderer)
    ok = np.isfinite(x) & np.isfinite(y)
    centres = ax.transData.transform(np.column_stack([np.where(ok, x, 0), np.where(ok, y, 0)]))
    radius = 8.0 * fig.dpi / 72.0  # a ringed marker's half-size in pixels
    taken: list[Bbox] = []
    order = sorted(
        (i for i in range(len(names)) if ok[i]),
        key=lambda i: ((priority[i] if priority is not None else 0), x[i], -y[i]),
    )
    out: list[Annotation | None] = [None] * len(names)
    for i in order:
        for ring, offset in enumerate(LABEL_RADII):
            label = _try_positions(ax, i, names[i], (x[i], y[i]), offset, ring, renderer)
            for annotation, box in label:
                if _fits(box, frame, taken, centres, ok, i, radius):
                    out[i] = annotation
                    taken.append(box)
                    break
                annotation.remove()
            if out[i] is not None:
                break
    return out


def _try_positions(
    ax: Axes, i: int, name: str, xy: tuple[float, float], offset: float, ring: int, renderer: Any
) -> Any:
    """Yield (annotation, its display box) at each direction on one ring, created lazily."""
    for dx, dy in _DIRECTIONS:
        norm = math.hypot(dx, dy)
        annotation = ax.annotate(
            name,
            xy,
            xytext=(offset * dx / norm, offset * dy / norm),
            textcoords="offset points",
            ha={1: "left", -1: "right", 0: "center"}[dx],
            va={1: "bottom", -1: "top", 0: "center"}[dy],
            fontsize="x-small",
            zorder=5,
            annotation_clip=False,
            arrowprops=(
                {"arrowstyle": "-", "color": "0.55", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 3}
                if ring > 0
                else None
            ),
        )
        annotation.update_positions(renderer)  # places the text (done at draw time otherwise)
        yield annotation, Text.get_window_extent(annotation, renderer)  # the text, not its leader


def _fits(
    box: Bbox,
    frame: Bbox,
    taken: Sequence[Bbox],
    centres: np.ndarray,
    ok: np.ndarray,
    own: int,
    radius: float,
) -> bool:
    """Whether a label box lies inside the axes, clear of other labels and of every marker."""
    if box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1:
        return False
    if any(box.overlaps(other) for other in taken):
        return False
    for j, (cx, cy) in enumerate(centres):
        pad = radius if j != own else 0.0  # its own marker: the label may touch, not cover it
        near = box.x0 - pad < cx < box.x1 + pad and box.y0 - pad < cy < box.y1 + pad
        if ok[j] and near:
            return False
    return True


def _figure_sections(result: SweepResult, kpis: list[str], currency: str = "") -> list[str]:
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
    for name in kpis:
        if name not in known:
            continue
        what = registry.info(name).description
        out.append(f"<h3><code>{escape(name)}</code></h3>")
        if what:
            out.append(f"<p>{escape(what)}.</p>")
        if dims == 1:
            out.append(
                _img(to_png_base64(line_figure(result, name)), f"{name} by {result.paths[0]}")
            )
        else:
            out.append(
                _img(
                    to_png_base64(heatmap_figure(result, name, currency)),
                    f"Heatmap of {name} by point",
                )
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


class RangeLocator(MaxNLocator):
    """Ticks as `MaxNLocator` places them, but only within [low, high] (a rate's 0 %–100 %)."""

    def __init__(self, low: float, high: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low, self.high = low, high

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        """The usual ticks, less those outside the KPI's range."""
        ticks = super().tick_values(vmin, vmax)
        eps = 1e-9 * max(1.0, abs(self.high - self.low))
        return ticks[(ticks >= self.low - eps) & (ticks <= self.high + eps)]


def _clip_rate_axis(ax: Axes, kpi: str) -> None:
    """Keep a rate's y axis within [0 %, 100 %] (plus a hair, so points at 100 % show whole).

    Its ticks stay inside [0 %, 100 %]: the hair of room never reads as a rate above 100 %.
    """
    if registry.info(kpi).is_rate:
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, -0.005), min(high, 1.005))
        ax.yaxis.set_major_locator(RangeLocator(0.0, 1.0, nbins="auto", steps=[1, 2, 2.5, 5, 10]))
