"""Reading a comparison of designs: text for the terminal, CSV files and a single-file HTML report.

The report shows what each design changes against the baseline, the main KPIs per design with
their confidence intervals, and the paired differences (design − baseline on common random
numbers) as a table and a forest plot. Next to each paired interval it shows the interval
independent runs would give (`unpaired_half_width`), so a reader sees what pairing bought.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from twin.config.errors import format_path
from twin.config.schema import Scenario
from twin.experiments.compare import CompareResult
from twin.experiments.stats import is_rate
from twin.report import figures
from twin.report.html import (
    _CSS,
    MISSING,
    describe_kpi,
    format_ci,
    format_value,
    kpi_kind,
    kpi_table,
    write_atomic,
)
from twin.units import plain_number

MAIN_KPIS = ("fill_rate", "immediate_fill_rate", "otd", "cost_total", "profit")
"""The KPIs a comparison shows first (those the designs have, in this order)."""

MAX_CHANGES = 12
"""Changes against the baseline listed per design in the report; the rest are counted."""

_CSS_MORE = """
.warning { background: #fff4e5; border-left: 4px solid #e69500; padding: 0.5rem 0.8rem; }
td.changes { font-size: 0.85rem; }
td.changes div { white-space: nowrap; }
.ci { color: #666; font-size: 0.85rem; }
details { margin: 0.3rem 0 1rem; }
"""

_PAIRED_COLOUR = "tab:blue"
_UNPAIRED_COLOUR = "#b9b9b9"


def main_kpis(result: CompareResult, extra: Sequence[str] = ()) -> list[str]:
    """The main KPIs the baseline has, then any of `extra` (e.g. the `--precision` KPI)."""
    have = set(result.summary.loc[result.baseline].index)
    out = [k for k in MAIN_KPIS if k in have]
    return out + [k for k in extra if k in have and k not in out]


# ---------------------------------------------------------------- numbers as text


def format_mean(kpi: str, value: float) -> str:
    """A KPI's value for the terminal: rates as percentages, the rest as plain numbers."""
    if not math.isfinite(value):
        return MISSING
    if is_rate(kpi):
        return f"{100.0 * value:.2f}%"
    if kpi_kind(kpi) == "hours":
        return f"{value:,.1f} h"
    return plain_number(value)


def format_diff(kpi: str, value: float, signed: bool = True) -> str:
    """A difference (or half-width, unsigned): rates in percentage points, the rest plain."""
    if not math.isfinite(value):
        return MISSING
    if is_rate(kpi):
        return f"{100.0 * value:+.2f} pp" if signed else f"{100.0 * value:.2f} pp"
    if kpi_kind(kpi) == "hours":
        return f"{value:+,.1f} h" if signed else f"{value:,.1f} h"
    text = plain_number(value)
    return f"+{text}" if signed and value >= 0 else text


def format_p(p: float) -> str:
    """A p-value: three decimals, `<0.001` below that."""
    if not math.isfinite(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _half(kpi: str, hw: float) -> str:
    return f"± {format_diff(kpi, hw, signed=False)}" if math.isfinite(hw) else MISSING


def _row(result: CompareResult, table: str, design: str, kpi: str) -> pd.Series | None:
    frame = result.summary if table == "summary" else result.differences
    key = (design, kpi)
    return frame.loc[key] if key in frame.index else None


def _f(row: pd.Series | None, column: str) -> float:
    if row is None or column not in row.index:
        return math.nan
    try:
        return float(row[column])
    except (TypeError, ValueError):
        return math.nan


# ---------------------------------------------------------------- terminal


def run_line(result: CompareResult) -> str:
    """One line about the comparison: designs, replications, seeds, baseline."""
    seeds = result.meta.get("seeds", {})
    seed_values = sorted(set(seeds.values())) if isinstance(seeds, dict) else []
    if result.meta.get("paired") and seed_values:
        crn = f"on common random numbers (seed {seed_values[0]})"
    else:
        crn = "NOT on common random numbers (the designs' seeds differ)"
    n = result.meta.get("replications", len(result.kpis) // max(len(result.designs), 1))
    return (
        f"{len(result.designs)} designs, {n} replications each, {crn}; baseline: {result.baseline}"
    )


def seed_warning(seeds: Mapping[str, int]) -> str | None:
    """A warning when the designs do not share a seed (then nothing is paired), else None."""
    if len(set(seeds.values())) <= 1:
        return None
    listed = ", ".join(f"{name}={seed}" for name, seed in seeds.items())
    return (
        f"warning: the designs' seeds differ ({listed}): they are not compared on common random "
        "numbers, so the paired intervals are no narrower than unpaired ones; give them one "
        "seed (e.g. --set seed=7) for a paired comparison"
    )


def _share(x: float) -> str:
    """A share as a percentage, small ones with significant digits (1e-9 → 1e-07%)."""
    return f"{100.0 * x:.2f}%" if abs(x) >= 1e-4 or x == 0 else f"{100.0 * x:.2g}%"


def precision_note(meta: Mapping[str, Any], kpi: str) -> str | None:
    """What the `--precision` rule did, or None when there was none."""
    if "precision_target" not in meta:
        return None
    target = float(meta["precision_target"])  # type: ignore[arg-type]
    width = float(meta.get("relative_half_width", math.nan))  # type: ignore[arg-type]
    n = meta.get("replications")
    if meta.get("precision_reached"):
        return (
            f"precision: {kpi}'s 95 % half-width is {_share(width)} of its mean (target "
            f"{_share(target)}) after {n} replications"
        )
    return (
        f"precision: target NOT reached: {kpi}'s 95 % half-width is still {_share(width)} of its "
        f"mean (target {_share(target)}) after {n} replications (--max-reps)"
    )


def comparison_text(result: CompareResult, kpis: Sequence[str] | None = None) -> str:
    """The comparison as text: means ± CI per design, then differences against the baseline."""
    names = list(kpis) if kpis is not None else main_kpis(result)
    kw = max([20, *(len(k) + 2 for k in names)])
    dw = max([20, *(len(d) + 2 for d in result.designs)])
    lines = [run_line(result), "", "Means with 95 % confidence intervals"]
    lines.append(f"{'kpi':<{kw}}{'design':<{dw}}{'mean':>14}  {'± 95% CI':>16}")
    for kpi in names:
        for i, design in enumerate(result.designs):
            row = _row(result, "summary", design, kpi)
            lines.append(
                f"{kpi if i == 0 else '':<{kw}}{design:<{dw}}"
                f"{format_mean(kpi, _f(row, 'mean')):>14}  {_half(kpi, _f(row, 'half_width')):>16}"
            )
    lines += [
        "",
        f"Differences against {result.baseline} (design − baseline, paired by replication)",
        f"{'kpi':<{kw}}{'design':<{dw}}{'difference':>14}  {'± paired':>16}  {'p-value':>8}"
        f"  {'± unpaired':>16}",
    ]
    for kpi in names:
        for i, design in enumerate(result.designs[1:]):
            row = _row(result, "differences", design, kpi)
            lines.append(
                f"{kpi if i == 0 else '':<{kw}}{design:<{dw}}"
                f"{format_diff(kpi, _f(row, 'diff')):>14}  {_half(kpi, _f(row, 'half_width')):>16}"
                f"  {format_p(_f(row, 'p_value')):>8}"
                f"  {_half(kpi, _f(row, 'unpaired_half_width')):>16}"
            )
    lines.append(
        "± unpaired: the half-width independent runs would give; the narrower paired one is "
        "what common random numbers buy."
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- scenario changes


def scenario_changes(base: Scenario, other: Scenario) -> list[tuple[str, Any, Any]]:
    """Every field where `other` differs from `base`: (path, base value, other value).

    Compares the validated scenarios (defaults included), so it lists what a `variants:` entry
    or `--set` changed however it was written; the name is left out. A value absent on one side
    is `None`.
    """
    a = base.model_dump(by_alias=True, mode="json")
    b = other.model_dump(by_alias=True, mode="json")
    out: list[tuple[str, Any, Any]] = []
    _diff(a, b, (), out)
    return [c for c in out if c[0] != "name"]


def _diff(a: Any, b: Any, path: tuple[str | int, ...], out: list[tuple[str, Any, Any]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            _diff(a.get(key), b.get(key), (*path, key), out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, (*path, i), out)
    elif a != b:
        out.append((format_path(path), a, b))


def _show(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- figure


def forest_figure(result: CompareResult, kpis: Sequence[str]) -> Figure:
    """Paired differences against the baseline with 95 % CIs, one panel per KPI.

    Each non-baseline design is a row: a point at its mean difference and a dark bar for its
    paired interval; a wide light bar behind it is the unpaired interval (it may run past the
    panel, whose range is set by the paired intervals). The dashed line is "no difference".
    """
    others = result.designs[1:]
    n = len(others)
    panels = list(kpis) or ["(no KPI)"]
    fig = Figure(figsize=(9.0, sum(1.25 + 0.42 * n for _ in panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    ys = np.arange(n)[::-1].astype(float)
    for ax, kpi in zip(axes, panels, strict=True):
        scale = 100.0 if is_rate(kpi) else 1.0
        ends = [0.0]
        labelled = False
        for y, design in zip(ys, others, strict=True):
            row = _row(result, "differences", design, kpi)
            d, hw, unpaired = (
                _f(row, c) * scale for c in ("diff", "half_width", "unpaired_half_width")
            )
            if not math.isfinite(d):
                continue
            hw = hw if math.isfinite(hw) else 0.0
            ends += [d - hw, d + hw]
            if math.isfinite(unpaired):
                ax.errorbar(
                    d,
                    y,
                    xerr=unpaired,
                    fmt="none",
                    ecolor=_UNPAIRED_COLOUR,
                    elinewidth=9,
                    label=None if labelled else "unpaired 95 % CI (independent runs)",
                )
            ax.errorbar(
                d,
                y,
                xerr=hw,
                fmt="o",
                color=_PAIRED_COLOUR,
                ecolor=_PAIRED_COLOUR,
                elinewidth=2.2,
                capsize=5,
                markersize=6,
                label=None if labelled else "paired 95 % CI (common random numbers)",
            )
            labelled = True
            p = format_p(_f(row, "p_value"))
            ax.annotate(
                f"p {p}" if p.startswith("<") else f"p = {p}",
                xy=(1.0, y),
                xycoords=("axes fraction", "data"),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize="small",
                color="#444",
            )
        low, high = min(ends), max(ends)
        pad = 0.12 * (high - low) if high > low else max(0.1 * abs(high), 1.0)
        ax.set_xlim(low - pad, high + pad)
        ax.axvline(0.0, color="black", linewidth=1.0, linestyle="--")
        ax.set_yticks(ys, others)
        ax.set_ylim(-0.7, n - 0.3)
        unit = "percentage points" if is_rate(kpi) else "difference"
        ax.set_xlabel(f"{kpi}: design − {result.baseline} ({unit})")
        if is_rate(kpi) or kpi_kind(kpi) == "hours":
            ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        else:
            ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.grid(True, axis="x", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, labels, loc="outside lower center", ncols=2, fontsize="small", frameon=False
        )
    return fig


# ---------------------------------------------------------------- HTML


def _designs_table(
    result: CompareResult,
    designs: Mapping[str, Scenario] | None,
    sources: Mapping[str, str] | None,
) -> str:
    seeds = result.meta.get("seeds", {})
    seeds = seeds if isinstance(seeds, dict) else {}
    head = (
        '<tr><th>design</th><th>scenario</th><th>file</th><th class="num">seed</th>'
        "<th>changes against the baseline</th></tr>"
    )
    base = designs.get(result.baseline) if designs else None
    rows = []
    for design in result.designs:
        scenario = designs.get(design) if designs else None
        if design == result.baseline:
            changes = "<em>baseline</em>"
        elif scenario is None or base is None:
            changes = MISSING
        else:
            found = scenario_changes(base, scenario)
            shown = [
                f"<div><code>{escape(path)}</code>: {escape(_show(old))} → "
                f"<strong>{escape(_show(new))}</strong></div>"
                for path, old, new in found[:MAX_CHANGES]
            ]
            if len(found) > MAX_CHANGES:
                shown.append(f"<div>… and {len(found) - MAX_CHANGES} more</div>")
            changes = "".join(shown) or "<em>none (same scenario)</em>"
        rows.append(
            f"<tr><td><strong>{escape(design)}</strong></td>"
            f"<td>{escape(scenario.name) if scenario is not None else MISSING}</td>"
            f"<td>{escape(str(sources.get(design, MISSING))) if sources else MISSING}</td>"
            f'<td class="num">{escape(str(seeds.get(design, MISSING)))}</td>'
            f'<td class="changes">{changes}</td></tr>'
        )
    return (
        f'<table class="designs">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def _means_table(result: CompareResult, kpis: Sequence[str]) -> str:
    head = "<tr><th>KPI</th><th>what it measures</th>" + "".join(
        f'<th class="num">{escape(d)}</th>' for d in result.designs
    )
    rows = []
    for kpi in kpis:
        cells = []
        for design in result.designs:
            row = _row(result, "summary", design, kpi)
            mean, low, high = (_f(row, c) for c in ("mean", "ci_low", "ci_high"))
            cells.append(
                f'<td class="num">{escape(format_value(kpi, mean))}<br>'
                f'<span class="ci">{escape(format_ci(kpi, low, high))}</span></td>'
            )
        rows.append(
            f"<tr><td><code>{escape(kpi)}</code></td><td>{escape(describe_kpi(kpi))}</td>"
            + "".join(cells)
            + "</tr>"
        )
    return (
        f'<div class="wide"><table class="means">\n<thead>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table></div>"
    )


def _differences_table(result: CompareResult, kpis: Sequence[str]) -> str:
    head = (
        '<tr><th>design</th><th>KPI</th><th class="num">baseline</th>'
        '<th class="num">design</th><th class="num">difference</th>'
        '<th class="num">paired 95 % CI</th><th class="num">p-value</th>'
        '<th class="num">± paired</th><th class="num">± unpaired</th></tr>'
    )
    rows = []
    for design in result.designs[1:]:
        for kpi in kpis:
            row = _row(result, "differences", design, kpi)
            if row is None:
                continue
            low, high = _f(row, "ci_low"), _f(row, "ci_high")
            ci = (
                f"[{format_diff(kpi, low)}, {format_diff(kpi, high)}]"
                if math.isfinite(low) and math.isfinite(high)
                else MISSING
            )
            rows.append(
                f"<tr><td>{escape(design)}</td><td><code>{escape(kpi)}</code></td>"
                f'<td class="num">{escape(format_value(kpi, _f(row, "baseline")))}</td>'
                f'<td class="num">{escape(format_value(kpi, _f(row, "value")))}</td>'
                f'<td class="num"><strong>{escape(format_diff(kpi, _f(row, "diff")))}'
                "</strong></td>"
                f'<td class="num">{escape(ci)}</td>'
                f'<td class="num">{escape(format_p(_f(row, "p_value")))}</td>'
                f'<td class="num">{escape(_half(kpi, _f(row, "half_width")))}</td>'
                f'<td class="num">{escape(_half(kpi, _f(row, "unpaired_half_width")))}</td></tr>'
            )
    return (
        f'<table class="differences">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def render_compare_report(
    result: CompareResult,
    designs: Mapping[str, Scenario] | None = None,
    sources: Mapping[str, str] | None = None,
    precision_kpi: str | None = None,
    title: str | None = None,
) -> str:
    """The comparison as a complete, self-contained HTML document (a string).

    `designs` (the scenarios compared) lets the report list what each design changes against the
    baseline; `sources` names the file each design came from; `precision_kpi` is the KPI a
    `--precision` rule watched.
    """
    heading = title if title is not None else f"Comparison against {result.baseline}"
    kpis = main_kpis(result, [precision_kpi] if precision_kpi else [])
    body = [f"<h1>{escape(heading)}</h1>", f'<p class="summary">{escape(run_line(result))}</p>']
    seeds = result.meta.get("seeds")
    warning = seed_warning(seeds) if isinstance(seeds, dict) else None
    if warning:
        body.append(f'<p class="warning">{escape(warning)}</p>')
    note = precision_note(result.meta, precision_kpi or "the KPI")
    if note:
        cls = "summary" if result.meta.get("precision_reached") else "warning"
        body.append(f'<p class="{cls}">{escape(note)}</p>')
    body += [
        "<h2>Designs</h2>",
        "<p>Every design ran on the same replications; the first is the baseline. Changes are "
        "the scenario fields whose value differs from the baseline's.</p>",
        _designs_table(result, designs, sources),
    ]
    if len(result.designs) > 1:
        image = figures.to_png_base64(forest_figure(result, kpis))
        body += [
            "<h2>Differences against the baseline</h2>",
            "<p>Design − baseline per KPI. Dark bars: paired 95 % confidence intervals (both "
            "designs on the same random numbers, differenced replication by replication); "
            "light bars: what independent runs would give (they may run past the panel). An "
            "interval that does not cross the dashed zero line is a significant difference.</p>",
            f'<figure><img src="data:image/png;base64,{image}" '
            'alt="Forest plot of paired differences against the baseline"></figure>',
            _differences_table(result, kpis),
        ]
    body += [
        "<h2>Main KPIs per design</h2>",
        "<p>Mean over replications, 95 % Student-t confidence interval below it.</p>",
        _means_table(result, kpis),
        "<h2>All KPIs</h2>",
    ]
    for design in result.designs:
        if design in result.summary.index.get_level_values(0):
            body.append(
                f"<details><summary>{escape(design)}</summary>\n"
                f"{kpi_table(result.summary.loc[design])}\n</details>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(heading)}</title>\n<style>{_CSS}{_CSS_MORE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_compare_outputs(
    result: CompareResult,
    out: str | Path,
    designs: Mapping[str, Scenario] | None = None,
    sources: Mapping[str, str] | None = None,
    precision_kpi: str | None = None,
) -> dict[str, Path]:
    """Write compare_kpis.csv, compare_summary.csv, compare_differences.csv and report.html.

    Each file is replaced whole (written to a temporary file, then renamed).
    """
    document = render_compare_report(result, designs, sources, precision_kpi)  # may fail: first
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "kpis": folder / "compare_kpis.csv",
        "summary": folder / "compare_summary.csv",
        "differences": folder / "compare_differences.csv",
        "report": folder / "report.html",
    }
    tables = {
        "kpis": (result.kpis, False),
        "summary": (result.summary, True),
        "differences": (result.differences, True),
    }
    for key, (frame, index) in tables.items():
        write_atomic(paths[key], frame.to_csv(index=index, float_format="%.10g"))
    write_atomic(paths["report"], document)
    return paths
