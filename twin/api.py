"""The Python API: each function returns results as pandas DataFrames (on its result object).

`twin.run`, `twin.compare`, `twin.sweep` and `twin.gate` are the same machinery the `twin`
commands use, with the same defaults; pass `workers=` for local processes or `scheduler=` for a
dask cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.config.schema import Scenario

if TYPE_CHECKING:
    from twin.experiments.compare import CompareResult
    from twin.experiments.results import RunResult


def run(
    scenario: str | Path | Scenario,
    reps: int = 10,
    workers: int = 1,
    *,
    scheduler: str | None = None,
    precision: float | None = None,
    kpi: str = "fill_rate",
    max_reps: int = 200,
    overrides: Mapping[str, Any] | None = None,
    variant: str | None = None,
) -> RunResult:
    """Replications of one scenario (a file, or a `Scenario`): `.kpis` and `.summary` frames."""
    from twin.experiments.executors import make_executor
    from twin.experiments.runner import Precision, replicate

    if isinstance(scenario, Scenario):
        design = scenario
    else:
        from twin.experiments.overrides import load_designs, pick_design

        design = pick_design(load_designs(scenario, overrides), variant, Path(scenario))
    rule = None if precision is None else Precision(precision, kpi, max_reps)
    with make_executor(workers, scheduler) as executor:
        return replicate(design, reps, executor=executor, precision=rule)


def compare(
    *designs: str | Path | Scenario,
    reps: int = 10,
    workers: int = 1,
    scheduler: str | None = None,
    variants: bool = True,
    baseline: str | None = None,
    precision: float | None = None,
    kpi: str = "fill_rate",
    max_reps: int = 200,
    overrides: Mapping[str, Any] | None = None,
) -> CompareResult:
    """Paired comparison of designs (files with their variants, or `Scenario`s) on shared seeds."""
    from twin.experiments.compare import compare as compare_designs
    from twin.experiments.designs import gather_designs, with_baseline
    from twin.experiments.executors import make_executor
    from twin.experiments.runner import Precision

    chosen = with_baseline(gather_designs(designs, overrides, variants)[0], baseline)
    rule = None if precision is None else Precision(precision, kpi, max_reps)
    with make_executor(workers, scheduler) as executor:
        return compare_designs(chosen, reps, executor=executor, precision=rule)


def sweep(
    scenario: str | Path,
    grid: Mapping[str, Sequence[Any]],
    reps: int = 10,
    workers: int = 1,
    *,
    scheduler: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """A grid of scenario variants on shared seeds: `.points`, `.kpis`, `.summary`, `.pareto`."""
    from twin.experiments.executors import make_executor
    from twin.experiments.sweep import sweep as sweep_grid

    with make_executor(workers, scheduler) as executor:
        return sweep_grid(scenario, grid, reps=reps, executor=executor, overrides=overrides)
