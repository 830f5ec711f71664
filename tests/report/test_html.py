from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import twin.report.figures as figures
import twin.report.html as report_html
from twin.experiments.results import Detail, RunResult
from twin.report import write_report

T_975_DF2 = 4.302652729911275  # Student t quantile, 97.5 %, 2 degrees of freedom

KPI_VALUES = {
    "fill_rate": [0.95, 0.91, 0.97],
    "otd": [0.88, 0.85, 0.90],
    "lead_time_p95": [30.2, 34.8, 28.9],
    "lost_sales": [120.0, 310.0, 95.0],
    "cost_total": [125_000.0, 131_500.0, 119_250.0],
    "mystery_metric": [1.0, 2.0, 3.0],
}

IMG_SRC = re.compile(r'<img[^>]*\ssrc="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def summarise(kpis: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for kpi in KPI_VALUES:
        values = kpis[kpi].to_numpy(dtype=float)
        mean, std, n = values.mean(), values.std(ddof=1), len(values)
        half = T_975_DF2 * std / np.sqrt(n)
        rows[kpi] = {
            "mean": mean,
            "std": std,
            "n": n,
            "half_width": half,
            "ci_low": mean - half,
            "ci_high": mean + half,
        }
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "kpi"
    return summary


COST_TABLE = pd.DataFrame(
    {
        "part": ["procurement", "procurement", "holding", "holding", "transport_last_mile"],
        "site": ["sup_a", "sup_a", "central", "fwd_north", "fwd_north"],
        "day": [0, 3, 1, 1, 4],
        "amount": [1_000.0, 2_500.0, 300.0, 200.4, 4_000.0],
    }
)

DISRUPTIONS = pd.DataFrame(
    {
        "kind": ["carrier_capacity_cut", "supplier_outage", "warehouse_closure"],
        "target": ["central->fwd_north", "sup_a", "fwd_north"],
        "start": [60.0, 36.0, 62.0],
        "end": [96.0, 84.0, 67.5],
        "severity": [0.6, 1.0, 1.0],
    }
)


def make_detail(
    n_events: int = 2, with_costs_by_site: bool = True, with_disruptions: bool = True
) -> Detail:
    hours = np.arange(0.0, 24.0 * 6, 1.0)
    stock = pd.concat(
        [
            pd.DataFrame(
                {"time": hours, "warehouse": "central", "units": np.maximum(0.0, 5000 - 20 * hours)}
            ),
            pd.DataFrame(
                {"time": hours, "warehouse": "fwd_north", "units": 800 + 100 * np.sin(hours / 10)}
            ),
        ],
        ignore_index=True,
    )
    events = pd.DataFrame(
        {
            "name": ["double11", "flash"][:n_events],
            "start": [48.0, 100.0][:n_events],
            "duration": [3.0, 1.5][:n_events],
            "decay": [1.0, 0.5][:n_events],
            "uplift": [42.5, 12.0][:n_events],
        }
    )
    bins = np.arange(0.0, 24.0 * 6, 0.25)
    demand = pd.concat(
        [
            pd.DataFrame({"time": bins, "channel": "baseline", "orders": 2}),
            pd.DataFrame(
                {"time": bins[(bins >= 48) & (bins < 52)], "channel": "double11", "orders": 60}
            ),
        ],
        ignore_index=True,
    )
    backlog = pd.DataFrame(
        {"time": [0.0, 48.5, 50.0, 60.0, 75.0], "units": [0.0, 150.0, 400.0, 120.0, 0.0]}
    )
    costs = {
        "cost_procurement": 60_000.0,
        "cost_holding": 8_000.0,
        "cost_transport_last_mile": 40_000.0,
        "cost_returns": 17_250.0,
    }
    return Detail(
        stock=stock,
        backlog=backlog,
        demand=demand,
        costs=costs,
        events=events,
        cost_table=COST_TABLE.copy() if with_costs_by_site else pd.DataFrame(),
        disruptions=DISRUPTIONS.copy() if with_disruptions else pd.DataFrame(),
    )


def make_result(detail: Detail | None = None, scenario: str = "tiny") -> RunResult:
    kpis = pd.DataFrame({"replication": [0, 1, 2], "seed": [11, 12, 13], **KPI_VALUES})
    return RunResult(
        scenario=scenario,
        kpis=kpis,
        summary=summarise(kpis),
        detail=detail,
        meta={"horizon_h": 144},
    )


def images(text: str) -> list[bytes]:
    return [base64.b64decode(b64) for b64 in IMG_SRC.findall(text)]


def test_report_is_self_contained_with_kpis_and_ci(tmp_path: Path) -> None:
    out = write_report(make_result(make_detail()), tmp_path / "nested" / "dir" / "report.html")

    assert out == tmp_path / "nested" / "dir" / "report.html"
    assert out.is_file()
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    assert "http://" not in text and "https://" not in text
    assert "<link" not in text and "<script" not in text
    for kpi in KPI_VALUES:
        assert f"<code>{kpi}</code>" in text
    # fill_rate: mean 0.943333, std 0.030551, half width 4.302653 * 0.030551 / sqrt(3) = 0.075893
    assert "[86.7%, 101.9%]" in text
    assert "94.3%" in text
    # cost_total keeps thousands separators
    assert "125,250" in text
    assert "3 replications · seeds 11–13 · horizon_h: 144" in text
    assert out.stat().st_size < 2_000_000


def test_one_image_per_figure_when_detail_present(tmp_path: Path) -> None:
    for n_events in (1, 2):
        for with_costs_by_site in (False, True):
            detail = make_detail(n_events, with_costs_by_site=with_costs_by_site)
            text = write_report(make_result(detail), tmp_path / "r.html").read_text()
            pngs = images(text)
            # stock + one per livestream + cost breakdown + costs by day (when there is a table)
            assert len(pngs) == 1 + n_events + 1 + int(with_costs_by_site)
            assert text.count("data:image/png;base64,") == len(pngs)
            assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    assert "<h2>Stock over time</h2>" in text
    assert "<h2>Around double11</h2>" in text and "<h2>Around flash</h2>" in text
    assert "drawn uplift M = 42.5×" in text
    assert "<h2>Cost breakdown</h2>" in text
    # share of cost_procurement: 60000 / 125250
    assert "47.9%" in text


def test_sections_in_planner_order(tmp_path: Path) -> None:
    text = write_report(make_result(make_detail()), tmp_path / "r.html").read_text()
    marks = [
        "<h1>",
        "Key performance indicators",
        "Stock over time",
        "<h2>Disruptions</h2>",
        "Around double11",
        "Around flash",
        "Cost breakdown",
        "Costs by day",
        "Cost by site",
    ]
    positions = [text.index(mark) for mark in marks]
    assert positions == sorted(positions)


def test_without_detail_only_the_table(tmp_path: Path) -> None:
    text = write_report(make_result(None), tmp_path / "r.html").read_text()
    assert "data:image" not in text
    assert "<img" not in text
    assert '<table class="kpis">' in text
    assert "Stock over time" not in text and "Cost breakdown" not in text


def test_text_is_escaped(tmp_path: Path) -> None:
    detail = make_detail()
    detail.cost_table.loc[0, "site"] = "<b>sup & co</b>"
    detail.cost_table.loc[2, "part"] = "<i>holding</i>"
    detail.disruptions.loc[1, "kind"] = "<script>outage</script>"
    result = make_result(detail, scenario="<script>alert(1)</script> & co")
    text = write_report(result, tmp_path / "r.html").read_text()
    assert "<script>" not in text and "<b>" not in text and "<i>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    assert "&lt;b&gt;sup &amp; co&lt;/b&gt;" in text
    assert "&lt;script&gt;outage&lt;/script&gt;" in text
    assert "central-&gt;fwd_north" in text
    assert "&lt;i&gt;holding&lt;/i&gt;" in text


def table(text: str, css_class: str) -> str:
    start = text.index(f'<table class="{css_class}">')
    return text[start : text.index("</table>", start)]


def cells(row_html: str) -> list[str]:
    found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row_html)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in found]


def test_cost_by_site_table_has_totals_and_money(tmp_path: Path) -> None:
    text = write_report(make_result(make_detail()), tmp_path / "r.html").read_text()
    assert "<h2>Costs by day</h2>" in text and "<h2>Cost by site</h2>" in text
    rows = [cells(r) for r in re.findall(r"<tr>.*?</tr>", table(text, "by-site"))]
    # parts (columns) and sites (rows) both by total, largest first; "–" where a site had none
    assert rows[0] == ["site", "transport_last_mile", "procurement", "holding", "total"]
    assert rows[1:] == [
        ["fwd_north", "4,000", "–", "200", "4,200"],
        ["sup_a", "–", "3,500", "–", "3,500"],
        ["central", "–", "–", "300", "300"],
        ["total", "4,000", "3,500", "500", "8,000"],
    ]


def test_disruption_table_in_days_and_hours(tmp_path: Path) -> None:
    text = write_report(make_result(make_detail()), tmp_path / "r.html").read_text()
    rows = [cells(r) for r in re.findall(r"<tr>.*?</tr>", table(text, "disruptions"))]
    assert rows == [
        ["kind", "target", "start (day)", "duration (h)", "severity"],
        ["supplier_outage", "sup_a", "1.5", "48.0", "1.00"],
        ["carrier_capacity_cut", "central->fwd_north", "2.5", "36.0", "0.60"],
        ["warehouse_closure", "fwd_north", "2.6", "5.5", "1.00"],
    ]
    assert "disruptions (red, hatched)" in text


def test_cost_and_disruption_sections_skipped_when_empty(tmp_path: Path) -> None:
    detail = make_detail(with_costs_by_site=False, with_disruptions=False)
    text = write_report(make_result(detail), tmp_path / "r.html").read_text()
    assert "Costs by day" not in text and "Cost by site" not in text
    assert "<h2>Disruptions</h2>" not in text
    assert 'class="by-site"' not in text and 'class="disruptions"' not in text
    assert "shaded bands are livestreams." in text
    assert "<h2>Cost breakdown</h2>" in text


def test_stock_figure_shades_merged_disruption_windows() -> None:
    fig = figures.stock_figure(make_detail())
    ax = fig.axes[0]
    labels = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert "disruption" in labels and "livestream" in labels
    # 36–96 h overlap into one window; plus one per livestream
    assert len(ax.patches) == 1 + 2
    assert figures.disruption_windows(DISRUPTIONS) == [(36.0, 96.0)]
    assert figures.disruption_windows(pd.DataFrame()) == []


def test_disruption_windows_keep_gaps() -> None:
    frame = pd.DataFrame({"start": [10.0, 0.0, 4.0], "end": [12.0, 5.0, 6.0]})
    assert figures.disruption_windows(frame) == [(0.0, 6.0), (10.0, 12.0)]


def test_cost_by_day_fills_missing_days_and_orders_parts() -> None:
    wide = figures.cost_by_day(COST_TABLE)
    assert wide.index.tolist() == [0, 1, 2, 3, 4]
    assert wide.columns.tolist() == ["transport_last_mile", "procurement", "holding"]
    assert wide.loc[1, "holding"] == pytest.approx(500.4)
    assert wide.loc[2].sum() == 0.0
    assert figures.cost_by_day(pd.DataFrame()).empty
    empty = figures.cost_by_day_figure(pd.DataFrame())
    assert "no cost recorded" in [t.get_text() for t in empty.axes[0].texts]


def test_title_overrides_scenario(tmp_path: Path) -> None:
    text = write_report(make_result(), tmp_path / "r.html", title="Pre-sale plan B").read_text()
    assert "<h1>Pre-sale plan B</h1>" in text
    assert "<title>Pre-sale plan B</title>" in text


def test_overwrite_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    path.write_text("x" * 5_000_000)
    write_report(make_result(None), path)
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "x" * 100 not in text
    assert text.rstrip().endswith("</html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_failing_figure_leaves_old_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_report(make_result(make_detail()), tmp_path / "r.html")
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("figure failed")

    monkeypatch.setattr(figures, "event_figure", boom)
    with pytest.raises(RuntimeError, match="figure failed"):
        write_report(make_result(make_detail(), scenario="other"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_failing_replace_leaves_old_report_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_report(make_result(None), tmp_path / "r.html")
    before = path.read_bytes()

    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(report_html.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_report(make_result(None, scenario="other"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


@pytest.mark.parametrize(
    ("kpi", "value", "expected"),
    [
        ("fill_rate", 0.9567, "95.7%"),
        ("utilisation_pick_pack", 0.5, "50.0%"),
        ("cost_holding", 1234567.4, "1,234,567"),
        ("profit", -25_000.0, "-25,000"),
        ("lead_time_p50", 12.345, "12.3 h"),
        ("lost_sales", 12_345.0, "12,345"),
        ("lost_sales", 3.25, "3.2"),
        ("orders", float("nan"), "–"),
        ("otd_disrupted", 0.6482, "64.8%"),
        ("otd_normal", 0.912, "91.2%"),
        ("fill_rate_disrupted", 0.66764, "66.8%"),
        ("fill_rate_normal", 0.93, "93.0%"),
        ("recovery_h:double11_main/replay", 27.26, "27.3 h"),
        ("cost_procurement", 185_529.55, "185,530"),
        ("cost_supplier_reserved", 2_240.0, "2,240"),
    ],
)
def test_format_value(kpi: str, value: float, expected: str) -> None:
    assert report_html.format_value(kpi, value) == expected


def test_unknown_kpi_has_no_description_known_has_one() -> None:
    assert report_html.describe_kpi("mystery_metric") == ""
    for kpi in [
        "fill_rate",
        "immediate_fill_rate",
        "otd",
        "lead_time_p50",
        "lead_time_p95",
        "lost_sales",
        "backlog_peak",
        "recovery_h",
        "cost_total",
        "revenue",
        "profit",
        "leftover_units",
        "utilisation_pick_pack",
        "utilisation_factory",
        "return_rate",
        "restocked_units",
        "orders",
        "units_demanded",
        "cost_procurement",
        "cost_supplier_reserved",
        "otd_disrupted",
        "otd_normal",
        "fill_rate_disrupted",
        "fill_rate_normal",
        "recovery_h:flash_sale",
    ]:
        assert report_html.describe_kpi(kpi), kpi


def test_new_kpi_descriptions() -> None:
    describe = report_html.describe_kpi
    assert describe("cost_procurement") == (
        "Cost: components bought from suppliers (contract price, surcharge above contract)"
    )
    assert describe("cost_supplier_reserved") == (
        "Cost: supplier capacity reserved (fee per unit-day, used or not)"
    )
    assert "any disruption" in describe("otd_disrupted")
    assert describe("otd_disrupted") != describe("otd_normal")
    assert describe("fill_rate_disrupted") != describe("fill_rate_normal")
    assert describe("recovery_h:double11_main/replay") == (
        "Hours from double11_main/replay's start until backlog is back to its pre-pulse level "
        "(censored at the next pulse or the horizon)"
    )
    assert describe("recovery_h:") == ""


def test_pulse_recovery_kpi_in_table_is_escaped_and_in_hours() -> None:
    summary = pd.DataFrame(
        {"mean": [12.5], "std": [1.0], "n": [2], "ci_low": [3.0], "ci_high": [22.0]},
        index=pd.Index(["recovery_h:<live>"], name="kpi"),
    )
    rendered = report_html.kpi_table(summary)
    assert "<live>" not in rendered
    assert "<code>recovery_h:&lt;live&gt;</code>" in rendered
    assert "Hours from &lt;live&gt;&#x27;s start" in rendered
    assert "12.5 h" in rendered and "[3.0 h, 22.0 h]" in rendered


def test_backlog_window_holds_value_at_window_start() -> None:
    backlog = pd.DataFrame({"time": [0.0, 10.0, 20.0, 50.0], "units": [0.0, 5.0, 7.0, 1.0]})
    xs, ys = figures._backlog_in_window(backlog, 12.0, 30.0)
    assert xs.tolist() == [12.0, 20.0, 30.0]
    assert ys.tolist() == [5.0, 7.0, 7.0]
