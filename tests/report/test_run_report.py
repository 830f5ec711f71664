"""The run report: verdict first, numbers that agree with summary.csv, every run counted, and a
results folder that re-renders without re-running and is never left half-written."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from twin.config.schema import Scenario
from twin.errors import ConfigError
from twin.experiments.runner import replicate, write_outputs
from twin.experiments.stats import bootstrap_interval, share_interval
from twin.experiments.trace import TraceAxes
from twin.report import analysis, run_report, timeaxis
from twin.report.analysis import Results
from twin.report.results_io import read_results

REPS = 4


def scenario_data() -> dict:
    with open("scenarios/tiny.yaml", encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    data["sites"]["fwd_north"]["initial_stock"] = 40  # short: the launch empties the shelf
    data["targets"] = {"fill_rate": {"min": 0.97}, "cost_total": {"max": 30_000, "chance": 0.5}}
    data["currency"] = "€"
    data["start"] = "2026-11-02T00:00:00+01:00"  # a Monday
    return data


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    result = replicate(Scenario.model_validate(scenario_data()), REPS)
    write_outputs(result, out)
    return out


@pytest.fixture(scope="module")
def html(folder: Path) -> str:
    return (folder / "report.html").read_text(encoding="utf-8")


def test_folder_holds_everything_the_report_needs(folder: Path) -> None:
    for name in ("kpis.csv", "summary.csv", "traces.npz", "results.json", "report.html"):
        assert (folder / name).is_file(), name
    results = read_results(folder)
    assert results.n == REPS and results.has_traces
    assert results.arrays["on_hand"].shape[0] == REPS  # every replication, not one
    assert results.currency == "€" and results.start is not None


def test_verdict_comes_first_and_names_missed_targets(html: str, folder: Path) -> None:
    verdict = html.index('id="verdict"')
    assert verdict < html.index("Worst runs") < html.index("Every KPI, across runs")
    kpis = pd.read_csv(folder / "kpis.csv")
    met = int((kpis["fill_rate"] >= 0.97).sum())
    assert f"{met} of {REPS} runs" in html
    if met / REPS < 0.9:
        assert "The plan misses" in html and "fill_rate ≥ 97.0%" in html


def test_verdict_numbers_equal_summary_csv(html: str, folder: Path) -> None:
    summary = pd.read_csv(folder / "summary.csv", index_col="kpi")
    found = re.findall(r'data-kpi="([^"]+)" data-stat="([^"]+)" data-value="([^"]+)"', html)
    assert len(found) >= 6 * 3 + 2  # P10/P50/P90 of the headline KPIs and both targets
    for name, stat, value in found:
        expected = float(summary.loc[name, stat])
        assert float(value) == pytest.approx(expected, rel=1e-9, abs=1e-12), (name, stat)


def test_target_probability_is_the_share_of_runs(folder: Path) -> None:
    summary = pd.read_csv(folder / "summary.csv", index_col="kpi")
    kpis = pd.read_csv(folder / "kpis.csv")
    share = float((kpis["cost_total"] <= 30_000).mean())
    assert summary.loc["cost_total", "p_target"] == pytest.approx(share)
    low, high = share_interval(round(share * REPS), REPS)
    assert summary.loc["cost_total", "p_target_low"] == pytest.approx(low)
    assert summary.loc["cost_total", "p_target_high"] == pytest.approx(high)
    assert math.isnan(summary.loc["otd", "p_target"])  # no target on otd


def test_summary_has_quantiles_and_named_intervals(folder: Path) -> None:
    summary = pd.read_csv(folder / "summary.csv", index_col="kpi")
    kpis = pd.read_csv(folder / "kpis.csv")
    row = summary.loc["lost_sales"]
    assert row["p10"] <= row["p50"] <= row["p90"]
    assert row["p50"] == pytest.approx(np.percentile(kpis["lost_sales"], 50))
    assert row["ci_method"] == "bootstrap"  # lopsided: the registry says so
    assert summary.loc["orders", "ci_method"] == "t"
    assert kpis["lost_sales"].min() <= row["boot_low"] <= row["boot_high"] <= kpis["lost_sales"].max()


def test_few_runs_are_warned_about(html: str) -> None:
    assert f"Only {REPS} runs" in html


def test_money_carries_the_currency_and_time_axes_dates(html: str) -> None:
    assert "€" in html
    assert "from Mon 02 Nov 2026 00:00" in html


def test_every_figure_is_embedded_with_alt_text(html: str) -> None:
    images = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="([^"]+)">', html)
    assert len(images) >= 7 and all(images)
    assert "http://" not in html and "https://" not in html


def test_twin_report_rerenders_without_running(folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("kpis.csv", "summary.csv", "traces.npz", "results.json"):
        (copy / name).write_bytes((folder / name).read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "twin.cli", "report", str(copy)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (copy / "report.html").read_bytes() == (folder / "report.html").read_bytes()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "missing kpis.csv, summary.csv, results.json"),
        ({"results.json": b"[1, 2]"}, "results.json: not written by `twin run`"),
        ({"results.json": b"{not json"}, "results.json: cannot read it"),
    ],
)
def test_twin_report_refuses_a_folder_it_cannot_read(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    for name in ("kpis.csv", "summary.csv"):
        if files:
            (tmp_path / name).write_text("kpi\n")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "twin.cli", "report", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_failing_render_leaves_the_previous_results_whole(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = replicate(Scenario.model_validate(scenario_data() | {"seed": 99}), 2)

    def broken(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("figure failed")

    monkeypatch.setattr(run_report, "render", broken)
    with pytest.raises(RuntimeError):
        write_outputs(result, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def _results(on_hand: np.ndarray, backlog: np.ndarray, short: np.ndarray) -> Results:
    """Synthetic results: N runs, T samples, 1 site, 1 SKU, one pulse at t=10."""
    n, t = on_hand.shape
    axes = TraceAxes(("fwd",), ("forward",), ("mask",), ("east",), (), (), ("live",), (10.0,),
                     (12.0,), float(t))
    arrays = {
        "grid": np.tile(np.arange(t, dtype=np.float32), (n, 1)),
        "on_hand": on_hand.reshape(n, t, 1, 1).astype(np.float32),
        "backlog": backlog.reshape(n, t, 1, 1).astype(np.float32),
        "pulse_short": short.reshape(n, 1, 1, 1).astype(np.float32),
    }
    kpis = pd.DataFrame({"replication": range(n)})
    return Results("synthetic", kpis, pd.DataFrame(), arrays, axes, {}, {})


def test_drivers_count_the_runs_that_ran_out() -> None:
    runs, t = 4, 30
    on_hand = np.full((runs, t), 50.0)
    backlog = np.zeros((runs, t))
    for r in range(3):  # three runs run out 2 h into the pulse
        on_hand[r, 12:] = 0
        backlog[r, 12:] = 100 * (r + 1)
    short = np.array([1000.0, 2000.0, 3000.0, 0.0])
    (d,) = analysis.drivers(_results(on_hand, backlog, short))
    assert (d.sku, d.site, d.pulse, d.runs_out, d.n) == ("mask", "fwd", "live", 3, 4)
    assert d.hours_into_p50 == 2.0 and d.short_p50 == 2000.0
    assert analysis.driver_sentence(d) == (
        "mask at fwd runs out 2 h into live in 3 of 4 runs; P50 2.0k units lost or late"
    )


def test_a_censored_median_reads_as_a_lower_bound() -> None:
    values = [5.0, 6.0, 20.0, 20.0, 20.0]
    flags = [0.0, 0.0, 1.0, 1.0, 1.0]
    res = Results("x", pd.DataFrame({"recovery_h:live": values, "recovery_censored:live": flags}),
                  pd.DataFrame(), {}, None, {}, {})
    assert analysis.censored_count(res, "recovery_h:live") == 3
    assert analysis.recovery_text(res, "recovery_h:live") == "> 20.0 h (censored in 3 of 5)"
    q = analysis.censored_quantiles(res, "recovery_h:live")
    assert q["p10"] == "5.4 h" and q["p50"] == "> 20.0 h" and q["p90"] == "> 20.0 h"


def test_bootstrap_interval_is_deterministic_and_follows_skew() -> None:
    values = np.array([0.0] * 6 + [10.0, 50.0, 400.0, 4000.0])
    first, second = bootstrap_interval(values), bootstrap_interval(values)
    assert first == second  # same bits every time
    low, high = first
    assert 0.0 <= low < values.mean() < high <= values.max()
    assert high - values.mean() > values.mean() - low  # stretched toward the long tail


def test_time_labels_follow_the_calendar_start() -> None:
    start = datetime(2026, 11, 2, tzinfo=timezone(timedelta(hours=8)))
    assert timeaxis.label(9 * 24 + 20, start) == "Nov 11 20:00"
    assert timeaxis.label(9 * 24 + 20, None) == "d9 20:00"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targets": {"fill_rat": {"min": 0.9}}}, "did you mean 'fill_rate'"),
        ({"targets": {"otd": {"min": 0.9, "max": 1.0}}}, "targets.otd"),
        ({"targets": {"otd": {"min": 0.9, "chance": 1.5}}}, "targets.otd.chance"),
        ({"start": "2026-11-02T00:00:00"}, "start"),
        ({"start": "2026-11-02T08:00:00+08:00"}, "must be at 00:00"),
    ],
)
def test_report_settings_are_checked_on_load(
    tmp_path: Path, change: dict, message: str
) -> None:
    from twin.config.loader import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario_data() | change, allow_unicode=True))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_scenario(path)
