"""Experiments: replications with confidence intervals (comparisons, sweeps and the gate come next)."""

from twin.experiments.replication import run_replication
from twin.experiments.results import ReplicationResult, RunResult
from twin.experiments.runner import replicate, write_outputs

__all__ = [
    "ReplicationResult",
    "RunResult",
    "replicate",
    "run_replication",
    "write_outputs",
]
