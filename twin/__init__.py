"""twin: a supply-chain digital twin for brands that sell through livestreams."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twin.experiments.results import RunResult

__version__ = "0.1.0"


def run(scenario: str, reps: int = 10, workers: int = 1) -> RunResult:
    """Run replications of a scenario file; KPIs as DataFrames on the returned `RunResult`."""
    from twin.config import load_scenario
    from twin.experiments import replicate

    return replicate(load_scenario(scenario), reps, workers)


__all__ = ["__version__", "run"]
