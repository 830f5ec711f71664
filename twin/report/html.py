"""The single-file HTML report of a run: KPI table with confidence intervals, figures, costs.

The file is self-contained (inline CSS, figures as base64 PNG `data:` URIs) so a planner can open
it offline or mail it around, and it is written atomically so a half-written report never exists.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from html import escape
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from twin import kpi
from twin.experiments.results import Detail, RunResult
from twin.kpi import MISSING, decimals_for, format_ci, format_value
from twin.report import figures

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 62rem; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
.summary { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.92rem; }
th, td { padding: 0.3rem 0.7rem; border-bottom: 1px solid #ddd; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #f3f3f3; }
code { font-size: 0.9rem; }
figure { margin: 0.5rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; }
.wide { overflow-x: auto; }
table.by-site { font-size: 0.85rem; }
table.by-site th, table.by-site td { padding: 0.3rem 0.45rem; }
table.by-site thead th { vertical-align: bottom; white-space: normal; }
table.by-site code { font-size: 0.8rem; }
"""

def kpi_kind(name: str) -> str:
    """`rate`, `money`, `hours` or `count`: the registry's unit, as the figures group it."""
    unit = kpi.info(name).unit
    return {"share": "rate", "money": "money", "hours": "hours"}.get(unit, "count")


def describe_kpi(name: str) -> str:
    """The planner-facing description of a KPI from the registry ("" when unknown)."""
    return kpi.info(name).description


def _as_float(value: object) -> float:
    """Coerce a summary cell to float, mapping missing values to NaN."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _seed_text(kpis: pd.DataFrame) -> str | None:
    """`seed 7` or `seeds 1–5` from the replication table, when it has seeds."""
    if "seed" not in kpis.columns or kpis["seed"].dropna().empty:
        return None
    low, high = int(kpis["seed"].min()), int(kpis["seed"].max())
    return f"seed {low}" if low == high else f"seeds {low}–{high}"


def run_summary(result: RunResult) -> str:
    """One line about the run: replications, seed range and the `meta` entries (plain text)."""
    n = len(result.kpis)
    parts = [f"{n} replication{'s' if n != 1 else ''}"]
    seeds = _seed_text(result.kpis)
    if seeds:
        parts.append(seeds)
    parts.extend(f"{key}: {value}" for key, value in result.meta.items())
    return " · ".join(parts)


def _kpi_row(kpi: str, row: pd.Series) -> str:
    """One `<tr>` of the KPI table."""
    mean = _as_float(row.get("mean"))
    low, high = _as_float(row.get("ci_low")), _as_float(row.get("ci_high"))
    n = _as_float(row.get("n"))
    places = decimals_for([mean, low, high])
    cells = [
        f"<td><code>{escape(kpi)}</code></td>",
        f"<td>{escape(describe_kpi(kpi))}</td>",
        f'<td class="num">{escape(format_value(kpi, mean, places))}</td>',
        f'<td class="num">{escape(format_ci(kpi, low, high))}</td>',
        f'<td class="num">{MISSING if math.isnan(n) else int(n)}</td>',
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def kpi_table(summary: pd.DataFrame) -> str:
    """Render the KPI table: name, description, mean, 95 % CI and replications per KPI."""
    head = (
        '<tr><th>KPI</th><th>what it measures</th><th class="num">mean</th>'
        '<th class="num">95 % CI</th><th class="num">n</th></tr>'
    )
    rows = [_kpi_row(str(kpi), row) for kpi, row in summary.iterrows()]
    return (
        f'<table class="kpis">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + ("\n</tbody>\n</table>")
    )


def _img(png_base64: str, alt: str) -> str:
    """Wrap a base64 PNG in an `<img>` with a `data:` URI inside a `<figure>`."""
    return f'<figure><img src="data:image/png;base64,{png_base64}" alt="{escape(alt)}"></figure>'


def _render(make: Callable[[], Figure], alt: str) -> str:
    """Build a figure and render it to an embedded `<img>`."""
    return _img(figures.to_png_base64(make()), alt)


def cost_table(costs: dict[str, float]) -> str:
    """Cost parts with their amount and share of the total, largest first."""
    total = sum(costs.values())
    rows = []
    for part, amount in sorted(costs.items(), key=lambda kv: kv[1], reverse=True):
        share = f"{100.0 * amount / total:.1f}%" if total else MISSING
        rows.append(
            f"<tr><td><code>{escape(part)}</code></td>"
            f'<td class="num">{amount:,.0f}</td><td class="num">{share}</td></tr>'
        )
    rows.append(
        f'<tr><th>total</th><th class="num">{total:,.0f}</th>'
        f'<th class="num">{"100.0%" if total else MISSING}</th></tr>'
    )
    head = '<tr><th>cost part</th><th class="num">amount</th><th class="num">share</th></tr>'
    return (
        f'<table class="costs">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + ("\n</tbody>\n</table>")
    )


def _money(amount: float) -> str:
    """Format an amount of money with thousands separators and no decimals."""
    return f"{amount:,.0f}" if math.isfinite(amount) else MISSING


def _breakable(name: str) -> str:
    """Escape an identifier and let it wrap after its underscores (narrow table headers)."""
    return escape(name).replace("_", "_<wbr>")


def cost_by_site_table(cost_table: pd.DataFrame) -> str:
    """Cost per site (rows) and part (columns) over the run, with totals; "" when no costs."""
    if cost_table.empty:
        return ""
    wide = cost_table.pivot_table(index="site", columns="part", values="amount", aggfunc="sum")
    parts = wide.sum().sort_values(ascending=False, kind="stable").index
    sites = wide.sum(axis=1).sort_values(ascending=False, kind="stable").index
    wide = wide.loc[sites, parts]
    head = (
        "<tr><th>site</th>"
        + "".join(f'<th class="num"><code>{_breakable(str(p))}</code></th>' for p in parts)
        + '<th class="num">total</th></tr>'
    )
    rows = []
    for site, row in wide.iterrows():
        cells = "".join(f'<td class="num">{_money(float(v))}</td>' for v in row)
        rows.append(
            f"<tr><td>{escape(str(site))}</td>{cells}"
            f'<th class="num">{_money(float(row.sum()))}</th></tr>'
        )
    totals = "".join(f'<th class="num">{_money(float(wide[p].sum()))}</th>' for p in parts)
    rows.append(
        f'<tr><th>total</th>{totals}<th class="num">{_money(float(wide.sum().sum()))}</th></tr>'
    )
    return (
        f'<div class="wide"><table class="by-site">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table></div>"
    )


def disruption_table(disruptions: pd.DataFrame) -> str:
    """One row per disruption, in start order: kind, target, start, duration, severity."""
    if disruptions.empty:
        return ""
    head = (
        '<tr><th>kind</th><th>target</th><th class="num">start (day)</th>'
        '<th class="num">duration (h)</th><th class="num">severity</th></tr>'
    )
    rows = []
    ordered = disruptions.sort_values(["start", "kind", "target"], kind="stable")
    for _, row in ordered.iterrows():
        start, end, severity = (_as_float(row[c]) for c in ("start", "end", "severity"))
        rows.append(
            f"<tr><td>{escape(str(row['kind']))}</td><td>{escape(str(row['target']))}</td>"
            f'<td class="num">{start / 24.0:,.1f}</td>'
            f'<td class="num">{end - start:,.1f}</td>'
            f'<td class="num">{MISSING if math.isnan(severity) else f"{severity:.2f}"}</td></tr>'
        )
    return (
        f'<table class="disruptions">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def detail_sections(detail: Detail) -> list[str]:
    """HTML of the replication-0 sections: stock, disruptions, livestream windows and costs."""
    has_disruptions = not detail.disruptions.empty
    bands = (
        "shaded bands are livestreams (orange) and disruptions (red, hatched)"
        if has_disruptions
        else "shaded bands are livestreams"
    )
    sections = [
        "<h2>Stock over time</h2>",
        f"<p>On-hand units per warehouse (replication 0); {bands}.</p>",
        _render(lambda: figures.stock_figure(detail), "On-hand stock per warehouse over time"),
    ]
    if has_disruptions:
        sections += [
            "<h2>Disruptions</h2>",
            "<p>Disruptions of replication 0. Severity is the share of capacity lost for a "
            "carrier capacity cut and the lead-time factor for a lead-time spike; other kinds "
            "take the target fully down.</p>",
            disruption_table(detail.disruptions),
        ]
    for event in figures.live_events(detail.events):
        sections += [
            f"<h2>Around {escape(event.name)}</h2>",
            "<p>Orders per 15 minutes by channel and open backlog units, from 6 h before to "
            "36 h after the livestream starts.</p>",
            _render(
                lambda event=event: figures.event_figure(detail, event),
                figures.event_title(event),
            ),
        ]
    sections += [
        "<h2>Cost breakdown</h2>",
        _render(lambda: figures.cost_figure(detail.costs), "Cost parts over the run"),
        cost_table(detail.costs),
    ]
    if not detail.cost_table.empty:
        sections += [
            "<h2>Costs by day</h2>",
            "<p>Cost arising on each day of the run (replication 0), stacked by cost part.</p>",
            _render(
                lambda: figures.cost_by_day_figure(detail.cost_table), "Cost per day by cost part"
            ),
            "<h2>Cost by site</h2>",
            "<p>Cost over the run (replication 0) by the site where it arose.</p>",
            cost_by_site_table(detail.cost_table),
        ]
    return sections


def render_report(result: RunResult, title: str | None = None) -> str:
    """Render a run as a complete, self-contained HTML document (a string)."""
    heading = title if title is not None else result.scenario
    body = [
        f"<h1>{escape(heading)}</h1>",
        f'<p class="summary">{escape(run_summary(result))}</p>',
        "<h2>Key performance indicators</h2>",
        "<p>Mean over replications with a 95 % Student-t confidence interval.</p>",
        kpi_table(result.summary),
    ]
    if result.detail is not None:
        body += detail_sections(result.detail)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(heading)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write text (or bytes, e.g. Parquet) to `path` via a temp file and `os.replace`.

    Readers see either the old file or the complete new one, never a partial write.
    """
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        binary = isinstance(text, bytes)
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_report(result: RunResult, path: str | Path, title: str | None = None) -> Path:
    """Write the run's report as one self-contained HTML file and return its path."""
    target = Path(path)
    document = render_report(result, title)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, document)
    return target
