"""What `twin` shows in a terminal and in a CI log: KPI formats, --version, --json, progress lines."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from twin import kpi
from twin.cli import format_summary
from twin.experiments import runner
from twin.experiments.runner import progress_bar

REPO = Path(__file__).resolve().parents[1]
PROGRESS = re.compile(r"^tiny: replications (\d+)/(\d+) done \((\d+) s\)$")


def twin(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m twin ...` with stdout and stderr as pipes (never a TTY), as in CI."""
    return subprocess.run(
        [sys.executable, "-m", "twin", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def summary_of(rows: dict[str, tuple[float, float, float, float, int]]) -> pd.DataFrame:
    """A summary frame as `summarise` makes it: mean, half_width, ci_low, ci_high, n per KPI."""
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["mean", "half_width", "ci_low", "ci_high", "n"]
    )
    frame.index.name = "kpi"
    return frame


def test_the_table_formats_each_kpi_by_its_unit() -> None:
    table = format_summary(
        summary_of(
            {
                "fill_rate": (0.8334, 0.09774, 0.7357, 0.9311, 20),
                "lead_time_p95": (27.68, 6.416, 21.26, 34.10, 20),
                "cost_total": (3485581.0, 150000.0, 3335581.0, 3635581.0, 20),
                "lead_time_p50": (math.nan, math.nan, math.nan, math.nan, 0),
            }
        )
    )
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["kpi", "mean"]
    rows = {line.split()[0]: " ".join(line.split()) for line in lines[1:]}
    assert rows["fill_rate"] == "fill_rate 83.3% ± 9.8 pp [73.6%, 93.1%] 20"
    assert rows["lead_time_p95"] == "lead_time_p95 27.7 h ± 6.4 h [21.3 h, 34.1 h] 20"
    assert rows["cost_total"] == "cost_total 3,485,581 ± 150,000 [3,335,581, 3,635,581] 20"
    assert rows["lead_time_p50"] == "lead_time_p50 – – – 0"  # NaN stays `–`
    assert "0.8334" not in table and "0.09774" not in table  # no raw shares left


def test_the_table_stays_aligned_and_uses_the_registry() -> None:
    summary = summary_of(
        {
            "fill_rate": (0.8334, 0.09774, 0.7357, 0.9311, 20),
            "recovery_h:double11_main": (12.0, 3.0, 9.0, 15.0, 20),
            "revenue": (-1234567.0, 2.0, -1234569.0, -1234565.0, 20),
        }
    )
    lines = format_summary(summary, currency="¥").splitlines()
    # right-aligned columns end at the same place on every line, whatever the magnitudes
    assert len({len(line) for line in lines}) == 1
    for line, (name, row) in zip(lines[1:], summary.iterrows(), strict=True):
        assert kpi.format_value(name, row["mean"], currency="¥") in line
        assert kpi.format_spread(name, row["half_width"]) in line
    assert "-¥1,234,567" in lines[3]  # money carries the scenario's currency


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    proc = twin("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"twin {version('twin')}\n"
    assert proc.stderr == ""


@pytest.fixture(scope="module")
def json_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("json") / "out"
    return twin("run", "scenarios/tiny.yaml", "--reps", "3", "--json", "--out", str(out)), out


def test_json_is_the_whole_stdout_and_matches_summary_csv(
    json_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, out = json_run
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # nothing else on stdout
    assert data["scenario"] == "tiny" and data["replications"] == 3 and data["seed"] == 7
    summary = pd.read_csv(out / "summary.csv", index_col="kpi")
    assert list(data["kpis"]) == list(summary.index)
    for name, row in summary.iterrows():
        entry = data["kpis"][name]
        for column in summary.columns:  # mean, std, n, half_width, ci_low, ci_high, ...
            expected = row[column]
            if isinstance(expected, str):
                assert entry[column] == expected, (name, column)
            elif math.isnan(expected):
                assert entry[column] is None, (name, column)
            else:
                assert entry[column] == pytest.approx(expected, rel=1e-9), (name, column)
        assert {"mean", "std", "n", "half_width", "ci_low", "ci_high"} <= set(entry)
        assert isinstance(entry["n"], int)
        assert entry["unit"] == kpi.info(name).unit
        assert entry["description"] == kpi.info(name).description
    assert data["kpis"]["fill_rate"]["unit"] == "share"


def test_json_sends_messages_to_stderr(
    json_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, out = json_run
    assert f"wrote {out / 'report.html'}" in proc.stderr and "kpis.csv" in proc.stderr
    assert "wrote" not in proc.stdout


def test_json_has_null_where_a_value_is_not_a_number() -> None:
    proc = twin("run", "scenarios/tiny.yaml", "--reps", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # strict JSON: json.loads would accept NaN, so check the text
    assert "NaN" not in proc.stdout and "Infinity" not in proc.stdout
    fill = data["kpis"]["fill_rate"]
    assert fill["n"] == 1 and fill["half_width"] is None and fill["std"] is None
    assert isinstance(fill["mean"], float)


def test_json_with_out_naming_a_json_file_is_refused_before_running(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    proc = twin("run", "scenarios/tiny.yaml", "--reps", "1", "--json", "--out", str(target))
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"save the JSON with '> {target}'" in proc.stderr
    assert "replications" not in proc.stderr  # nothing ran
    assert not target.exists()


def test_progress_lines_appear_in_a_log_and_are_bounded() -> None:
    proc = twin("run", "scenarios/tiny.yaml", "--reps", "25")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines, "no progress in a log"
    done = []
    for line in lines:
        match = PROGRESS.match(line)
        assert match, line
        done.append(int(match.group(1)))
        assert match.group(2) == "25"
    assert len(lines) <= 20
    assert done == sorted(set(done)) and done[-1] == 25
    assert "replications" not in proc.stdout  # the table alone on stdout


def test_progress_is_bounded_when_replications_are_slow(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = iter(range(0, 100_000, 60))  # a minute per replication: every one is "due"
    monkeypatch.setattr(runner.time, "monotonic", lambda: float(next(clock)))
    with progress_bar(200, "slow: replications") as progress:
        assert progress is not None
        for _ in range(200):
            progress(1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 20
    assert lines[0] == "slow: replications 1/200 done (60 s)"
    assert lines[-1].startswith("slow: replications 200/200 done (")
    assert "min" in lines[-1]


def test_progress_past_the_planned_total_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(10, "p: replications") as progress:  # a precision target added rounds
        assert progress is not None
        for _ in range(150):
            progress(1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) <= 20
    assert lines[9].startswith("p: replications 10/10 done")
    assert lines[-1].startswith("p: replications 150 done (") and "10 planned" in lines[-1]
