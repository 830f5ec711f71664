"""The compare report's verdict, judgements and text, on synthetic designs with known answers.

`better` is paired-significantly better on fill rate and cost; `worse` is worse on both;
`noisy` differs by noise only. The verdict must say so, in the KPI's direction (cost: lower is
better), with the numbers of the differences table, and warn when replications are few or
intervals very wide; the terminal text formats each KPI through the registry.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from twin.experiments.compare import CompareResult
from twin.experiments.stats import paired_difference, summarise
from twin.report.compare import (
    COLOURS,
    comparison_text,
    forest_figure,
    judge,
    reliability_warnings,
    render_compare_report,
)


def synthetic(
    reps: int = 6, spread: float = 0.002, seed: int = 0, fill_sd: float = 0.03
) -> CompareResult:
    """Four designs on shared noise: base, better, worse and noisy (differs by noise only)."""
    rng = np.random.default_rng(seed)
    fill = 0.8 + rng.normal(0, fill_sd, reps)
    cost = 10_000 + rng.normal(0, 800, reps)
    frames = {
        "base": {"fill_rate": fill, "cost_total": cost},
        "better": {
            "fill_rate": fill + 0.03 + rng.normal(0, spread, reps),
            "cost_total": cost - 500,
        },
        "worse": {"fill_rate": fill - 0.04 + rng.normal(0, spread, reps), "cost_total": cost + 400},
        "noisy": {
            "fill_rate": fill + rng.normal(0, 0.02, reps),
            "cost_total": cost + rng.normal(0, 600, reps),
        },
    }
    tables = {
        name: pd.DataFrame(
            {
                "replication": range(reps),
                "seed": 7,
                **{
                    k: np.clip(v, 0, None) if k == "cost_total" else np.clip(v, 0, 1)
                    for k, v in kpis.items()
                },
            }
        )
        for name, kpis in frames.items()
    }
    kpis = pd.concat([t.assign(design=n) for n, t in tables.items()], ignore_index=True)
    summary = pd.concat({n: summarise(t) for n, t in tables.items()}, names=["design", "kpi"])
    rows = [
        {"design": n, "kpi": k, **paired_difference(tables["base"][k].to_numpy(), t[k].to_numpy())}
        for n, t in tables.items()
        if n != "base"
        for k in ("fill_rate", "cost_total")
    ]
    return CompareResult(
        designs=list(tables),
        kpis=kpis,
        summary=summary,
        differences=pd.DataFrame(rows).set_index(["design", "kpi"]),
        meta={"replications": reps, "seeds": dict.fromkeys(tables, 7), "paired": True},
    )


def test_judge_follows_each_kpis_direction() -> None:
    assert judge("fill_rate", 0.02, 0.01) == "better"
    assert judge("fill_rate", -0.02, 0.01) == "worse"
    assert judge("cost_total", -500.0, 0.01) == "better"  # lower cost is better
    assert judge("cost_total", 500.0, 0.01) == "worse"
    assert judge("cost_total", 500.0, 0.2) == "not significant"
    assert judge("utilisation_pick_pack", 0.1, 0.001) == "changed"  # no better direction
    assert judge("fill_rate", float("nan"), 0.01) == "not significant"


def verdict_of(html: str) -> str:
    return html[html.index('<section id="verdict">') : html.index("</section>")]


def test_the_verdict_comes_first_and_says_who_is_better() -> None:
    result = synthetic()
    html = render_compare_report(result)
    assert html.index('<section id="verdict">') < html.index("<h2>Designs</h2>")
    verdict = verdict_of(html)
    cells = re.findall(
        r'<td class="cell (\w+)"[^>]*><span class="diff"><span data-kpi="(\w+)" '
        r'data-stat="diff" data-value="[^"]+" data-design="(\w+)"',
        verdict,
    )
    judged = {(design, kpi): cls for cls, kpi, design in cells}
    assert judged == {
        ("better", "fill_rate"): "better", ("better", "cost_total"): "better",
        ("worse", "fill_rate"): "worse", ("worse", "cost_total"): "worse",
        ("noisy", "fill_rate"): "ns", ("noisy", "cost_total"): "ns",
    }  # fmt: skip
    assert "Only 6 replications per design" in verdict


def test_the_verdict_numbers_are_the_differences() -> None:
    result = synthetic()
    verdict = verdict_of(render_compare_report(result))
    found = re.findall(
        r'data-kpi="(\w+)" data-stat="(\w+)" data-value="([^"]+)" data-design="(\w+)"', verdict
    )
    assert len(found) >= 6 * 4  # diff, ci_low, ci_high, p_value of each design and KPI
    for kpi, stat, value, design in found:
        table = result.summary if stat == "mean" else result.differences
        expected = float(table.loc[(design, kpi), stat])
        assert float(value) == pytest.approx(expected, rel=1e-9, abs=1e-12), (kpi, stat, design)


def test_warnings_for_few_replications_and_wide_intervals() -> None:
    few = reliability_warnings(synthetic(reps=4, fill_sd=0.2), ["fill_rate", "cost_total"])
    assert any("Only 4 replications" in w for w in few)
    assert any(w.startswith("Very wide") and "fill_rate up to ± " in w for w in few)
    many = synthetic(reps=40, seed=1)
    assert not any(
        "replications per design" in w for w in reliability_warnings(many, ["cost_total"])
    )
    html = render_compare_report(many)
    assert "Only 40" not in html


def test_forest_plot_colours_by_judgement() -> None:
    fig = forest_figure(synthetic(), ["fill_rate", "cost_total"])
    for ax in fig.axes:
        colours = [line.get_color() for line in ax.lines if line.get_marker() == "o"]
        # rows bottom to top are drawn in design order: better, worse, noisy
        assert colours == [COLOURS["better"], COLOURS["worse"], COLOURS["not significant"]]


def test_terminal_text_formats_each_kpi_like_the_report() -> None:
    text = comparison_text(synthetic(), ["fill_rate", "cost_total"])
    assert re.search(r"fill_rate\s+base\s+\d+\.\d%\s+± \d+\.\d pp", text)
    assert re.search(r"cost_total\s+base\s+\d{1,3},\d{3}\s+± \d{1,3}(,\d{3})*", text)
    assert re.search(r"better\s+\+\d\.\d pp\s+± \d\.\d pp", text)  # a difference in pp
    assert "0.8" not in text.split("Differences")[0]  # no bare shares like 0.8334
    assert "better against base: better on fill_rate" in text
    assert "worse against base: worse on fill_rate" in text
    assert "noisy against base: no significant difference on fill_rate, cost_total" in text
