"""Executors (DESIGN §8): local processes and a dask.distributed cluster give the same numbers.

One 2-worker `LocalCluster` (separate processes, one thread each) is started for the whole module
and closed after; every dask test shares it, so its start-up (a few seconds) is paid once.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest

from twin.config import Scenario, load_scenario
from twin.errors import TwinError
from twin.experiments import replicate, write_outputs
from twin.experiments.executors import (
    SCHEDULER_ENV,
    DaskExecutor,
    LocalExecutor,
    make_executor,
)

distributed = pytest.importorskip("dask.distributed")

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
REPS = 6
UNREACHABLE = "tcp://127.0.0.1:1"  # port 1 (tcpmux): nothing listens there


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return load_scenario(TINY)


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    # The dask workers are fresh processes that cannot import this test module (pytest loads it
    # with --import-mode=importlib): ship its functions by value.
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    local = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        yield local
    finally:
        local.close()
        cloudpickle.unregister_pickle_by_value(module)


@pytest.fixture(scope="module")
def serial(tiny: Scenario) -> pd.DataFrame:
    """The reference: every replication in this process."""
    return replicate(tiny, REPS, workers=1).kpis


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)


# --- same numbers wherever a replication runs ----------------------------------------------------


def test_two_local_workers_match_one(tiny: Scenario, serial: pd.DataFrame) -> None:
    assert serial["replication"].tolist() == list(range(REPS))
    assert_same(replicate(tiny, REPS, workers=2).kpis, serial)


def test_dask_matches_local(
    tiny: Scenario, serial: pd.DataFrame, cluster: distributed.LocalCluster
) -> None:
    with DaskExecutor(cluster.scheduler_address) as ex:
        assert ex.workers == 2
        result = replicate(tiny, REPS, executor=ex)
    assert_same(result.kpis, serial)
    assert len(result.traces) == REPS  # every replication's trace came back from a worker
    assert result.axes is not None


def test_make_executor_with_a_scheduler_runs_on_dask(
    tiny: Scenario,
    serial: pd.DataFrame,
    cluster: distributed.LocalCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # an explicit address wins over the environment (which here names nothing reachable)
    monkeypatch.setenv(SCHEDULER_ENV, UNREACHABLE)
    with make_executor(workers=1, scheduler=cluster.scheduler_address) as ex:
        assert isinstance(ex, DaskExecutor)
        assert_same(replicate(tiny, REPS, executor=ex).kpis, serial)


def test_make_executor_reads_the_environment(
    tiny: Scenario,
    serial: pd.DataFrame,
    cluster: distributed.LocalCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
    with make_executor(workers=1) as ex:
        assert isinstance(ex, DaskExecutor)
        assert ex.address == cluster.scheduler_address
        assert_same(replicate(tiny, REPS, executor=ex).kpis, serial)


@pytest.mark.parametrize("value", [None, ""])
def test_make_executor_without_a_scheduler_is_local(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    else:
        monkeypatch.setenv(SCHEDULER_ENV, value)
    with make_executor(workers=3) as ex:
        assert isinstance(ex, LocalExecutor)
        assert ex.workers == 3


def test_cli_run_on_the_cluster_writes_the_local_kpis(
    tiny: Scenario, cluster: distributed.LocalCluster, tmp_path: Path
) -> None:
    proc = twin_cli(
        "run", str(TINY), "--reps", "3", "--scheduler", cluster.scheduler_address,
        "--out", str(tmp_path / "dask"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    local = write_outputs(replicate(tiny, 3, workers=1), tmp_path / "local")
    assert (tmp_path / "dask" / "kpis.csv").read_bytes() == local["kpis"].read_bytes()


# --- results in task order -----------------------------------------------------------------------

N_TASKS = 6


def late_if_early(i: int) -> tuple[int, float]:
    """Task i sleeps longer the smaller i is, so later tasks finish first; returns (i, end time)."""
    time.sleep(0.08 * (N_TASKS - i))
    return i, time.time()


def check_in_task_order(out: list[tuple[int, float]], calls: list[int]) -> None:
    assert [i for i, _ in out] == list(range(N_TASKS))
    ends = [end for _, end in out]
    assert ends != sorted(ends), "the tasks did not finish out of order; the test proves nothing"
    assert calls == [1] * N_TASKS  # progress: one tick per task


def test_local_pool_returns_results_in_task_order() -> None:
    calls: list[int] = []
    with LocalExecutor(2) as ex:
        out = ex.map(late_if_early, list(range(N_TASKS)), calls.append)
    check_in_task_order(out, calls)


def test_dask_returns_results_in_task_order(cluster: distributed.LocalCluster) -> None:
    calls: list[int] = []
    with DaskExecutor(cluster.scheduler_address) as ex:
        out = ex.map(late_if_early, list(range(N_TASKS)), calls.append)
    check_in_task_order(out, calls)


def test_dask_runs_equal_tasks_each_time(cluster: distributed.LocalCluster) -> None:
    # pure=False: two equal tasks are two runs, not one result shared
    with DaskExecutor(cluster.scheduler_address) as ex:
        out = ex.map(late_if_early, [N_TASKS - 1, N_TASKS - 1])
    assert [i for i, _ in out] == [N_TASKS - 1] * 2
    assert out[0][1] != out[1][1]


# --- an unreachable scheduler --------------------------------------------------------------------


def test_unreachable_scheduler_is_a_twin_error_naming_the_address() -> None:
    t0 = time.perf_counter()
    with pytest.raises(TwinError, match=re.escape(UNREACHABLE)):
        DaskExecutor(UNREACHABLE, timeout=1.0)
    assert time.perf_counter() - t0 < 5


def twin_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )


def test_cli_unreachable_scheduler_exits_two_without_traceback(tmp_path: Path) -> None:
    # `twin run` connects with DaskExecutor's default timeout (10 s), so this takes about that long
    proc = twin_cli(
        "run", "scenarios/tiny.yaml", "--reps", "2", "--scheduler", UNREACHABLE,
        "--out", str(tmp_path / "out"), timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: cannot reach the dask scheduler")
    assert UNREACHABLE in proc.stderr
    assert not (tmp_path / "out").exists()


def fail_first_else_sleep(i: int) -> int:
    if i == 0:
        raise ValueError("replication 0 is broken")
    time.sleep(0.5)
    return i


def test_a_failed_task_does_not_wait_for_the_queue() -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match="broken"), LocalExecutor(2) as ex:
        ex.map(fail_first_else_sleep, list(range(16)))
    # 15 queued tasks of 0.5 s on two workers would take about 4 s; cancelled, at most the two
    # already running finish
    assert time.perf_counter() - started < 2.5
