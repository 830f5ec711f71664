"""Benchmark replication throughput: replications per second on one local worker, on a local pool
and on a dask.distributed cluster, and the speed-up of each over one worker.

Usage: `python benchmarks/throughput.py [--scenario PATH] [--reps N] [--workers N] [--quick]
[--no-cluster]`. Prints a table and writes every figure to `benchmarks/results/throughput.json`.
`--quick` runs 4 replications of scenarios/tiny.yaml. Every executor must return the same KPIs
(checked); exit code 2 only if the scenario or a replication fails, or they differ.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from results_file import write_results

from twin.config import load_scenario
from twin.config.schema import Scenario
from twin.errors import TwinError
from twin.experiments.executors import DaskExecutor, Executor, LocalExecutor
from twin.experiments.runner import replicate

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "flagship_live_sale.yaml"
TINY = ROOT / "scenarios" / "tiny.yaml"
DEFAULT_REPS = 8
QUICK_REPS = 4


@contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A dask LocalCluster of `workers` processes with one thread each (no dashboard)."""
    from dask.distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        yield cluster
    finally:
        cluster.close()


def warm_up(executor: Executor, workers: int) -> float:
    """Replicate tiny on `executor` first, so that neither the workers' imports nor this process's
    first-call costs (e.g. scipy, imported lazily by the summary) fall in the timed run."""
    t0 = time.perf_counter()
    replicate(load_scenario(TINY), 2 * workers, executor=executor)
    return time.perf_counter() - t0


def measure(
    label: str,
    make: Callable[[], Executor],
    scenario: Scenario,
    reps: int,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Time `replicate(scenario, reps)` on a warmed-up executor (start-up timed separately)."""
    t0 = time.perf_counter()
    executor = make()
    startup = time.perf_counter() - t0
    try:
        warm = warm_up(executor, executor.workers)
        t0 = time.perf_counter()
        result = replicate(scenario, reps, executor=executor)
        wall = time.perf_counter() - t0
    finally:
        executor.close()
    row = {
        "executor": label,
        "workers": executor.workers,
        "reps": reps,
        "wall_s": wall,
        "reps_per_s": reps / wall,
        "s_per_rep": wall / reps,
        "startup_s": startup,
        "warm_up_s": warm,
    }
    return row, result.kpis


def benchmark(path: Path, reps: int, workers: int = 2, cluster: bool = True) -> dict[str, Any]:
    """Every measurement, printed as a table and returned as a JSON-able dict."""
    scenario = load_scenario(path)
    load_before = _load_average()
    rows: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []

    def run(label: str, make: Callable[[], Executor]) -> None:
        row, kpis = measure(label, make, scenario, reps)
        rows.append(row)
        frames.append(kpis)
        print(f"  {label:<16} {row['wall_s']:7.2f} s", flush=True)

    print(f"{scenario.name}: {reps} replications per executor")
    run("local x1", lambda: LocalExecutor(1))
    run(f"local x{workers}", lambda: LocalExecutor(workers))
    cluster_startup = None
    if cluster:
        t0 = time.perf_counter()
        with local_cluster(workers) as lc:
            cluster_startup = time.perf_counter() - t0
            run(f"dask x{workers}", lambda: DaskExecutor(lc.scheduler_address))
    identical = all(frame.equals(frames[0]) for frame in frames[1:])
    base = rows[0]["reps_per_s"]
    for row in rows:
        row["speedup"] = row["reps_per_s"] / base
        row["efficiency"] = row["speedup"] / row["workers"]
    res: dict[str, Any] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scenario": {"name": scenario.name, "path": os.path.relpath(path, ROOT)},
        "reps": reps,
        "workers": workers,
        "env": {
            "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": _load_average(),
        },
        "cluster_startup_s": cluster_startup,
        "identical_kpis": identical,
        "runs": rows,
    }
    print_report(res)
    return res


def _load_average() -> float | None:
    """The 1-minute load average (other work competing for the CPUs), where the OS reports it."""
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        return None


def print_report(res: dict[str, Any]) -> None:
    """An aligned table of the runs."""
    print()
    print(f"replication throughput: {res['scenario']['name']}, {res['reps']} replications, "
          f"{res['env']['cpus']} CPUs")  # fmt: skip
    header = f"{'executor':<12}{'workers':>8}{'wall s':>9}{'s/rep':>8}{'reps/s':>9}"
    header += f"{'speed-up':>10}{'efficiency':>12}{'start s':>9}"
    print(header)
    print("-" * len(header))
    for r in res["runs"]:
        print(
            f"{r['executor']:<12}{r['workers']:>8}{r['wall_s']:>9.2f}{r['s_per_rep']:>8.2f}"
            f"{r['reps_per_s']:>9.3f}{r['speedup']:>9.2f}x{r['efficiency']:>11.0%}"
            f"{r['startup_s']:>9.2f}"
        )
    if res["cluster_startup_s"] is not None:
        print(f"LocalCluster start-up: {res['cluster_startup_s']:.1f} s (not in the wall times)")
    print(f"identical KPIs on every executor: {'yes' if res['identical_kpis'] else 'NO'}")
    before, after = res["env"]["load_average_before"], res["env"]["load_average_after"]
    if before is not None and after is not None:
        busy = max(before, after) > 0.5
        note = " (the machine was busy: speed-ups understate)" if busy else ""
        print(f"load average: {before:.1f} before, {after:.1f} after{note}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=None, help="default: the flagship")
    ap.add_argument("--reps", type=int, default=None, help=f"default {DEFAULT_REPS}")
    ap.add_argument("--workers", type=int, default=2, help="pool and cluster size (default 2)")
    ap.add_argument("--quick", action="store_true", help=f"tiny, {QUICK_REPS} replications")
    ap.add_argument("--no-cluster", action="store_true", help="skip the dask LocalCluster")
    args = ap.parse_args(argv)
    args.scenario = args.scenario or (TINY if args.quick else DEFAULT_SCENARIO)
    args.reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    if args.reps < 1 or args.workers < 1:
        ap.error("--reps and --workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 whatever the speed-ups, 2 if it cannot run or results differ."""
    args = parse_args(argv)
    try:
        res = benchmark(args.scenario, args.reps, args.workers, cluster=not args.no_cluster)
    except TwinError as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        return 2
    write_results("throughput", res)
    if not res["identical_kpis"]:
        print("executors returned different KPIs (a determinism bug)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
