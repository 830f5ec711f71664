"""The sweep report's figures and verdict, read back from the figures and the HTML.

Colour scales of rates stay within [0, 1] with distinct tick labels (read from the matplotlib
colour bar), Pareto labels never overlap (their bounding boxes, measured after drawing), the
not-significantly-dominated points are marked, and the verdict opens the page with the paired
differences the sweep computed.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from twin.experiments.stats import summarise
from twin.experiments.sweep import SweepResult, mean_table, pareto_table, with_paired_front
from twin.report.compare import COLOURS
from twin.report.sweep import (
    KpiFormatter,
    colour_norm,
    difference_figure,
    heatmap_figure,
    pareto_figure,
    render_sweep_report,
)


def synthetic(
    values: dict[str, dict[str, np.ndarray]], base_point: str | None = None
) -> SweepResult:
    """A two-path sweep (a × b, as square as the point count allows) from per-replication values."""
    names = list(values)
    width = int(np.ceil(np.sqrt(len(names))))
    a = [i // width for i in range(len(names))]
    b = [i % width for i in range(len(names))]
    points = pd.DataFrame({"point": names, "a": a, "b": b})
    kpi_parts, summary_parts = [], []
    for i, (name, kpis) in enumerate(values.items()):
        n = len(next(iter(kpis.values())))
        frame = pd.DataFrame({"replication": range(n), "seed": 7, **kpis})
        summary = summarise(frame).reset_index()
        for part in (frame, summary):
            part.insert(0, "b", b[i])
            part.insert(0, "a", a[i])
            part.insert(0, "point", name)
        kpi_parts.append(frame)
        summary_parts.append(summary)
    kpis_frame = pd.concat(kpi_parts, ignore_index=True)
    summary = pd.concat(summary_parts, ignore_index=True)
    table = pareto_table(mean_table(points, summary), ["a", "b"], "cost_total", "fill_rate")
    return SweepResult(
        scenario="synthetic",
        grid={"a": sorted(set(a)), "b": sorted(set(b))},
        points=points,
        kpis=kpis_frame,
        summary=summary,
        pareto=with_paired_front(table, kpis_frame, "cost_total", "fill_rate"),
        meta={"replications": n, "seed": 7, "paired": True, "base_point": base_point},
    )


def constant_fill(n_points: int = 4, reps: int = 6) -> SweepResult:
    """Every point fills 100 %; OTD between 99.90 % and 100 %; costs apart."""
    rng = np.random.default_rng(0)
    otd = [0.9990, 0.9995, 1.0, 1.0]
    return synthetic(
        {
            f"p{i:03d}": {
                "fill_rate": np.ones(reps),
                "otd": np.clip(otd[i % 4] + rng.normal(0, 1e-5, reps), 0, 1),
                "cost_total": 1000.0 + 100 * i + rng.normal(0, 5, reps),
            }
            for i in range(n_points)
        },
        base_point="p001",
    )


def tick_labels(fig: Figure, ax_index: int, axis: str = "y") -> list[str]:
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[ax_index]
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in ticks if t.get_text()]


def percent(label: str) -> float:
    return float(label.replace("%", "").replace(",", ""))


def test_a_constant_rate_keeps_its_colour_scale_within_0_and_1() -> None:
    fig = heatmap_figure(constant_fill(), "fill_rate")
    norm = fig.axes[0].images[0].norm
    assert 0.0 <= norm.vmin < norm.vmax <= 1.0  # matplotlib alone would make it 90 %–110 %
    labels = tick_labels(fig, -1)  # the colour bar
    assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
    assert all(0.0 <= percent(x) <= 100.0 for x in labels), labels


def test_a_narrow_rate_scale_has_distinct_tick_labels() -> None:
    fig = heatmap_figure(constant_fill(), "otd")
    labels = tick_labels(fig, -1)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels  # was 99.9%, 99.9%, ...
    norm = fig.axes[0].images[0].norm
    assert 0.999 <= norm.vmin < norm.vmax <= 1.0


def test_colour_norm_and_formatter_on_their_own() -> None:
    assert (colour_norm("fill_rate", np.array([1.0, 1.0])).vmin, 1.0) == (0.98, 1.0)
    assert colour_norm("fill_rate", np.array([0.0, 0.0])).vmin == 0.0
    low = colour_norm("fill_rate", np.array([0.2, 0.7]))
    assert (low.vmin, low.vmax) == (0.2, 0.7)
    fmt = KpiFormatter("otd")
    fmt.set_locs([0.9990, 0.9992, 0.9994, 0.9996, 0.9998, 1.0])
    labels = [fmt(v) for v in (0.9990, 0.9992, 0.9994, 0.9996, 0.9998, 1.0)]
    assert labels == ["99.90%", "99.92%", "99.94%", "99.96%", "99.98%", "100.00%"]
    money = KpiFormatter("cost_total", signed=True)
    money.set_locs([-2000.0, 0.0, 2000.0])
    assert [money(v) for v in (-2000.0, 0.0, 2000.0)] == ["-2,000", "+0", "+2,000"]
    pp = KpiFormatter("fill_rate", signed=True)
    pp.set_locs([-0.01, 0.0, 0.01])
    assert pp(0.01) == "+1 pp"


def label_boxes(fig: Figure) -> list[tuple[str, object]]:
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    return [(t.get_text(), Text.get_window_extent(t, renderer)) for t in ax.texts]  # no leader


def crowded(n: int = 30) -> SweepResult:
    """n points in a tight cluster, several on top of each other."""
    rng = np.random.default_rng(5)
    values = {}
    for i in range(n):
        cost = 1000 + (i % 6) * 2.0 + (5 if i > 20 else 0)
        fill = 0.90 + (i // 6) * 0.001
        values[f"p{i:03d}"] = {
            "cost_total": cost + rng.normal(0, 0.1, 4),
            "fill_rate": np.clip(fill + rng.normal(0, 1e-4, 4), 0, 1),
        }
    values["p028"] = dict(values["p027"])  # exactly the same place
    return synthetic(values)


def test_pareto_labels_never_overlap_even_when_crowded() -> None:
    result = crowded()
    fig = pareto_figure(result)
    boxes = label_boxes(fig)
    names = [name for name, _ in boxes]
    unlabelled = fig.twin_unlabelled
    assert len(names) == len(set(names)) and set(names) | set(unlabelled) == set(
        result.points["point"]
    )
    assert len(names) >= 25  # the search found room for nearly all, leader lines included
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"labels {a} and {b} overlap"
    frame = fig.axes[0].get_window_extent()
    for name, box in boxes:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, f"{name} leaves the axes"
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, f"{name} leaves the axes"


def test_spread_points_are_all_labelled_and_fronts_marked() -> None:
    result = constant_fill(6)
    fig = pareto_figure(result)
    assert fig.twin_unlabelled == []
    assert sorted(name for name, _ in label_boxes(fig)) == sorted(result.points["point"])
    ax = fig.axes[0]
    rings = [c for c in ax.collections if c.get_label().startswith("not significantly")]
    assert len(rings) == 1 and len(rings[0].get_offsets()) == len(result.paired_front)
    yticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert max(yticks) <= 1.0  # no tick reads above 100 %


def test_difference_figure_colours_by_direction() -> None:
    result = constant_fill(4)  # reference p001: p000 is cheaper (better), p002/p003 dearer
    fig = difference_figure(result, ["cost_total", "fill_rate"])
    colours = [line.get_color() for line in fig.axes[0].lines if line.get_marker() == "o"]
    assert colours == [COLOURS["better"], COLOURS["worse"], COLOURS["worse"]]
    greys = [line.get_color() for line in fig.axes[1].lines if line.get_marker() == "o"]
    assert set(greys) == {COLOURS["not significant"]}  # fill is 100 % everywhere


def test_the_verdict_opens_the_report_with_the_paired_numbers() -> None:
    result = constant_fill(4)
    html = render_sweep_report(result, ["fill_rate", "cost_total"])
    assert html.index('<section id="verdict">') < html.index("<h2>Grid</h2>")
    verdict = html[html.index('<section id="verdict">') : html.index("</section>")]
    assert "Only 6 replications per point" in verdict  # fewer than 10: the warning box
    assert "p001 (a=0, b=1), the scenario&#x27;s own values" in verdict
    diffs = result.differences(["cost_total"])
    for point in ("p000", "p002", "p003"):
        expected = diffs.loc[(point, "cost_total"), "diff"]
        found = re.search(
            rf'data-kpi="cost_total" data-stat="diff" data-value="([^"]+)" data-point="{point}"',
            verdict,
        )
        assert found and float(found.group(1)) == float(f"{expected:.10g}")
    assert re.search(
        r'class="cell better"[^>]*><span class="diff"><span data-kpi="cost_total"', verdict
    )
    assert 'data-point="p001"' in verdict  # the reference's means


def test_no_warning_with_enough_narrow_replications() -> None:
    rng = np.random.default_rng(2)
    values = {
        f"p{i:03d}": {
            "fill_rate": np.clip(0.9 + 0.01 * i + rng.normal(0, 0.001, 12), 0, 1),
            "cost_total": 1000.0 + 10 * i + rng.normal(0, 1, 12),
        }
        for i in range(4)
    }
    html = render_sweep_report(synthetic(values), ["fill_rate", "cost_total"])
    verdict = html[html.index('<section id="verdict">') : html.index("</section>")]
    assert 'class="warning"' not in verdict
    assert "the first point: the scenario&#x27;s own values are not on the grid" in verdict
