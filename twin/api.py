"""The Python API: each function returns results as pandas DataFrames (on its result object).

`twin.run`, `twin.compare`, `twin.sweep` and `twin.gate` are the same machinery the `twin`
commands use, with the same defaults; pass `workers=` for local processes or `scheduler=` for a
dask cluster. They refuse work over the budget (`twin.experiments.budget`) with the command's
message, before anything runs; `allow_large=True` is the commands' `--allow-large`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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
    allow_large: bool = False,
) -> RunResult:
    """Replications of one scenario (a file, or a `Scenario`): `.kpis` and `.summary` frames."""
    from twin.experiments.runner import Precision, replicate

    if isinstance(scenario, Scenario):
        design = scenario
    else:
        from twin.experiments.overrides import load_designs, pick_design

        design = pick_design(load_designs(scenario, overrides), variant, Path(scenario))
    rule = None if precision is None else Precision(precision, kpi, max_reps)
    with _executor(workers, scheduler, allow_large) as executor:
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
    allow_large: bool = False,
) -> CompareResult:
    """Paired comparison of designs (files with their variants, or `Scenario`s) on shared seeds."""
    from twin.experiments.compare import compare as compare_designs
    from twin.experiments.designs import gather_designs, with_baseline
    from twin.experiments.runner import Precision

    chosen = with_baseline(gather_designs(designs, overrides, variants)[0], baseline)
    rule = None if precision is None else Precision(precision, kpi, max_reps)
    with _executor(workers, scheduler, allow_large) as executor:
        return compare_designs(chosen, reps, executor=executor, precision=rule)


def sweep(
    scenario: str | Path,
    grid: Mapping[str, Sequence[Any]],
    reps: int = 10,
    workers: int = 1,
    *,
    scheduler: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    allow_large: bool = False,
) -> Any:
    """A grid of scenario variants on shared seeds: `.points`, `.kpis`, `.summary`, `.pareto`."""
    from twin.experiments.sweep import sweep as sweep_grid

    with _executor(workers, scheduler, allow_large) as executor:
        return sweep_grid(scenario, grid, reps=reps, executor=executor, overrides=overrides)


def gate(
    baseline: str | Path | Scenario,
    candidate: str | Path | Scenario,
    rules: str | Path | Any = "configs/gate.yaml",
    reps: int | None = None,
    workers: int = 1,
    *,
    scheduler: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    candidate_overrides: Mapping[str, Any] | None = None,
    allow_large: bool = False,
) -> Any:
    """The regression gate: `.table` (one row per rule, with its verdict) and `.passed`."""
    from twin.experiments import gate as rules_gate

    if isinstance(baseline, Scenario) and isinstance(candidate, Scenario):
        pair = (baseline, candidate)
    else:
        if isinstance(baseline, Scenario) or isinstance(candidate, Scenario):
            raise TypeError("give baseline and candidate both as files or both as Scenarios")
        pair = rules_gate.load_pair(baseline, candidate, overrides, candidate_overrides)
    judged = rules if isinstance(rules, rules_gate.GateRules) else rules_gate.load_rules(rules)
    with _executor(workers, scheduler, allow_large) as executor:
        return rules_gate.gate(*pair, judged, reps, executor)


@contextmanager
def _executor(workers: int, scheduler: str | None, allow_large: bool) -> Iterator[Any]:
    """The executor, with the budget in force (lifted when `allow_large`) while it runs.

    Local workers are checked as `--workers` is; the designs' work is checked by `run_designs`,
    before any replication is submitted, so the API refuses what the commands refuse.
    """
    from twin.experiments.budget import allowing_large, check_workers
    from twin.experiments.executors import SCHEDULER_ENV, make_executor

    with allowing_large(allow_large):
        if not (scheduler or os.environ.get(SCHEDULER_ENV)):
            check_workers(workers)
        with make_executor(workers, scheduler) as executor:
            yield executor
