"""The run report: a verdict first, then where, when, why, across every replication.

The first screen answers the planner: the probability each target is met, lost units, lost revenue
and cost at P10 / P50 / P90, the stock-outs that hurt most and their binding causes, and what to
change. The sections below back it up: fan charts through each livestream, a stock-out map, causes
over time, saturation, KPI distributions, regions and warehouses, returns still to come, costs.

The page is a Jinja2 template (`templates/run.html.j2`); numbers come from `analysis`, figures
from `run_figures`, and every fact about a KPI (unit, direction, format) from `twin.kpi`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

import jinja2
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from twin import kpi
from twin.experiments.stats import BOOTSTRAP_RESAMPLES
from twin.experiments.trace import CAUSES
from twin.report import analysis, palette, run_figures
from twin.report.analysis import Results
from twin.report.figures import to_png_base64

FEW_RUNS = 10
"""Below this many replications the verdict warns that its shares and quantiles are rough."""

MAIN_CAUSE_SHARE = 0.1
"""A cause gets advice when it accounts for at least this share of lost and late units."""

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 1.2rem auto;
       max-width: 74rem; padding: 0 1rem; color: #1f2328; line-height: 1.35; font-size: 15px; }
h1 { margin: 0 0 0.1rem; font-size: 1.5rem; }
h2 { margin: 1.6rem 0 0.4rem; font-size: 1.2rem; }
h3 { margin: 0.6rem 0 0.3rem; font-size: 1rem; }
.summary { color: #57606a; margin: 0 0 0.6rem; }
table { border-collapse: collapse; margin: 0.3rem 0 0.8rem; font-size: 0.88rem; }
th, td { padding: 0.22rem 0.55rem; border-bottom: 1px solid #d8dee4; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #f6f8fa; }
code { font-size: 0.85rem; }
figure { margin: 0.3rem 0 1rem; }
figure img { max-width: 100%; height: auto; }
.wide { overflow-x: auto; max-width: 100%; }
.cols { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.25fr); gap: 1.2rem; }
.verdict { border: 2px solid #d0d7de; border-radius: 8px; padding: 0.4rem 1rem 0.6rem; }
.verdict h2 { margin-top: 0.3rem; }
.verdict.fail { border-color: #cf222e; background: #fff8f8; }
.verdict.pass { border-color: #1a7f37; background: #f6fff8; }
.headline { font-size: 1.08rem; font-weight: 600; margin: 0.2rem 0 0.4rem; }
tr.pass .badge { background: #1a7f37; } tr.fail .badge { background: #cf222e; }
.badge { color: #fff; border-radius: 4px; padding: 0 0.4rem; font-size: 0.8rem; }
ul.drivers, ul.advice { margin: 0.2rem 0 0.4rem; padding-left: 1.1rem; font-size: 0.9rem; }
.causes-line { font-size: 0.88rem; color: #57606a; margin: 0.2rem 0; }
.warning { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 0 0.7rem;
           font-size: 0.88rem; }
.note { color: #57606a; }
.dot { display: inline-block; width: 0.7rem; height: 0.7rem; border-radius: 50%;
       margin-right: 0.35rem; vertical-align: -0.05rem; }
small { color: #57606a; }
"""

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("twin.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _img(fig: Figure, alt: str, tight: bool = True) -> Markup:
    """A figure as an embedded PNG with its alt text."""
    data = to_png_base64(fig, tight=tight)
    return Markup(f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}"></figure>')


def _raw(x: float) -> str:
    """A value as `summary.csv` writes it (10 significant digits), for data attributes."""
    return "nan" if not math.isfinite(x) else f"{x:.10g}"


def _pct(x: float) -> str:
    return kpi.MISSING if not math.isfinite(x) else f"{100.0 * x:.0f}%"


def render(results: Results, title: str | None = None) -> str:
    """The whole report as one self-contained HTML document."""
    fmt: Callable[[str, float], str] = lambda name, value: kpi.format_value(  # noqa: E731
        name, value, currency=results.currency
    )
    targets = analysis.target_checks(results)
    ctx: dict[str, object] = {
        "title": title if title is not None else results.scenario,
        "css": CSS,
        "n": results.n,
        "run_line": _run_line(results),
        "targets": targets,
        "raw": _raw,
        "pct": _pct,
        "resamples": f"{BOOTSTRAP_RESAMPLES:,}",
        "headline_rows": _headline_rows(results, fmt),
        "warnings": _warnings(results),
    }
    failed = [t for t in targets if not t.passed]
    if targets:
        ctx["verdict_class"] = "fail" if failed else "pass"
        ctx["headline"] = (
            f"The plan misses {len(failed)} of {len(targets)} targets: "
            + "; ".join(f"{t.kpi} {t.rule} holds in only {t.met} of {t.n} runs" for t in failed)
            + "."
            if failed
            else f"The plan meets all {len(targets)} targets in at least the share of runs required."
        )
    else:
        ctx["verdict_class"] = ""
        ctx["headline"] = _no_target_headline(results)
    ctx.update(_traced_sections(results, fmt) if results.has_traces else _untraced())
    ctx["kpi_rows"] = _kpi_rows(results, fmt)
    ctx["dist_img"] = _img(
        run_figures.distribution_figure(
            results,
            [k for k in (*analysis.HEADLINE_KPIS, "lead_time_p95", "backlog_peak", "recovery_h")
             if k in results.kpis.columns],
            {name: bound for name, (_, bound) in analysis.target_bounds(results).items()},
        ),
        "Each KPI's value in every run with its P10, P50 and P90",
    )
    ctx["cost_img"] = _img(run_figures.cost_figure(results), "Cost by part, mean and P10–P90")
    total = results.summary.loc["cost_total", "mean"] if "cost_total" in results.summary.index else math.nan
    ctx["cost_total"] = fmt("cost_total", float(total))
    return _ENV.get_template("run.html.j2").render(**ctx)


def _run_line(results: Results) -> str:
    parts = [f"{results.n} replication{'s' if results.n != 1 else ''}"]
    seed = results.meta.get("seed")
    if seed is not None:
        parts.append(f"seed {seed}")
    horizon = results.meta.get("horizon_h")
    if isinstance(horizon, int | float):
        parts.append(f"horizon {horizon / 24:g} days")
    if results.start is not None:
        parts.append(f"from {results.start:%a %d %b %Y %H:%M %Z}".strip())
    if results.currency:
        parts.append(f"amounts in {results.currency}")
    if "precision_reached" in results.meta:
        parts.append(f"precision target reached: {results.meta['precision_reached']}")
    return " · ".join(parts)


def _no_target_headline(results: Results) -> str:
    s = results.summary
    if "fill_rate" not in s.index:
        return "No targets set."
    below = int((results.kpis["fill_rate"] < 0.9).sum())
    return (
        f"Fill rate P50 {kpi.format_value('fill_rate', float(s.loc['fill_rate', 'p50']))} "
        f"(P10 {kpi.format_value('fill_rate', float(s.loc['fill_rate', 'p10']))}); "
        f"{below} of {results.n} runs fill less than 90 % of demand."
    )


def _headline_rows(results: Results, fmt: Callable[[str, float], str]) -> list[dict[str, object]]:
    rows = []
    for name in analysis.HEADLINE_KPIS:
        if name not in results.summary.index:
            continue
        row: dict[str, object] = {"kpi": name, "label": name.replace("_", " ")}
        for stat in ("p10", "p50", "p90"):
            value = float(results.summary.loc[name].get(stat, math.nan))
            row[stat] = value
            row[f"{stat}_text"] = fmt(name, value)
        rows.append(row)
    return rows


def _warnings(results: Results) -> list[str]:
    out = []
    if results.n < FEW_RUNS:
        out.append(
            f"Only {results.n} runs: shares, quantiles and intervals are rough (a share from "
            f"{results.n} runs has a 95 % interval tens of points wide). Run --reps 20 or more "
            "before deciding."
        )
    if not results.has_traces:
        out.append("These results carry no per-run traces: only KPI sections are shown.")
    return out


def _untraced() -> dict[str, object]:
    return {
        "drivers": [], "cause_line": "", "advice": [], "worst": None, "fans": [],
        "stockout_img": None, "losses": [], "causes": [], "causes_img": None, "util_img": None,
        "saturated": [], "regions": [], "sites": [], "network_img": None, "returns": [],
        "liability": {},
    }


def _traced_sections(results: Results, fmt: Callable[[str, float], str]) -> dict[str, object]:
    ax = results.axes
    assert ax is not None
    drivers = analysis.drivers(results)
    causes = analysis.cause_table(results)
    sat = analysis.saturated(results)
    out: dict[str, object] = {
        "drivers": [analysis.driver_sentence(d) for d in drivers[:3]],
        "cause_line": _cause_line(causes),
        "advice": _advice(drivers, causes, sat),
        "worst": _worst(results, fmt),
        "fans": _fans(results),
        "stockout_img": _img(
            run_figures.stockout_map(results),
            "Share of runs with an empty shelf per SKU and warehouse over time",
        ),
        "losses": _losses(results),
        "causes": [
            {
                "cause": r.cause,
                "colour": palette.CAUSE_COLOURS[r.cause],
                "mean": f"{r.mean_units:,.0f}",
                "p90": f"{r.p90_units:,.0f}",
                "share": f"{100 * r.share:.1f}%",
                "runs": int(r.runs),
            }
            for r in causes.itertuples()
        ],
        "causes_img": _img(
            run_figures.causes_figure(results), "Lost and late units per hour by binding cause"
        ),
        "util_img": _img(
            run_figures.utilisation_figure(results), "Load of each resource over time"
        ),
        "saturated": [
            {"resource": r.resource, "runs": r.runs, "hours": f"{r.hours_p50:,.1f} h",
             "during": r.during or "–"}
            for r in sat.itertuples()
        ],
        "regions": [
            {
                "region": r.region,
                "fill": kpi.format_value("fill_rate", r.fill_rate),
                "otd": kpi.format_value("otd", r.otd),
                "lead": kpi.format_value("lead_time_p50", r.lead_time_p50),
                "lost": f"{r.lost_units_p50:,.0f}",
            }
            for r in analysis.region_table(results).itertuples()
        ],
        "sites": _sites(results),
        "network_img": _img(run_figures.network_figure(results), "Network map with lane flows"),
    }
    out.update(_returns(results, fmt))
    return out


def _cause_line(causes: pd.DataFrame) -> str:
    if causes.empty:
        return ""
    top = [f"{r.cause} {100 * r.share:.0f}%" for r in causes.head(3).itertuples()]
    return "Lost and late units by binding cause: " + ", ".join(top) + "."


def _advice(
    drivers: list[analysis.Driver], causes: pd.DataFrame, saturated: pd.DataFrame
) -> list[str]:
    """What to change, from the causes that account for most lost and late units."""
    tips: list[str] = []
    main = causes[causes["share"] >= MAIN_CAUSE_SHARE]["cause"].tolist() if not causes.empty else []
    top = drivers[0] if drivers else None
    for cause in main:
        if cause == "no stock at site" and top is not None:
            tips.append(
                f"Pre-position more {top.sku} at {top.site} before {top.pulse}: stock was in the "
                f"network but not there (P50 {analysis.compact(top.short_p50)} units short there "
                "in the runs it ran out)."
            )
        elif cause == "line-haul capacity":
            tips.append("Add line-haul capacity or departures into the forward warehouses that ran "
                        "out: departures left full or were cut before their stock-outs.")
        elif cause == "upstream empty":
            pulse = f" before {top.pulse}" if top is not None else ""
            tips.append(f"Produce or buy more of the SKUs that ran out{pulse}: nothing was left "
                        "upstream (central stock and production).")
        elif cause == "supplier":
            tips.append("Secure components: the factory lacked components for what was ordered "
                        "(order earlier, raise procurement levels, or lean on the agile or backup "
                        "tier).")
        elif cause == "factory capacity":
            tips.append("Reserve more elastic capacity or pre-build: the factory ran at ≥ 90 % "
                        "before the shortages.")
        elif cause == "pick/pack queue":
            hot = [r for r in saturated["resource"].tolist() if r.startswith("pick_pack:")] \
                if not saturated.empty else []
            where = f" at {hot[0].split(':', 1)[1]}" if hot else ""
            tips.append(f"Add pick/pack workers{where} for the pulses.")
        elif cause == "last-mile wave":
            tips.append("Run last-mile waves more often (or larger) while livestreams are on air.")
        elif cause == "closure":
            tips.append("Plan for warehouse closures: let orders fall back to another warehouse.")
    return tips


def _worst(results: Results, fmt: Callable[[str, float], str]) -> dict[str, object] | None:
    table = analysis.worst_runs(results)
    if table.empty:
        return None
    head = ["run", *[c.replace("_", " ") for c in table.columns[1:]]]
    rows = []
    for record in table.itertuples(index=False):
        cells = [f"#{int(record[0])}"]
        for col, value in zip(table.columns[1:], record[1:], strict=True):
            cells.append(f"{value:,.0f}×" if col.startswith("uplift") else fmt(col, float(value)))
        rows.append(cells)
    return {"by": "fill rate", "head": head, "rows": rows}


def _fans(results: Results) -> list[dict[str, object]]:
    ax = results.axes
    assert ax is not None
    out = []
    for pulse in ax.pulses:
        if "/replay" in pulse:
            continue
        skus = run_figures.featured_skus(results, pulse)
        if not skus:
            continue
        out.append(
            {
                "pulse": pulse,
                "caption": (
                    f"The SKUs {pulse} features, at every warehouse, from 6 h before to 36 h after "
                    f"it starts: units on the shelf (the warehouse's colour) and units of orders "
                    f"waiting (black, dashed), P10–P90 band and P50 over {results.n} runs."
                ),
                "img": _img(
                    run_figures.fan_figure(results, pulse, skus),
                    f"On-hand and waiting units of {', '.join(skus)} per warehouse through {pulse}",
                    tight=False,
                ),
            }
        )
    return out


def _losses(results: Results) -> list[dict[str, object]]:
    ax = results.axes
    assert ax is not None
    colours = palette.sku_colours(ax.skus)
    return [
        {
            "sku": r.sku,
            "site": r.site,
            "colour": colours[r.sku],
            "p50": f"{r.lost_p50:,.0f}",
            "mean": f"{r.lost_mean:,.0f}",
            "p90": f"{r.lost_p90:,.0f}",
            "share": f"{100 * r.share_of_sku_demand:.1f}%",
        }
        for r in analysis.sku_site_losses(results).itertuples()
    ]


def _sites(results: Results) -> list[dict[str, object]]:
    ax = results.axes
    assert ax is not None
    colours = palette.site_colours(ax.sites)
    return [
        {
            "site": r.site,
            "role": r.role,
            "colour": colours[r.site],
            "orders": f"{r.orders_p50:,.0f}",
            "fill": kpi.format_value("fill_rate", r.fill_rate),
            "otd": kpi.format_value("otd", r.otd),
            "peak": f"{100 * r.pick_pack_peak:.0f}%",
        }
        for r in analysis.site_table(results).itertuples()
    ]


def _returns(results: Results, fmt: Callable[[str, float], str]) -> dict[str, object]:
    rows = [
        {
            "channel": r.channel,
            "delivered": f"{r.delivered:,.0f}",
            "rate": f"{100 * r.return_rate:.1f}%" if math.isfinite(r.return_rate) else kpi.MISSING,
            "received": f"{r.received:,.0f}",
            "to_come": f"{r.to_come:,.0f}",
            "refunds": fmt("refunds_pending", r.refunds_to_come),
        }
        for r in analysis.returns_table(results).itertuples()
    ]
    s = results.summary

    def mean(name: str) -> float:
        return float(s.loc[name, "mean"]) if name in s.index else math.nan

    return {
        "returns": rows,
        "liability": {
            "refunds": fmt("refunds_pending", mean("refunds_pending")),
            "units": f"{mean('returns_pending_units'):,.0f}",
            "restock": f"{mean('restock_pending_units'):,.0f}",
        },
    }


def _kpi_rows(results: Results, fmt: Callable[[str, float], str]) -> list[dict[str, str]]:
    rows = []
    for name, r in results.summary.iterrows():
        name = str(name)
        info = kpi.info(name)
        boot = str(r.get("ci_method", "t")) == "bootstrap"
        low, high = (
            (r.get("boot_low", math.nan), r.get("boot_high", math.nan))
            if boot
            else (r.get("ci_low", math.nan), r.get("ci_high", math.nan))
        )
        quantiles = {q: fmt(name, float(r.get(q, math.nan))) for q in ("p10", "p50", "p90")}
        censored = analysis.censored_count(results, name) if info.censored else 0
        if censored:
            # a censored value is a lower bound: no mean, and quantiles it reaches read "> x"
            mean_text, ci = kpi.MISSING, f"censored in {censored} of {results.n}"
            quantiles = analysis.censored_quantiles(results, name)
        else:
            mean_text = fmt(name, float(r["mean"]))
            ci = kpi.format_ci(name, float(low), float(high), results.currency)
        rows.append(
            {
                "name": name,
                "description": info.description,
                "mean": mean_text,
                "ci": ci,
                **quantiles,
                "method": "bootstrap" if boot else "t",
            }
        )
    return rows


__all__ = ["CAUSES", "render"]
