"""The `twin` command end to end, as a user runs it (`python -m twin ...` in a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from twin.cli import app

REPO = Path(__file__).resolve().parents[1]

SUMMARY_COLUMNS = ["mean", "std", "n", "half_width", "ci_low", "ci_high"]


def twin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_validate_tiny_exits_zero() -> None:
    proc = twin("validate", "scenarios/tiny.yaml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    (line,) = proc.stdout.splitlines()
    assert line.startswith("scenarios/tiny.yaml: ok (")
    for part in ("2 SKUs", "7 sites", "8 lanes", "horizon 96 h"):
        assert part in line


@pytest.fixture(scope="module")
def run_out(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("run") / "out"
    proc = twin("run", "scenarios/tiny.yaml", "--reps", "3", "--workers", "1", "--out", str(out))
    return proc, out


def test_run_exits_zero_and_prints_the_summary(
    run_out: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, out = run_out
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == ["kpi", "mean"]
    fill = next(line for line in lines if line.startswith("fill_rate "))
    assert fill.split()[-1] == "3"  # n replications
    assert str(out / "report.html") in proc.stdout and "kpis.csv" in proc.stdout


def test_run_writes_kpis_csv(run_out: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = run_out
    kpis = pd.read_csv(out / "kpis.csv")
    assert len(kpis) == 3
    assert list(kpis.columns[:2]) == ["replication", "seed"]
    for column in (
        "fill_rate",
        "otd",
        "lead_time_p95",
        "lost_sales",
        "cost_total",
        "revenue",
        "profit",
        "backlog_peak",
        "leftover_units",
    ):
        assert column in kpis.columns, column
    assert kpis["replication"].tolist() == [0, 1, 2]
    assert (kpis["seed"] == 7).all()  # tiny.yaml's seed
    assert kpis["fill_rate"].between(0, 1).all()
    assert kpis["orders"].nunique() == 3  # replications differ


def test_run_writes_summary_csv(run_out: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = run_out
    kpis = pd.read_csv(out / "kpis.csv")
    summary = pd.read_csv(out / "summary.csv", index_col="kpi")
    assert list(summary.columns[:6]) == SUMMARY_COLUMNS  # quantiles, bootstrap, targets follow
    assert set(summary.index) == set(kpis.columns) - {"replication", "seed"}
    assert summary.loc["orders", "mean"] == pytest.approx(kpis["orders"].mean())
    assert summary.loc["orders", "n"] == 3


def test_run_writes_report_html(run_out: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = run_out
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<html" in html.lower()
    assert "fill_rate" in html or "fill rate" in html.lower()
    assert len(html) > 1000


@pytest.mark.parametrize(("option", "value"), [("--reps", "0"), ("--workers", "0")])
def test_run_rejects_non_positive_counts(option: str, value: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = twin("run", "scenarios/tiny.yaml", option, value, "--out", str(out))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"error: {option} (={value}) must be >= 1"
    assert not out.exists()


def test_run_bad_file_exits_two(tmp_path: Path) -> None:
    proc = twin("run", str(tmp_path / "missing.yaml"), "--reps", "1")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"error: {tmp_path / 'missing.yaml'}: file not found"


@pytest.mark.parametrize(
    "command",
    [
        ["run", "scenarios/tiny.yaml", "--reps", "2"],
        ["sweep", "scenarios/tiny.yaml", "--grid", "policies.forward_replenishment.target=9,10"],
    ],
)
def test_an_out_that_is_a_file_is_refused_before_running(tmp_path, command) -> None:
    target = tmp_path / "taken"
    target.write_text("keep me")
    result = CliRunner().invoke(app, [*command, "--out", str(target)])
    assert result.exit_code == 2 and "exists and is not a folder" in result.output
    assert target.read_text() == "keep me"
