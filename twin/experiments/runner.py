"""Replications in parallel processes, gathered in replication order.

Each replication depends only on (scenario, index), so results are the same whatever the number
of workers; they are sorted by index before anything is written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from twin.config.schema import Scenario
from twin.errors import TwinError
from twin.experiments.replication import run_replication
from twin.experiments.results import ReplicationResult, RunResult
from twin.experiments.stats import summarise

Progress = Callable[[int], None]


def replicate(
    scenario: Scenario,
    reps: int,
    workers: int = 1,
    progress: Progress | None = None,
) -> RunResult:
    """Run `reps` replications on `workers` processes; replication 0 carries the time series."""
    if reps < 1:
        raise TwinError(f"--reps (={reps}) must be >= 1")
    if workers < 1:
        raise TwinError(f"--workers (={workers}) must be >= 1")
    results: list[ReplicationResult] = []
    if workers == 1 or reps == 1:
        for r in range(reps):
            results.append(run_replication(scenario, r, detail=r == 0))
            if progress:
                progress(1)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, reps)) as pool:
            futures = [pool.submit(run_replication, scenario, r, r == 0) for r in range(reps)]
            for future in as_completed(futures):
                results.append(future.result())
                if progress:
                    progress(1)
    results.sort(key=lambda res: res.replication)
    kpis = pd.DataFrame(
        [{"replication": res.replication, "seed": res.seed, **res.kpis} for res in results]
    )
    return RunResult(
        scenario=scenario.name,
        kpis=kpis,
        summary=summarise(kpis),
        detail=results[0].detail,
        meta={"horizon_h": scenario.horizon, "replications": reps, "seed": scenario.seed},
    )


def write_outputs(result: RunResult, out: Path) -> dict[str, Path]:
    """Write kpis.csv, summary.csv and report.html into `out` (each replaced whole)."""
    from twin.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "kpis": out / "kpis.csv",
        "summary": out / "summary.csv",
        "report": out / "report.html",
    }
    _atomic_csv(result.kpis, paths["kpis"], index=False)
    _atomic_csv(result.summary, paths["summary"], index=True)
    write_report(result, paths["report"])
    return paths


def _atomic_csv(frame: pd.DataFrame, path: Path, index: bool) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=index, float_format="%.10g")
    tmp.replace(path)


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Progress | None]:
    """A progress bar on a terminal; nothing when output is piped (CI logs stay clean)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress as RichProgress

    with RichProgress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
