"""One replication as a pure function of (scenario, replication index): compact results only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin import kpi
from twin.config.schema import Scenario
from twin.experiments.results import Detail, ReplicationResult
from twin.experiments.trace import axes_of, trace_of
from twin.model.world import RunRecord, simulate

DEMAND_BIN_HOURS = 0.25


def run_replication(
    scenario: Scenario, replication: int, detail: bool = False, trace: bool = False
) -> ReplicationResult:
    """Simulate replication `replication` and return its KPIs.

    With `detail`, also the time series of this replication; with `trace`, its `Trace` (what the
    run report reads across all replications) and the names along the trace's axes.
    """
    record = simulate(scenario, replication, detail=detail)
    return ReplicationResult(
        replication=replication,
        seed=scenario.seed,
        kpis=kpi.compute(record),
        detail=detail_of(record) if detail else None,
        trace=trace_of(record) if trace else None,
        axes=axes_of(record) if trace and replication == 0 else None,
    )


def detail_of(record: RunRecord) -> Detail:
    """The time series a report plots, from one replication's record."""
    book = record.book
    names = ["baseline", *(p.name for p in record.pulses)]
    bins = np.floor(book.time / DEMAND_BIN_HOURS).astype(np.int64)
    counts = (
        pd.DataFrame({"bin": bins, "channel": np.asarray(names)[book.channel]})
        .groupby(["bin", "channel"])
        .size()
        .rename("orders")
        .reset_index()
    )
    counts["time"] = counts.pop("bin") * DEMAND_BIN_HOURS
    times, levels = kpi.backlog_series(record)
    return Detail(
        stock=_with_roles(
            pd.DataFrame(record.stock_samples, columns=["time", "warehouse", "units"]), record
        ),
        backlog=pd.DataFrame({"time": times, "units": levels}),
        demand=counts[["time", "channel", "orders"]],
        costs={part: float(record.costs.get(part, 0.0)) for part in kpi.COST_PARTS},
        cost_table=pd.DataFrame(
            [
                (part, site, day, amount)
                for (part, site, day), amount in sorted(record.cost_book.items())
            ],
            columns=["part", "site", "day", "amount"],
        ),
        disruptions=pd.DataFrame(
            [(d.kind, d.target, d.start, d.end, d.severity) for d in record.disruptions],
            columns=["kind", "target", "start", "end", "severity"],
        ),
        events=pd.DataFrame(
            [(p.name, p.start, p.duration, p.decay, p.uplift) for p in record.pulses],
            columns=["name", "start", "duration", "decay", "uplift"],
        ),
    )


def _with_roles(stock: pd.DataFrame, record: RunRecord) -> pd.DataFrame:
    """Add each warehouse's role (`central` or `forward`), so plots can group by it."""
    roles = {w: getattr(record.scenario.sites[w], "role", "") for w in record.warehouses}
    return stock.assign(role=stock["warehouse"].map(roles))
