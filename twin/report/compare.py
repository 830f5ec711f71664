"""Reading a comparison of designs: text for the terminal, CSV files and a single-file HTML report.

The report opens with its **verdict**: for each design, on which main KPI it is significantly
better or worse than the baseline (paired t-test at 5 % on common random numbers), with the
difference, its paired 95 % interval and p-value, coloured by the KPI's direction (green better,
red worse, grey not significant), and a warning when too few replications or very wide intervals
make the answer unreliable. Then what each design changes, the paired differences as a forest
plot and a table (next to each paired interval the one independent runs would give, so a reader
sees what pairing bought), and the main KPIs per design.

Every fact about a KPI (unit, direction, range, description, formatting) comes from the registry
`twin.kpi`, so the terminal and the HTML print each KPI the same way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from twin import kpi as registry
from twin.config.errors import format_path
from twin.config.schema import Scenario
from twin.experiments.compare import CompareResult
from twin.experiments.stats import SIGNIFICANCE
from twin.kpi import MISSING
from twin.report import figures
from twin.report.html import _CSS, VERDICT_CSS, _img, data_number, kpi_table, write_atomic

MAIN_KPIS = ("fill_rate", "immediate_fill_rate", "otd", "cost_total", "profit")
"""The KPIs a comparison shows first (those the designs have, in this order)."""

MAX_CHANGES = 12
"""Changes against the baseline listed per design in the report; the rest are counted."""

ALPHA = SIGNIFICANCE
"""A difference is significant when its paired two-sided p-value is below this (the sweep's
dominance test uses the same level)."""

MIN_REPS = 10
"""Fewer replications than this get a warning: intervals too wide to decide from."""

WIDE_RATE = 0.10
"""A rate's 95 % interval is "very wide" when its half-width exceeds this (10 percentage points)."""

WIDE_RELATIVE = 0.25
"""Another KPI's 95 % interval is "very wide" when its half-width exceeds this share of |mean|."""

Judgement = Literal["better", "worse", "changed", "not significant"]

COLOURS: dict[str, str] = {
    "better": "#1a7f37",
    "worse": "#c0392b",
    "changed": "#1f5fa8",
    "not significant": "#8a8a8a",
}
"""Marker colours of the forest plot by judgement (the HTML uses the same hues)."""

_CSS_MORE = VERDICT_CSS + """
#verdict ul.designs { padding-left: 1.2rem; margin: 0.4rem 0; }
#verdict ul.designs li { margin: 0.25rem 0; }
table.designs, table.differences, table.means { width: 100%; }
table.designs td, table.designs code { overflow-wrap: anywhere; }
td.changes { font-size: 0.85rem; }
table.differences { font-size: 0.85rem; }
table.differences th, table.differences td { padding: 0.3rem 0.45rem; }
table.differences td.wrap { white-space: normal; }
table.means td:nth-child(2) { font-size: 0.85rem; }
.ci { color: #666; font-size: 0.85rem; }
details { margin: 0.3rem 0 1rem; }
details table { width: 100%; }
details td { overflow-wrap: anywhere; }
"""
"""What the comparison adds to the run report's style: the verdict, its colours, tables that wrap."""

_UNPAIRED_COLOUR = "#c9c9c9"


def main_kpis(result: CompareResult, extra: Sequence[str] = ()) -> list[str]:
    """The main KPIs the baseline has, then any of `extra` (e.g. the `--precision` KPI)."""
    have = set(result.summary.loc[result.baseline].index)
    out = [k for k in MAIN_KPIS if k in have]
    return out + [k for k in extra if k in have and k not in out]


def currency_of(designs: Mapping[str, Scenario] | None) -> str:
    """The baseline's `currency:` symbol ("" when none is set or the designs are not given)."""
    if not designs:
        return ""
    return str(getattr(next(iter(designs.values())), "currency", "") or "")


# ---------------------------------------------------------------- numbers and judgements


def format_p(p: float) -> str:
    """A p-value: three decimals, `<0.001` below that."""
    if not math.isfinite(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_text(p: float) -> str:
    """`p = 0.027`, `p < 0.001` (a p-value in a sentence)."""
    shown = format_p(p)
    return f"p {shown[0]} {shown[1:]}" if shown.startswith("<") else f"p = {shown}"


def spread(kpi: str, half_width: float) -> str:
    """A ± half-width in the KPI's unit (registry), `–` when there is none."""
    return registry.format_spread(kpi, half_width) or MISSING


def difference_ci(kpi: str, low: float, high: float, currency: str = "") -> str:
    """A paired interval of a difference: `[−7.6 pp, +2.1 pp]`."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return MISSING
    return (
        f"[{registry.format_difference(kpi, low, currency)}, "
        f"{registry.format_difference(kpi, high, currency)}]"
    )


def judge(kpi: str, diff: float, p_value: float, alpha: float = ALPHA) -> Judgement:
    """Whether a paired difference is significantly better, worse (by the KPI's direction) or not.

    `changed` is a significant difference of a KPI with no better direction (e.g. utilisation).
    """
    if not (math.isfinite(diff) and math.isfinite(p_value)) or p_value >= alpha or diff == 0:
        return "not significant"
    verdict = registry.info(kpi).verdict(diff)
    return verdict if verdict in ("better", "worse") else "changed"  # type: ignore[return-value]


def css_class(judgement: Judgement) -> str:
    """The HTML class of a judgement (`ns` for not significant)."""
    return "ns" if judgement == "not significant" else judgement


@dataclass(frozen=True)
class Finding:
    """One design's paired difference on one KPI, judged."""

    design: str
    kpi: str
    baseline: float
    value: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    judgement: Judgement


def findings(result: CompareResult, kpis: Sequence[str]) -> list[Finding]:
    """Every design's judged difference on each of `kpis`, design by design in order."""
    out = []
    for design in result.designs[1:]:
        for name in kpis:
            row = _row(result, "differences", design, name)
            if row is None:
                continue
            diff, p = _f(row, "diff"), _f(row, "p_value")
            out.append(
                Finding(
                    design, name, _f(row, "baseline"), _f(row, "value"), diff,
                    _f(row, "ci_low"), _f(row, "ci_high"), p, judge(name, diff, p),
                )
            )  # fmt: skip
    return out


def replications(result: CompareResult) -> int:
    """Replications per design (the pairs a difference is taken over)."""
    n = result.meta.get("replications")
    if isinstance(n, int | float) and n > 0:
        return int(n)
    return len(result.kpis) // max(len(result.designs), 1)


def wide_intervals(result: CompareResult, kpis: Sequence[str], currency: str = "") -> list[str]:
    """The main KPIs whose 95 % interval (of a design's mean) is too wide to read, as text.

    Very wide: a rate with a half-width above `WIDE_RATE`, another KPI above `WIDE_RELATIVE`
    of its mean's magnitude. One entry per KPI, naming its widest interval and how many designs
    have one, e.g. `fill_rate up to ± 34.5 pp (base: 87.7% [53.3%, 100.0%]; 4 of 4 designs)`.
    """
    rows = {d: result.summary.loc[d] for d in result.designs if d in result.summary.index}
    return wide_by_kpi(rows, kpis, "designs", currency)


def wide_by_kpi(
    rows: Mapping[str, pd.DataFrame], kpis: Sequence[str], what: str, currency: str = ""
) -> list[str]:
    """Very wide intervals per KPI over several summaries (`rows`: name → summary by KPI).

    Shared by the compare and sweep reports (`what` names the summaries: designs, points).
    """
    out = []
    for name in kpis:
        wide = []
        for owner, summary in rows.items():
            if name not in summary.index:
                continue
            row = summary.loc[name]
            mean, hw = _f(row, "mean"), _f(row, "half_width")
            if not (math.isfinite(mean) and math.isfinite(hw)):
                continue
            limit = WIDE_RATE if registry.info(name).is_rate else WIDE_RELATIVE * abs(mean)
            if hw > limit:
                wide.append((hw, owner, row))
        if not wide:
            continue
        hw, owner, row = max(wide, key=lambda item: item[0])
        value = registry.format_value(name, _f(row, "mean"), currency=currency)
        ci = registry.format_ci(name, _f(row, "ci_low"), _f(row, "ci_high"), currency)
        out.append(
            f"{name} up to {spread(name, hw)} ({owner}: {value} {ci}; "
            f"{len(wide)} of {len(rows)} {what})"
        )
    return out


def reliability_warnings(
    result: CompareResult, kpis: Sequence[str], currency: str = ""
) -> list[str]:
    """Why the verdict may not hold: too few replications, very wide intervals ([] if none)."""
    out = []
    n = replications(result)
    if n < MIN_REPS:
        out.append(
            f"Only {n} replication{'s' if n != 1 else ''} per design: intervals are wide and "
            "real differences may show as not significant; run at least "
            f"{MIN_REPS} (--reps {MIN_REPS}, or --precision) before deciding."
        )
    wide = wide_intervals(result, kpis, currency)
    if wide:
        out.append(
            f"Very wide 95 % intervals (runs differ a lot): {'; '.join(wide)}. Paired "
            "differences are narrower, but more replications would help."
        )
    return out


def design_sentence(
    design: str, found: Sequence[Finding], baseline: str, currency: str = ""
) -> str:
    """One design's verdict in words (plain text): better on ..., worse on ..., n.s. on ...."""
    parts = []
    for judgement, word in (
        ("better", "better on"),
        ("worse", "worse on"),
        ("changed", "changes"),
    ):
        items = [f for f in found if f.judgement == judgement]
        if items:
            parts.append(
                f"{word} "
                + ", ".join(
                    f"{f.kpi} ({registry.format_difference(f.kpi, f.diff, currency)}, "
                    f"{p_text(f.p_value)})"
                    for f in items
                )
            )
    rest = [f.kpi for f in found if f.judgement == "not significant"]
    if rest:
        parts.append("no significant difference on " + ", ".join(rest))
    return f"{design} against {baseline}: " + ("; ".join(parts) or "nothing to compare") + "."


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


def comparison_text(
    result: CompareResult, kpis: Sequence[str] | None = None, currency: str = ""
) -> str:
    """The comparison as text: warnings, means ± CI per design, differences, then the verdict.

    Every value is formatted by the KPI registry, as in the HTML report: rates as percentages
    with ± and differences in percentage points, hours with `h`, money with separators.
    """
    names = list(kpis) if kpis is not None else main_kpis(result)
    kw = max([20, *(len(k) + 2 for k in names)])
    dw = max([20, *(len(d) + 2 for d in result.designs)])
    lines = [run_line(result)]
    lines += [f"warning: {w}" for w in reliability_warnings(result, names, currency)]
    lines += ["", "Means with 95 % confidence intervals"]
    lines.append(f"{'kpi':<{kw}}{'design':<{dw}}{'mean':>14}  {'± 95% CI':>16}")
    for name in names:
        for i, design in enumerate(result.designs):
            row = _row(result, "summary", design, name)
            mean = registry.format_value(name, _f(row, "mean"), currency=currency)
            lines.append(
                f"{name if i == 0 else '':<{kw}}{design:<{dw}}"
                f"{mean:>14}  {spread(name, _f(row, 'half_width')):>16}"
            )
    lines += [
        "",
        f"Differences against {result.baseline} (design − baseline, paired by replication)",
        f"{'kpi':<{kw}}{'design':<{dw}}{'difference':>14}  {'± paired':>16}  {'p-value':>8}"
        f"  {'± unpaired':>16}  verdict",
    ]
    for name in names:
        for i, design in enumerate(result.designs[1:]):
            row = _row(result, "differences", design, name)
            diff, p = _f(row, "diff"), _f(row, "p_value")
            lines.append(
                f"{name if i == 0 else '':<{kw}}{design:<{dw}}"
                f"{registry.format_difference(name, diff, currency):>14}"
                f"  {spread(name, _f(row, 'half_width')):>16}"
                f"  {format_p(p):>8}"
                f"  {spread(name, _f(row, 'unpaired_half_width')):>16}"
                f"  {judge(name, diff, p)}"
            )
    lines.append(
        "± unpaired: the half-width independent runs would give; the narrower paired one is "
        "what common random numbers buy."
    )
    found = findings(result, names)
    lines += ["", f"Verdict (paired t-test, significant at p < {ALPHA:g})"]
    for design in result.designs[1:]:
        mine = [f for f in found if f.design == design]
        lines.append("  " + design_sentence(design, mine, result.baseline, currency))
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


def axis_unit(kpi: str, currency: str = "") -> str:
    """What a difference of `kpi` is measured in, for an axis label."""
    unit = registry.info(kpi).unit
    if unit == "share":
        return "percentage points"
    if unit == "hours":
        return "hours"
    if unit == "money":
        return currency or "money"
    return unit


def forest_figure(result: CompareResult, kpis: Sequence[str], currency: str = "") -> Figure:
    """Paired differences against the baseline with 95 % CIs, one panel per KPI.

    Each non-baseline design is a row: a point at its mean difference and a bar for its paired
    interval, coloured by the judgement (green significantly better, red worse, grey not
    significant, by the KPI's direction); a wide light bar behind it is the unpaired interval
    (it may run past the panel, whose range is set by the paired intervals). The dashed line is
    "no difference".
    """
    others = result.designs[1:]
    n = len(others)
    panels = list(kpis) or ["(no KPI)"]
    fig = Figure(figsize=(9.0, sum(1.25 + 0.42 * n for _ in panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    ys = np.arange(n)[::-1].astype(float)
    seen: set[str] = set()
    for ax, name in zip(axes, panels, strict=True):
        scale = 100.0 if registry.info(name).is_rate else 1.0
        ends = [0.0]
        for y, design in zip(ys, others, strict=True):
            row = _row(result, "differences", design, name)
            d, hw, unpaired = (
                _f(row, c) * scale for c in ("diff", "half_width", "unpaired_half_width")
            )
            if not math.isfinite(d):
                continue
            hw = hw if math.isfinite(hw) else 0.0
            ends += [d - hw, d + hw]
            if math.isfinite(unpaired):
                ax.errorbar(d, y, xerr=unpaired, fmt="none", ecolor=_UNPAIRED_COLOUR, elinewidth=9)
            judgement = judge(name, _f(row, "diff"), _f(row, "p_value"))
            seen.add(judgement)
            colour = COLOURS[judgement]
            ax.errorbar(
                d, y, xerr=hw, fmt="o", color=colour, ecolor=colour, elinewidth=2.2, capsize=5,
                markersize=6,
            )  # fmt: skip
            ax.annotate(
                p_text(_f(row, "p_value")),
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
        better = registry.info(name).better
        hint = f"; {better} is better" if better else ""
        ax.set_xlabel(f"{name}: design − {result.baseline} ({axis_unit(name, currency)}{hint})")
        ax.xaxis.set_major_formatter(_difference_formatter(name))
        ax.grid(True, axis="x", alpha=0.3)
    handles: list[Any] = [
        Patch(color=_UNPAIRED_COLOUR, label="unpaired 95 % CI (independent runs)")
    ]
    for judgement in ("better", "worse", "changed", "not significant"):
        if judgement in seen:
            label = (
                f"paired 95 % CI: {judgement}" if judgement != "not significant"
                else "paired 95 % CI: not significant"
            )  # fmt: skip
            handles.append(
                Line2D([], [], color=COLOURS[judgement], marker="o", linewidth=2.2, label=label)
            )
    fig.legend(
        handles=handles, loc="outside lower center", ncols=min(len(handles), 3),
        fontsize="small", frameon=False,
    )  # fmt: skip
    return fig


def _difference_formatter(kpi: str) -> FuncFormatter:
    """Tick labels of a difference axis: plain numbers with separators (rates already × 100)."""
    unit = registry.info(kpi).unit
    if unit in ("share", "hours"):
        return FuncFormatter(lambda v, _pos: f"{v:+,.3g}" if v else "0")
    return FuncFormatter(lambda v, _pos: f"{v:+,.0f}" if v else "0")


# ---------------------------------------------------------------- HTML


def verdict_section(result: CompareResult, kpis: Sequence[str], currency: str = "") -> str:
    """The report's opening: warnings, one sentence per design, the judged differences table.

    Each cell is a design's paired difference on a KPI with its 95 % interval and p-value,
    coloured by its judgement (`judge`); the baseline's means head the table.
    """
    parts = ['<section id="verdict">', "<h2>Verdict</h2>"]
    warnings = reliability_warnings(result, kpis, currency)
    if warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
        parts.append(f'<div class="warning"><strong>Read with care.</strong><ul>{items}</ul></div>')
    found = findings(result, kpis)
    if len(result.designs) < 2 or not found:
        parts.append("<p>No design to compare with the baseline.</p></section>")
        return "\n".join(parts)
    sentences = []
    for design in result.designs[1:]:
        mine = [f for f in found if f.design == design]
        bits = []
        for judgement, word in (
            ("better", "better on"),
            ("worse", "worse on"),
            ("changed", "changes"),
        ):
            items = [f for f in mine if f.judgement == judgement]
            if items:
                listed = ", ".join(
                    f'<code>{escape(f.kpi)}</code> '
                    + data_number(
                        f.kpi, "diff", f.diff,
                        registry.format_difference(f.kpi, f.diff, currency), design=design,
                    )
                    for f in items
                )  # fmt: skip
                bits.append(f'<span class="{judgement}">{word}</span> {listed}')
        rest = [f.kpi for f in mine if f.judgement == "not significant"]
        if rest:
            names = ", ".join(f"<code>{escape(k)}</code>" for k in rest)
            bits.append(f'<span class="ns">no significant difference on</span> {names}')
        sentences.append(
            f"<li><strong>{escape(design)}</strong>: "
            + "; ".join(bits or ["nothing to compare"])
            + "</li>"
        )
    base = result.baseline
    means = ", ".join(
        f"<code>{escape(k)}</code> "
        + data_number(
            k, "mean", _f(_row(result, "summary", base, k), "mean"),
            registry.format_value(k, _f(_row(result, "summary", base, k), "mean"),
                                  currency=currency),
            design=base,
        )
        for k in kpis
    )  # fmt: skip
    parts += [
        f"<p>Against the baseline <strong>{escape(base)}</strong> ({means}), each design is "
        f"judged per KPI by a paired t-test over {replications(result)} replications on common "
        f"random numbers (significant at p &lt; {ALPHA:g}):</p>",
        f'<ul class="designs">{"".join(sentences)}</ul>',
        _verdict_table(result, found, kpis, currency),
        '<p class="legend"><span class="better">■ significantly better</span> · '
        '<span class="worse">■ significantly worse</span> · '
        '<span class="ns">■ not significant</span> (by each KPI\'s direction). Each cell: '
        "design − baseline, its paired 95 % interval and p-value.</p>",
        "</section>",
    ]
    return "\n".join(parts)


def _verdict_table(
    result: CompareResult, found: Sequence[Finding], kpis: Sequence[str], currency: str
) -> str:
    by_key = {(f.design, f.kpi): f for f in found}
    head = (
        "<tr><th>design</th>"
        + "".join(f'<th class="num"><code>{_breakable(k)}</code></th>' for k in kpis)
        + "</tr>"
    )
    rows = []
    for design in result.designs[1:]:
        cells = [f"<td><strong>{_breakable(design)}</strong></td>"]
        for k in kpis:
            f = by_key.get((design, k))
            if f is None:
                cells.append(f'<td class="cell ns">{MISSING}</td>')
                continue
            word = {"not significant": "n.s."}.get(f.judgement, f.judgement)
            cells.append(
                f'<td class="cell {css_class(f.judgement)}" title="{escape(f.judgement)}">'
                '<span class="diff">'
                + data_number(k, "diff", f.diff, registry.format_difference(k, f.diff, currency),
                          design=design)
                + "</span>"
                '<span class="sub">'
                + data_number(k, "ci_low", f.ci_low,
                          registry.format_difference(k, f.ci_low, currency), design=design)
                + " … "
                + data_number(k, "ci_high", f.ci_high,
                          registry.format_difference(k, f.ci_high, currency), design=design)
                + "</span>"
                '<span class="sub">'
                + data_number(k, "p_value", f.p_value, p_text(f.p_value), design=design)
                + f" · {escape(word)}</span></td>"
            )  # fmt: skip
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="verdict">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def _breakable(name: str) -> str:
    """Escape an identifier and let it wrap after its underscores (narrow columns)."""
    return escape(name).replace("_", "_<wbr>")


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
                f"<div><code>{_breakable(path)}</code>: {escape(_show(old))} → "
                f"<strong>{escape(_show(new))}</strong></div>"
                for path, old, new in found[:MAX_CHANGES]
            ]
            if len(found) > MAX_CHANGES:
                shown.append(f"<div>… and {len(found) - MAX_CHANGES} more</div>")
            changes = "".join(shown) or "<em>none (same scenario)</em>"
        source = str(sources.get(design, MISSING)) if sources else MISSING
        rows.append(
            f"<tr><td><strong>{_breakable(design)}</strong></td>"
            f"<td>{_breakable(scenario.name) if scenario is not None else MISSING}</td>"
            f"<td>{escape(source).replace('/', '/<wbr>')}</td>"
            f'<td class="num">{escape(str(seeds.get(design, MISSING)))}</td>'
            f'<td class="changes">{changes}</td></tr>'
        )
    return (
        f'<table class="designs">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def _means_table(result: CompareResult, kpis: Sequence[str], currency: str = "") -> str:
    head = "<tr><th>KPI</th><th>what it measures</th>" + "".join(
        f'<th class="num">{_breakable(d)}</th>' for d in result.designs
    )
    rows = []
    for name in kpis:
        cells = []
        for design in result.designs:
            row = _row(result, "summary", design, name)
            mean, low, high = (_f(row, c) for c in ("mean", "ci_low", "ci_high"))
            cells.append(
                f'<td class="num">{escape(registry.format_value(name, mean, currency=currency))}'
                f'<br><span class="ci">{escape(registry.format_ci(name, low, high, currency))}'
                "</span></td>"
            )
        rows.append(
            f"<tr><td><code>{_breakable(name)}</code></td>"
            f"<td>{escape(registry.info(name).description)}</td>" + "".join(cells) + "</tr>"
        )
    return (
        f'<div class="wide"><table class="means">\n<thead>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table></div>"
    )


def _differences_table(result: CompareResult, kpis: Sequence[str], currency: str = "") -> str:
    head = (
        '<tr><th>design</th><th>KPI</th><th class="num">baseline → design</th>'
        '<th class="num">difference</th><th class="num">paired 95 % CI</th>'
        '<th class="num">p-value</th><th class="num">± paired</th>'
        '<th class="num">± unpaired</th></tr>'
    )
    rows = []
    for f in findings(result, kpis):
        row = _row(result, "differences", f.design, f.kpi)
        values = (
            f"{registry.format_value(f.kpi, f.baseline, currency=currency)} → "
            f"{registry.format_value(f.kpi, f.value, currency=currency)}"
        )
        rows.append(
            f"<tr><td>{_breakable(f.design)}</td><td><code>{_breakable(f.kpi)}</code></td>"
            f'<td class="num wrap">{escape(values)}</td>'
            f'<td class="num {css_class(f.judgement)}"><strong>'
            f"{escape(registry.format_difference(f.kpi, f.diff, currency))}</strong></td>"
            f'<td class="num wrap">{escape(difference_ci(f.kpi, f.ci_low, f.ci_high, currency))}'
            "</td>"
            f'<td class="num">{escape(format_p(f.p_value))}</td>'
            f'<td class="num">{escape(spread(f.kpi, _f(row, "half_width")))}</td>'
            f'<td class="num">{escape(spread(f.kpi, _f(row, "unpaired_half_width")))}</td></tr>'
        )
    return (
        f'<div class="wide"><table class="differences">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table></div>"
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
    baseline (and gives the baseline's currency); `sources` names the file each design came
    from; `precision_kpi` is the KPI a `--precision` rule watched.
    """
    heading = title if title is not None else f"Comparison against {result.baseline}"
    currency = currency_of(designs)
    kpis = main_kpis(result, [precision_kpi] if precision_kpi else [])
    body = [f"<h1>{escape(heading)}</h1>", f'<p class="summary">{escape(run_line(result))}</p>']
    seeds = result.meta.get("seeds")
    warning = seed_warning(seeds) if isinstance(seeds, dict) else None
    if warning:
        body.append(f'<p class="warning">{escape(warning)}</p>')
    body.append(verdict_section(result, kpis, currency))
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
        image = figures.to_png_base64(forest_figure(result, kpis, currency))
        body += [
            "<h2>Differences against the baseline</h2>",
            "<p>Design − baseline per KPI. Coloured bars: paired 95 % confidence intervals (both "
            "designs on the same random numbers, differenced replication by replication), green "
            "where the design is significantly better, red where worse, grey where the "
            "difference is not significant; light bars: what independent runs would give (they "
            "may run past the panel). An interval that does not cross the dashed zero line is a "
            "significant difference.</p>",
            _img(image, "Forest plot of paired differences against the baseline"),
            _differences_table(result, kpis, currency),
        ]
    body += [
        "<h2>Main KPIs per design</h2>",
        "<p>Mean over replications, 95 % Student-t confidence interval below it.</p>",
        _means_table(result, kpis, currency),
        "<h2>All KPIs</h2>",
    ]
    for design in result.designs:
        if design in result.summary.index.get_level_values(0):
            body.append(
                f"<details><summary>{escape(design)}</summary>\n"
                f'<div class="wide">{kpi_table(result.summary.loc[design])}</div>\n</details>'
            )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
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
