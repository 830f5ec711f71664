"""The per-replication Trace: samples agree with the run, every lost or late unit has one cause,
recovery is censored where it must be, and the returns still to come add up."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from twin import kpi
from twin.config.loader import load_scenario
from twin.config.schema import Scenario
from twin.experiments.replication import run_replication
from twin.experiments.trace import CAUSES, axes_of, stack, trace_of, unstack
from twin.model.ledger import ALLOCATED, CANCELLED
from twin.model.sampler import sample_grid
from twin.model.world import RunRecord, simulate


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return load_scenario("scenarios/tiny.yaml")


def tiny_data() -> dict:
    with open("scenarios/tiny.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def record() -> RunRecord:
    """The tiny network short of stock: its livestream leaves orders lost and late."""
    data = tiny_data()
    data["sites"]["central"]["initial_stock"] = 200
    for fwd in ("fwd_north", "fwd_south"):
        data["sites"][fwd]["initial_stock"] = 60
    data["policies"] = {}  # nothing replenishes
    return simulate(Scenario.model_validate(data), 1)


def test_grid_is_hourly_and_fine_around_pulses() -> None:
    grid = sample_grid(48.0, [(10.0, 12.0)])
    assert grid[0] == 0.0 and grid[-1] < 48.0
    assert set(np.arange(0.0, 48.0, 1.0)) <= set(grid)
    fine = grid[(grid >= 9.0) & (grid < 18.0)]
    assert np.allclose(np.diff(fine), 0.25)  # 1 h before to 6 h after, every 15 minutes
    assert np.allclose(np.diff(grid[grid >= 18.0]), 1.0)


def test_samples_start_from_the_initial_stock(record: RunRecord) -> None:
    s = record.samples
    assert s.on_hand.dtype == np.float32 and s.on_hand.shape[1:] == (3, 2)
    for w, site in enumerate(record.warehouses):
        spec = record.scenario.sites[site]
        assert s.on_hand[0, w].tolist() == [spec.initial(k) for k in record.skus]  # type: ignore[union-attr]
    assert (s.on_hand >= 0).all() and (s.backlog >= 0).all()
    assert ((s.busy[np.isfinite(s.busy)] >= 0) & (s.busy[np.isfinite(s.busy)] <= 1)).all()


def test_factory_and_elastic_load_are_shares_of_hours_worked(tiny: Scenario) -> None:
    record = simulate(tiny, 0)
    s = record.samples
    factory = s.busy[s.resources.index("factory:factory")]
    elastic = s.busy[s.resources.index("elastic:factory")]
    assert ((factory >= 0) & (factory <= 1)).all() and ((elastic >= 0) & (elastic <= 1)).all()
    width = np.diff(np.append(s.grid.astype(float), record.horizon_h))
    worked = (factory * width).sum()  # regular line-hours over the run
    assert worked == pytest.approx(record.factory_busy, rel=0.02)


def test_every_lost_or_late_unit_has_exactly_one_cause(record: RunRecord) -> None:
    trace = trace_of(record)
    affected = trace.lost.sum() + trace.late.sum()
    assert affected > 0  # the livestream overwhelms the tiny network: there is something to explain
    assert trace.cause_units.sum() == pytest.approx(affected)
    assert trace.cause_hourly.sum() == pytest.approx(affected)
    lost = (record.outcomes.status == CANCELLED) & (record.outcomes.cancelled < record.horizon_h)
    assert trace.lost.sum() == pytest.approx(record.book.units[lost].sum())


def test_a_forward_site_without_stock_or_line_haul_blames_positioning() -> None:
    """Stock only at central, none forward, no replenishment: orders wait at the forward sites
    while central holds plenty, so the binding cause is 'no stock at site'."""
    data = tiny_data()
    data["sites"]["central"]["initial_stock"] = 100_000
    for fwd in ("fwd_north", "fwd_south"):
        data["sites"][fwd]["initial_stock"] = 0
    data["policies"] = {}
    # north and south are served from their forward sites only
    data["lanes"] = [
        lane for lane in data["lanes"]
        if not (lane["from"] == "central" and lane["to"] in ("north", "south"))
    ]
    record = simulate(Scenario.model_validate(data), 0)
    units = trace_of(record).cause_units.sum(axis=(1, 2))
    assert units[CAUSES.index("no stock at site")] / units.sum() > 0.9


def test_nothing_upstream_and_no_components_blames_the_supplier() -> None:
    """Central and forward sites empty, a factory without components: nothing can be made."""
    data = tiny_data()
    for site in ("central", "fwd_north", "fwd_south"):
        data["sites"][site]["initial_stock"] = 0
    data["sites"]["factory"]["bom"] = {"lipstick": {"tube": 1}, "serum": {"tube": 1}}
    data["sites"]["factory"]["initial_components"] = {"tube": 0}
    record = simulate(Scenario.model_validate(data), 0)
    units = trace_of(record).cause_units.sum(axis=(1, 2))
    waited = units[CAUSES.index("supplier")] + units[CAUSES.index("upstream empty")]
    assert units[CAUSES.index("supplier")] / waited > 0.9


def test_returns_to_come_add_up_with_those_received(tiny: Scenario) -> None:
    record = simulate(tiny, 1)
    ret = trace_of(record).returns  # [channel, (delivered, to return, received, to come, refunds)]
    assert ret[:, 1] == pytest.approx(ret[:, 2] + ret[:, 3])
    assert ret[:, 2].sum() == record.returns_received  # the model received exactly these
    assert ret[1, 1] / ret[1, 0] > ret[0, 1] / ret[0, 0]  # live orders come back more often
    kpis = kpi.compute(record)
    assert kpis["returns_pending_units"] == ret[:, 3].sum()
    assert 0 < kpis["restock_pending_units"] <= kpis["returns_pending_units"]


def test_recovery_is_censored_at_the_next_pulse() -> None:
    times = np.array([0.0, 10.0, 12.0, 30.0])
    levels = np.array([0, 50, 20, 0])
    # a pulse at 10 with the next at 20: backlog is not back to 0 by 20
    assert kpi.recovery_hours(times, levels, 10.0, 20.0) == (10.0, True)
    # with the window running to 40 it is back at 30
    assert kpi.recovery_hours(times, levels, 10.0, 40.0) == (20.0, False)
    # no rise above the pre-pulse level: nothing to recover
    assert kpi.recovery_hours(times, levels, 31.0, 40.0) == (0.0, False)


def test_recovery_kpis_flag_censoring(tiny: Scenario) -> None:
    res = run_replication(tiny, 0)
    assert res.kpis["recovery_censored:launch"] in (0.0, 1.0)
    if res.kpis["recovery_censored:launch"]:
        assert res.kpis["recovery_h:launch"] == pytest.approx(tiny.horizon - 48.0)


def test_traces_stack_and_unstack(tiny: Scenario) -> None:
    traces = [run_replication(tiny, r, trace=True).trace for r in range(2)]
    assert all(t is not None for t in traces)
    arrays = stack(traces)  # type: ignore[arg-type]
    assert arrays["on_hand"].shape[0] == 2
    back = unstack(arrays)
    assert np.array_equal(back[1].on_hand, traces[1].on_hand)  # type: ignore[union-attr]


def test_trace_does_not_change_kpis(tiny: Scenario) -> None:
    for rep in range(3):
        with_trace = run_replication(tiny, rep, trace=True)
        assert with_trace.trace is not None
        assert with_trace.kpis == run_replication(tiny, rep).kpis


def test_axes_name_every_row(record: RunRecord) -> None:
    axes, trace = axes_of(record), trace_of(record)
    assert len(axes.resources) == trace.busy.shape[0]
    assert len(axes.lanes) == trace.flows.shape[0]
    assert axes.sites == ("central", "fwd_north", "fwd_south")
    assert (record.outcomes.status == ALLOCATED).any()
