"""One replication as a pure function of (scenario, replication index): compact results only."""

from __future__ import annotations

from twin import kpi
from twin.config.schema import Scenario
from twin.experiments.results import ReplicationResult
from twin.experiments.trace import axes_of, trace_of
from twin.model.world import simulate


def run_replication(scenario: Scenario, replication: int, trace: bool = False) -> ReplicationResult:
    """Simulate replication `replication` and return its KPIs.

    With `trace`, also its `Trace` (what the run report reads across all replications) and, for
    replication 0, the names along the trace's axes.
    """
    record = simulate(scenario, replication)
    return ReplicationResult(
        replication=replication,
        seed=scenario.seed,
        kpis=kpi.compute(record),
        trace=trace_of(record) if trace else None,
        axes=axes_of(record) if trace and replication == 0 else None,
    )
