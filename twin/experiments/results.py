"""Result objects of runs: what replications return and what reports read.

A replication returns a compact `ReplicationResult` (KPIs, plus time series for the one replication
a report plots), so nothing large crosses a process or network boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from twin.experiments.trace import Trace, TraceAxes


@dataclass(frozen=True)
class ReplicationResult:
    """What one replication returns: its index, its seed, its KPIs and (optionally) its trace."""

    replication: int
    seed: int
    kpis: dict[str, float]
    trace: Trace | None = None
    axes: TraceAxes | None = None
    """The names along the trace's axes (replication 0 only: the same for every replication)."""


@dataclass(frozen=True)
class RunResult:
    """Replications of one scenario.

    - `kpis`: one row per replication: `replication`, `seed`, then one column per KPI.
    - `summary`: one row per KPI (index `kpi`): `mean`, `std`, `n`, `half_width` (Student t, 95 %),
      `ci_low`, `ci_high`.
    - `traces`: every replication's `Trace` (stock, backlog, load, causes, ...), in order, and
      `axes` the names along their axes; empty when the run did not record them.
    - `report`: what the report needs of the scenario beyond KPIs (targets, currency, calendar
      start, colours), as plain JSON-able data.
    """

    scenario: str
    kpis: pd.DataFrame
    summary: pd.DataFrame
    meta: dict[str, object] = field(default_factory=dict)
    traces: list[Trace] = field(default_factory=list)
    axes: TraceAxes | None = None
    report: dict[str, object] = field(default_factory=dict)
