"""Outputs are checked before work starts, and a run's outputs appear together or not at all.

A bad `--out` (under a file, in a folder that cannot be written, a 300-character name) used to
fail with a traceback after every replication had run; now each command refuses it with exit 2,
naming the option, before anything runs. And `write_outputs` stages the whole results folder
beside the target and swaps it in: a failure half-way leaves the previous results as they were.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.config import load_scenario
from twin.experiments import runner
from twin.experiments.results import RunResult
from twin.experiments.runner import replicate, write_folder, write_outputs

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "scenarios" / "tiny.yaml"
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
LONG = "x" * 300


def bad_targets(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each bad output location, with what its message says."""
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    return {
        "under-a-file": (taken / "out", "is a file, not a folder"),
        "long-name": (tmp_path / LONG, "cannot write there (File name too long)"),
        "long-name-deeper": (tmp_path / LONG / "out", "cannot write there (File name too long)"),
        "unwritable": (Path("/proc/twin-out/out"), "cannot write there"),
    }


CASES = ["under-a-file", "long-name", "long-name-deeper", "unwritable"]


def no_results(tmp_path: Path) -> bool:
    return not any(tmp_path.rglob("kpis.csv")) and not any(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("case", CASES)
def test_run_refuses_a_bad_out_before_any_replication(tmp_path: Path, case: str) -> None:
    target, said = bad_targets(tmp_path)[case]
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "twin", "run", str(TINY), "--reps", "50", "--out", str(target)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    took = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: --out {target}: ") and said in proc.stderr
    assert took < 15, f"took {took:.1f} s: 50 replications would take longer"
    assert no_results(tmp_path)
    assert (tmp_path / "taken").read_text() == "keep me"


@pytest.fixture
def no_replication(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any replication fails the test: the command must refuse before one runs."""

    def refuse(task: object) -> None:
        raise AssertionError("a replication ran before the output was checked")

    monkeypatch.setattr(runner, "run_task", refuse)


def commands(tmp_path: Path, target: Path) -> dict[str, tuple[list[str], str]]:
    rules = REPO / "configs" / "gate.yaml"
    other = tmp_path / "other.yaml"
    other.write_text(TINY.read_text().replace("name: tiny", "name: other", 1))
    gate = ["gate", "--baseline", str(TINY), "--candidate", str(other), "--rules", str(rules)]
    prep = ["plan", "preposition", "--scenario", str(TINY), "--event", "launch"]
    routes = ["plan", "routes", "--scenario", str(TINY), "--warehouse", "fwd_north"]
    grid = ["--grid", "sites.central.pick_pack.workers=2,4"]
    return {
        "compare": (["compare", str(TINY), str(other), "--out", str(target)], "--out"),
        "sweep": (["sweep", str(TINY), *grid, "--out", str(target)], "--out"),
        "gate-junit": ([*gate, "--junit", str(target)], "--junit"),
        "gate-markdown": ([*gate, "--markdown", str(target)], "--markdown"),
        "plan-network": (
            ["plan", "network", "--scenario", str(TINY), "--out", str(target)],
            "--out",
        ),
        "plan-preposition": ([*prep, "--out", str(target)], "--out"),
        "plan-routes": (
            [*routes, "--orders", str(tmp_path / "none.csv"), "--plot", str(target)],
            "--plot",
        ),
        "snapshot-at": (
            ["run", str(TINY), "--snapshot-at", "2d", "--out", str(target)],
            "--out",
        ),
    }


COMMANDS = [
    "compare",
    "sweep",
    "gate-junit",
    "gate-markdown",
    "plan-network",
    "plan-preposition",
    "plan-routes",
    "snapshot-at",
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_bad_output_up_front(
    tmp_path: Path, command: str, case: str, no_replication: None
) -> None:
    target, said = bad_targets(tmp_path)[case]
    args, option = commands(tmp_path, target)[command]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"error: {option} {target}: " in result.output and said in result.output
    assert no_results(tmp_path)


@pytest.mark.skipif(ROOT, reason="root writes anywhere: a read-only folder is no test")
def test_a_read_only_folder_is_refused(tmp_path: Path, no_replication: None) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = CliRunner().invoke(app, ["run", str(TINY), "--out", str(locked / "out")])
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 2 and "cannot write there (Permission denied)" in result.output


def test_a_snapshot_without_out_checks_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_replication: None
) -> None:
    (tmp_path / "snapshot").write_text("a file where the snapshot folder would go")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", str(TINY), "--snapshot-at", "2d"])
    assert result.exit_code == 2, result.output
    assert "--snapshot-at (into ./snapshot) snapshot: exists and is not a folder" in result.output


def test_the_check_leaves_nothing_behind(tmp_path: Path, no_replication: None) -> None:
    """Refused for another reason after the check: no folder made for the check stays."""
    target = tmp_path / "new" / "deeper" / "out"
    result = CliRunner().invoke(app, ["run", str(TINY), "--reps", "0", "--out", str(target)])
    assert result.exit_code == 2 and "--reps (=0) must be >= 1" in result.output
    assert list(tmp_path.iterdir()) == []


# --- the results folder appears whole -----------------------------------------------------------


@pytest.fixture(scope="module")
def result() -> RunResult:
    return replicate(load_scenario(TINY), 2)


def snapshot_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_failure_half_way_leaves_the_previous_results(
    tmp_path: Path, result: RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results"
    write_outputs(result, out)
    (out / "kpis.csv").write_bytes(b"previous run\n")  # tell the old files from new ones
    before = snapshot_of(out)

    import twin.report.html

    real = twin.report.html.write_atomic
    written: list[str] = []

    def fail_on_the_third(path: Path, data: str | bytes) -> None:
        if len(written) == 2:
            raise KeyboardInterrupt  # what Ctrl-C does half-way through the files
        written.append(path.name)
        real(path, data)

    monkeypatch.setattr(twin.report.html, "write_atomic", fail_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(result, out)
    assert len(written) == 2  # two new files were written before the failure...
    assert snapshot_of(out) == before  # ...and none of them shows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no staging folder left


def test_a_new_run_replaces_the_folder_whole(tmp_path: Path, result: RunResult) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / "kpis.csv").write_text("stale")
    (out / ".kpis.csv.abc.tmp").write_text("left by an interrupted write")
    paths = write_outputs(result, out)
    assert paths["report"] == out / "report.html"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["kpis.csv", "summary.csv", "traces.npz", "results.json", "report.html"]
    )
    assert (out / "kpis.csv").read_text() != "stale"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_folder_holding_other_files_is_never_swapped_away(
    tmp_path: Path, result: RunResult
) -> None:
    out = tmp_path / "mixed"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    write_outputs(result, out)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "report.html").is_file() and (out / "kpis.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed"]


def test_the_working_folder_is_never_swapped_away(
    tmp_path: Path, result: RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paths = write_outputs(result, Path("."))
    assert (tmp_path / "report.html").is_file() and paths["report"] == Path("report.html")
    assert Path.cwd() == tmp_path


def test_write_folder_swaps_any_writer_and_keeps_the_old_one_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "sweep"

    def good(folder: Path) -> dict[str, Path]:
        (folder / "sweep.csv").write_text("new")
        return {"summary": folder / "sweep.csv"}

    assert write_folder(out, good) == {"summary": out / "sweep.csv"}

    def bad(folder: Path) -> dict[str, Path]:
        (folder / "sweep.csv").write_text("half")
        raise RuntimeError("the report failed to render")

    with pytest.raises(RuntimeError):
        write_folder(out, bad)
    assert (out / "sweep.csv").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]


def test_run_with_snapshot_writes_it_with_the_results(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["run", str(TINY), "--reps", "1", "--out", str(out), "--snapshot-at", "2d"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "snapshot" / "clock.csv").is_file() and (out / "kpis.csv").is_file()
    assert f"wrote the State at 2d to {out / 'snapshot'}" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_folder_in_a_read_only_one_is_filled_in_place(
    tmp_path: Path, result: RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No staging folder can go beside it: one inside it, entries moved across, nothing left."""
    out = tmp_path / "results"
    out.mkdir()
    real_mkdir = Path.mkdir

    def read_only_parent(self: Path, *args: object, **kwargs: object) -> None:
        if self.parent == tmp_path and self.name.endswith(".new"):
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", read_only_parent)
    write_outputs(result, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["kpis.csv", "summary.csv", "traces.npz", "results.json", "report.html"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_killed_runs_staging_folders_are_cleared_not_fresh_ones(tmp_path: Path) -> None:
    import os
    import time

    from twin.experiments.runner import STALE_STAGE_S

    out = tmp_path / "res"
    stale = tmp_path / ".res.0123456789ab.new"
    fresh = tmp_path / ".res.ba9876543210.new"  # another run filling right now
    other = tmp_path / ".resx.0123456789ab.new"  # some other target's
    for folder in (stale, fresh, other):
        folder.mkdir()
        (folder / "kpis.csv").write_text("x\n")
    old = time.time() - STALE_STAGE_S - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))

    def fill(stage: Path) -> dict[str, Path]:
        (stage / "kpis.csv").write_text("new\n")
        return {"kpis": stage / "kpis.csv"}

    write_folder(out, fill)
    assert not stale.exists() and fresh.exists() and other.exists()
    assert (out / "kpis.csv").read_text() == "new\n"
