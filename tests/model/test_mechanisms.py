"""Network mechanisms inside the whole model: each one switched on in `tiny.yaml` and watched run.

The unit behaviour of suppliers and carriers alone is in `test_supplier.py` and `test_carrier.py`;
here every mechanism runs inside `World` with demand, policies, the Ledger and its conservation
check, and the test reads what the model recorded (`RunRecord`, `world.lanes`, `world.factories`)
or what a monitor process added to `world.env` saw.

Tolerances: deterministic set-ups (constant rates and transit times) are checked exactly; random
proportions are checked within 4 binomial standard errors, sqrt(p(1 − p)/n), so a correct model
fails about once in 16 000 runs (and never, for the fixed seeds used here) while an error of a few
standard errors in the mechanism is caught.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from twin import kpi
from twin.config import scenario_from_data
from twin.config.schema import Scenario
from twin.model.ledger import ALLOCATED, CANCELLED, WAITING
from twin.model.world import RunRecord, World, simulate
from twin.state import (
    Decision,
    ElasticActivation,
    NetworkInfo,
    ProductionOrder,
    PurchaseOrder,
    State,
)

REPO = Path(__file__).resolve().parents[2]
TINY_DATA = yaml.safe_load((REPO / "scenarios" / "tiny.yaml").read_text(encoding="utf-8"))
EPS = 1e-6
"""Offset of a probe from an event time, so that the probe is unambiguously before or after it."""


# --- helpers ------------------------------------------------------------------------------------


def tiny() -> dict[str, Any]:
    """A fresh, editable copy of `scenarios/tiny.yaml`."""
    return copy.deepcopy(TINY_DATA)


def build(data: dict[str, Any]) -> Scenario:
    return scenario_from_data(data, "test")


def lane_spec(data: dict[str, Any], origin: str, destination: str) -> dict[str, Any]:
    (spec,) = [ln for ln in data["lanes"] if (ln["from"], ln["to"]) == (origin, destination)]
    return spec


def single_warehouse(data: dict[str, Any]) -> dict[str, Any]:
    """Tiny cut down to its central warehouse serving every region, constant 6 h last mile."""
    for sid in ("fwd_north", "fwd_south"):
        del data["sites"][sid]
    data["lanes"] = [ln for ln in data["lanes"] if "fwd" not in ln["from"] + ln["to"]]
    for ln in data["lanes"]:
        if ln["from"] == "central":
            ln["transit"] = "6h"
    return data


def script(world: World, t: float, decisions: list[Decision]) -> None:
    """Carry out `decisions` at time t, as a policy named `script` would."""

    def proc() -> Generator[Any, None, None]:
        yield world.env.timeout(t - world.env.now)
        world.execute(decisions, "script")

    world.env.process(proc())


def probe(world: World, times: list[float], fn: Callable[[], Any]) -> list[Any]:
    """Record `fn()` at each of `times` (ascending) while the world runs; filled in by `run()`."""
    out: list[Any] = []

    def proc() -> Generator[Any, None, None]:
        for t in times:
            yield world.env.timeout(t - world.env.now)
            out.append(fn())

    world.env.process(proc())
    return out


def within_binomial(successes: int, n: int, p: float, k: float = 4.0) -> tuple[float, float]:
    """(|p̂ − p|, k standard errors); the first must be below the second."""
    assert n > 0
    return abs(successes / n - p), k * math.sqrt(p * (1.0 - p) / n)


def index_of(record: RunRecord, warehouse: str) -> int:
    return record.warehouses.index(warehouse)


class Recorder:
    """A user policy (loaded by dotted path) that decides nothing and keeps every State it saw."""

    def __init__(self, params: Any, network: NetworkInfo) -> None:
        self.seen: list[State] = []

    def decide(self, state: State) -> list[Decision]:
        self.seen.append(state)
        return []


RECORDER = f"{Recorder.__module__}.{Recorder.__qualname__}"


# --- 1. elastic capacity ------------------------------------------------------------------------


def test_elastic_capacity_adds_its_rate_only_after_the_activation_delay() -> None:
    """Constant rates (60/h regular, 40/h elastic, lots of one hour starting on whole hours), so
    the units started per hour are exact: 60 before activation + delay, 100 after, 60 again once
    released (the lot in progress finishes)."""
    data = tiny()
    data["policies"] = {}
    world = World(build(data), 0)
    factory = world.factories["factory"]
    script(world, 0.0, [ProductionOrder("factory", "lipstick", 100_000, "central")])
    script(world, 20.0, [ElasticActivation("factory", True)])  # on at 26 (delay 6 h)
    script(world, 60.5, [ElasticActivation("factory", False)])  # off at once
    times = [n + 0.5 for n in range(95)]
    started = probe(world, times, lambda: sum(factory.started))
    status = probe(world, times, lambda: factory.elastic_status(world.env.now))
    record = world.run()

    per_hour = np.diff(started)  # units started in (n − 0.5, n + 0.5], n = 1..94
    hours = np.arange(1, 95)
    expected = np.where((hours >= 26) & (hours <= 60), 100, 60)
    np.testing.assert_array_equal(per_hour, expected)
    assert status[19] == "off" and status[20] == "pending" and status[25] == "pending"
    assert status[26] == "on" and status[61] == "off"
    elastic_units = 40 * (60 - 26 + 1)
    assert sum(factory.produced_elastic) == elastic_units
    assert record.costs["production_elastic"] == pytest.approx(elastic_units * (8 + 3))


@pytest.mark.parametrize(
    ("window", "hours_by_day"),
    [
        ({}, [24.0, 24.0, 24.0, 24.0]),
        ({"reserved_from": "5h", "reserved_until": "70h"}, [19.0, 24.0, 22.0]),
        ({"reserved_from": "30h", "reserved_until": "10d"}, [0.0, 18.0, 24.0, 24.0]),
    ],
)
def test_reservation_fee_accrues_unused(window: dict[str, str], hours_by_day: list[float]) -> None:
    """Fee × capacity × reserved hours inside the horizon, day by day, whether used or not."""
    data = tiny()
    del data["policies"]["elastic"]  # nothing ever activates the elastic capacity
    data["sites"]["factory"]["elastic"].update(window)
    record = simulate(build(data), 0)
    per_hour = 0.2 * 40
    assert record.costs["elastic_reserved"] == per_hour * sum(hours_by_day)
    booked = {
        day: v for (part, site, day), v in record.cost_book.items() if part == "elastic_reserved"
    }
    assert booked == {d: per_hour * h for d, h in enumerate(hours_by_day) if h}
    assert {site for (part, site, _) in record.cost_book if part == "elastic_reserved"} == {
        "factory"
    }
    assert record.costs.get("production_elastic", 0.0) == 0.0
    assert record.costs["production_regular"] > 0  # the factory did work, on its regular line only
    assert kpi.compute(record)["cost_elastic_reserved"] == per_hour * sum(hours_by_day)


# --- 2. scheduled line-haul ---------------------------------------------------------------------


def _overloaded_linehaul(cut: dict[str, Any] | None = None) -> tuple[World, RunRecord, list, list]:
    """Tiny with central→fwd_north leaving at 3.37 h + 12 h·k with room for 50 units (demand
    there is ~130 units per 12 h, so the dock fills up). Probes read the dock just before and
    just after each departure."""
    data = tiny()
    lane_spec(data, "central", "fwd_north")["departures"] = {
        "first": "3.37h",
        "every": "12h",
        "capacity": 50,
    }
    if cut is not None:
        data["disruptions"] = {"scheduled": [cut]}
    world = World(build(data), 0)
    lane = world.lanes[("central", "fwd_north")][0].scheduled
    assert lane is not None
    departures = [3.37 + 12 * k for k in range(8)]
    before = probe(world, [t - EPS for t in departures], lambda: lane.dock_units)
    after = probe(world, [t + EPS for t in departures], lambda: lane.dock_units)
    return world, world.run(), before, after


def test_linehaul_departures_respect_capacity_and_carry_the_rest_over() -> None:
    world, _, before, after = _overloaded_linehaul()
    lane = world.lanes[("central", "fwd_north")][0].scheduled
    assert lane is not None
    log = lane.departures_log
    assert len(log) >= 5
    for t, cap, loaded in log:
        assert cap == 50 and 0 <= loaded <= 50
        k = round((t - 3.37) / 12)
        # each departure loads all it can, FCFS: min(capacity, what waits), the rest stays
        assert loaded == min(50, before[k]), (t, before[k])
        assert after[k] == before[k] - loaded
    carried = [k for k in range(len(before)) if after[k] > 0]
    assert len(carried) >= 3  # overloaded: a carry-over, shipped on the next departures
    for k in carried[:-1]:
        assert before[k + 1] >= after[k]
    assert sum(loaded == 50 for _, _, loaded in log) >= 3
    loaded_total = sum(loaded for *_, loaded in log)
    assert loaded_total == sum(lane.sent) - lane.dock_units
    assert loaded_total == sum(lane.in_transit) + sum(lane.arrived)
    assert lane.dock_units > 0


def test_carrier_capacity_cut_limits_departures_in_its_window() -> None:
    cut = {
        "kind": "carrier_capacity_cut",
        "target": "central->fwd_north",
        "start": "30h",
        "duration": "40h",
        "severity": 0.6,
    }
    world, record, before, _ = _overloaded_linehaul(cut)
    lane = world.lanes[("central", "fwd_north")][0].scheduled
    assert lane is not None
    inside = [(t, cap, n) for t, cap, n in lane.departures_log if 30 <= t < 70]
    outside = [(t, cap, n) for t, cap, n in lane.departures_log if not 30 <= t < 70]
    assert len(inside) == 3 and len(outside) >= 3
    for t, cap, loaded in inside:
        assert cap == math.floor(50 * (1 - 0.6)) == 20
        assert loaded == min(20, before[round((t - 3.37) / 12)]) == 20
    assert all(cap == 50 for _, cap, _ in outside)
    assert [d.kind for d in record.disruptions] == ["carrier_capacity_cut"]


def test_wave_capacity_cut_limits_last_mile_waves_in_its_window() -> None:
    """fwd_north→north in waves every 2 h of 30 orders (~20 orders per wave on average), cut by
    60 % to 12 over [30 h, 54 h): the record's orders per wave never exceed the capacity then."""
    data = tiny()
    lane_spec(data, "fwd_north", "north")["waves"] = {"every": "2h", "capacity": 30}
    data["disruptions"] = {
        "scheduled": [
            {
                "kind": "carrier_capacity_cut",
                "target": "fwd_north->north",
                "start": "30h",
                "duration": "24h",
                "severity": 0.6,
            }
        ]
    }
    record = simulate(build(data), 0)
    o = record.outcomes
    fwd = index_of(record, "fwd_north")
    north = record.regions.index("north")
    mine = (o.status == ALLOCATED) & (o.warehouse == fwd) & (record.book.region == north)
    per_wave = Counter(np.round(o.shipped[mine], 6).tolist())
    assert all(abs(t / 2 - round(t / 2)) < 1e-6 for t in per_wave)  # they leave on waves
    inside = {t: n for t, n in per_wave.items() if 30 <= t < 54}
    assert inside and max(inside.values()) == 12  # full, and never above the cut capacity
    assert max(per_wave.values()) <= 30
    assert max(n for t, n in per_wave.items() if not 30 <= t < 54) > 12


# --- 3. returns ---------------------------------------------------------------------------------


def _returns_data() -> dict[str, Any]:
    data = tiny()
    data["horizon"] = "20d"
    data["demand"]["livestreams"]["launch"].update(
        {"duration": "3d", "decay": "1d", "uplift": {"p50": 6, "p90": 9}}
    )
    data["returns"] = {
        "baseline": {"probability": 0.1, "lag": {"dist": "lognormal", "mean": "2d", "cv": 0.5}},
        "live": {"probability": 0.35, "lag": {"dist": "lognormal", "mean": "1d", "cv": 0.5}},
    }
    for sid in ("central", "fwd_north", "fwd_south"):
        data["sites"][sid]["inspection"] = {"time": "2h", "restock_fraction": 0.6}
    return data


def test_returned_and_restocked_shares_converge_to_their_probabilities() -> None:
    record = simulate(build(_returns_data()), 0)
    book, o, h = record.book, record.outcomes, record.horizon_h
    delivered = (o.status == ALLOCATED) & (o.delivered < h)
    assert len(book.extra_sku) == 0  # one line per order: units are `quantity`
    for name, channel, p in (
        ("baseline", book.channel == 0, 0.1),
        ("live", book.channel > 0, 0.35),
    ):
        sel = delivered & channel
        n, returned = int(book.quantity[sel].sum()), int(book.return_units[sel].sum())
        err, tol = within_binomial(returned, n, p)
        assert err < tol, (name, returned / n, p, n)
        assert n > (8000 if name == "baseline" else 1000)  # so that 4 SE is < 0.013 and < 0.06
    # the model sends back exactly the drawn returns whose arrival falls inside the run
    back = delivered & (o.delivered + book.return_lag < h)
    assert record.returns_received == int(book.return_units[back].sum())
    # restocked share of inspected returns (no factory scrap here: yield 1)
    assert sum(b.scrapped for b in record.balances) == record.scrapped
    # every return is inspected 2 h after it arrives (no inspector limit), unless past the end
    inspected = record.restocked + record.scrapped
    assert inspected == int(book.return_units[back & (o.delivered + book.return_lag + 2 < h)].sum())
    err, tol = within_binomial(record.restocked, inspected, 0.6)
    assert err < tol, (record.restocked / inspected, inspected)


@pytest.mark.parametrize(("to", "sites"), [("central", {"central"}), (None, None)])
def test_returns_go_where_configured(to: str | None, sites: set[str] | None) -> None:
    data = tiny()
    data["returns"]["to"] = to
    record = simulate(build(data), 0)
    assert record.returns_received > 0
    booked = {site for (part, site, _) in record.cost_book if part == "returns"}
    if sites is not None:
        assert booked == sites
    else:  # back to the shipping warehouses: forward ones too (so the check above can fail)
        assert {"fwd_north", "fwd_south"} <= booked


# --- 4. pre-sale --------------------------------------------------------------------------------


def _presale_data() -> dict[str, Any]:
    data = tiny()
    data["horizon"] = "6d"
    data["demand"]["livestreams"]["launch"]["presale"] = {
        "share": 0.3,
        "opens": "1d",
        "promise": "4d",
    }
    data["policies"]["watch"] = {"kind": RECORDER, "review": "2h"}
    return data


def test_presale_is_visible_before_the_event_and_released_at_its_start() -> None:
    world = World(build(_presale_data()), 0)
    (watcher,) = [p for name, _, p in world.policies if name == "watch"]
    record = world.run()
    book, o = record.book, record.outcomes
    start, promise = 48.0, 96.0
    pre = book.presale
    assert pre.sum() > 20
    assert np.all(book.created[pre] < start) and np.all(book.created[pre] >= start - 24)
    assert np.all(book.time[pre] == start)
    assert np.all(book.promised[pre] == start + promise)
    assert np.all(book.channel[pre] == 1)
    assert np.all(book.sku[pre] == 0)  # only lipstick is featured
    assert np.all(book.created[~pre] == book.time[~pre])
    # released at the start: none is sourced before it
    done = o.status[pre] == ALLOCATED
    assert done.any() and np.all(o.allocated[pre][done] >= start)
    # what the planner sees: units pre-ordered so far and not yet released, never the future
    nonzero = 0
    for state in watcher.seen:
        t = state.time
        open_ = pre & (book.created <= t) & (book.time > t)
        expected = int(book.quantity[open_].sum())
        assert state.presale_open.get("lipstick", 0) == expected, t
        assert "serum" not in state.presale_open
        if 24 < t < start:
            nonzero += expected > 0
        if t >= start:
            assert state.presale_open == {}
    assert nonzero >= 10  # reviews at 26, 28, ..., 46 h all see open pre-orders


def test_presale_share_of_event_orders_matches_the_configured_share() -> None:
    """Over 16 replications (~3 000 event orders) the pre-sale share is 0.3 within 4 SE (~0.034)."""
    scenario = build(_presale_data())
    presale = event = 0
    for r in range(16):
        book = World(scenario, r).book
        presale += int(book.presale.sum())
        event += int((book.channel == 1).sum())
    err, tol = within_binomial(presale, event, 0.3)
    assert err < tol, (presale / event, event)


# --- 5. baskets and replays ---------------------------------------------------------------------


def test_multi_line_orders_are_allocated_whole_from_one_warehouse() -> None:
    """Serum runs out (60 per warehouse, no replenishment); an order with a serum line then
    waits as a whole: its lipstick is not taken either. Stock at every warehouse, probed every
    6 minutes, equals its initial stock minus every line of the orders the record says were
    allocated there before (so each order's lines all left that warehouse, at that time)."""
    data = tiny()
    data["policies"] = {}
    data["returns"] = {}
    data["demand"]["basket"] = {"extra_lines_mean": 1.0}
    for sid in ("central", "fwd_north", "fwd_south"):
        data["sites"][sid]["initial_stock"] = {"lipstick": 3000, "serum": 60}
    world = World(build(data), 0)
    times = [0.1 * n + 0.05 for n in range(960)]
    stock = probe(world, times, lambda: [list(w.stock) for w in world.warehouses])
    record = world.run()
    book, o = record.book, record.outcomes
    owner, sku, qty, _ = book.lines()
    multi = np.bincount(owner, minlength=len(book)) > 1
    allocated = o.status == ALLOCATED
    assert (multi & allocated).sum() > 50  # some whole baskets went out
    stock_arr = np.array(stock)  # (time, warehouse, SKU)
    for w in range(len(record.warehouses)):
        for k in (0, 1):
            lines = (allocated & (o.warehouse == w))[owner] & (sku == k)
            when = o.allocated[owner[lines]]
            order = np.argsort(when)
            taken = np.concatenate([[0], np.cumsum(qty[lines][order])])
            expected = [3000, 60][k] - taken[np.searchsorted(when[order], times)]
            np.testing.assert_array_equal(stock_arr[:, w, k], expected, err_msg=f"{w} {k}")
    # serum runs out everywhere (order lines are of one unit); from then on an order with a
    # serum line waits as a whole (its lipstick stays on the shelf: the accounting above). Some
    # lipstick-only orders still go out; most queue FCFS behind the waiting baskets, whose
    # lipstick lines hold the head of their home warehouse's lipstick queue.
    out = next(j for j in range(len(times)) if not stock_arr[j, :, 1].any())
    has_serum = np.bincount(owner[sku == 1], minlength=len(book)) > 0
    later = book.time > times[out]
    assert np.sum(later & has_serum & multi) > 100
    assert set(o.status[later & has_serum].tolist()) <= {WAITING, CANCELLED}
    assert np.sum(later & ~has_serum & allocated) > 10
    assert stock_arr[-1, :, 0].min() > 1000  # lipstick never ran short


def test_replay_is_a_second_pulse_with_a_fraction_of_the_uplift() -> None:
    data = tiny()
    data["demand"]["livestreams"]["launch"]["replay"] = {
        "after": "20h",
        "uplift_fraction": 0.25,
        "duration": "2h",
        "decay": "40min",
    }
    scenario = build(data)
    observed = expected = 0.0
    base_lipstick = 20 * 2 / 3  # orders/h over all regions
    for r in range(4):
        world = World(scenario, r)
        main, replay = world.pulses
        assert (main.name, replay.name) == ("launch", "launch/replay")
        assert replay.replay and not main.replay and replay.event == main.event == 0
        assert (replay.start, replay.duration, replay.decay) == (68.0, 2.0, pytest.approx(2 / 3))
        assert replay.uplift == pytest.approx(1 + 0.25 * (main.uplift - 1), rel=1e-12)
        book = world.book
        mine = book.channel == 2
        assert np.all((book.time[mine] >= 68) & (book.time[mine] < 70))
        assert np.all(book.sku[mine] == 0) and not book.presale.any()
        observed += mine.sum()
        expected += base_lipstick * (replay.uplift - 1) * (2 / 3) * (1 - math.exp(-3))
    # Poisson count: within 4 standard deviations of the integral of the replay's intensity
    assert abs(observed - expected) < 4 * math.sqrt(expected), (observed, expected)


# --- 6. disruptions -----------------------------------------------------------------------------


def _closure(target: str, start: str, duration: str) -> dict[str, Any]:
    return {"kind": "warehouse_closure", "target": target, "start": start, "duration": duration}


def test_warehouse_closure_sources_nothing_new_and_starts_no_pick_pack() -> None:
    """fwd_north closed over [30 h, 42 h) with a slow pick/pack (so orders queue there)."""
    data = tiny()
    data["sites"]["fwd_north"]["pick_pack"] = {"workers": 2, "rate": 6}
    data["disruptions"] = {"scheduled": [_closure("fwd_north", "30h", "12h")]}
    record = simulate(build(data), 0)
    book, o = record.book, record.outcomes
    fwd = o.warehouse == index_of(record, "fwd_north")
    at_fwd = (o.status == ALLOCATED) & fwd
    released_inside = (book.time >= 30) & (book.time < 42)
    # new orders of the window are not sourced there (they go to central instead)
    assert not np.any(at_fwd & released_inside & (o.allocated < 42))
    north = book.region == record.regions.index("north")
    assert np.sum(released_inside & north & (o.status == ALLOCATED) & ~fwd) > 50
    # no pick/pack starts inside: what leaves in the window started before it, one per worker
    leaving = at_fwd & (o.shipped >= 30) & (o.shipped < 42)
    assert leaving.sum() <= 2
    assert np.all(o.allocated[leaving] < 30)
    queued = at_fwd & (o.allocated < 30) & (o.shipped >= 42)  # waited for the reopening
    assert queued.sum() >= 1


# Regression: stock arriving at a closed warehouse (a put-away, a restocked return) was once
# allocated to waiting orders during the closure.
def test_no_order_is_allocated_at_a_closed_warehouse_even_when_stock_arrives() -> None:
    data = single_warehouse(tiny())
    data["policies"] = {}
    data["sites"]["central"]["initial_stock"] = 100_000
    data["disruptions"] = {"scheduled": [_closure("central", "24h", "24h")]}
    record = simulate(build(data), 0)
    o = record.outcomes
    inside = (o.status == ALLOCATED) & (o.allocated >= 24) & (o.allocated < 48)
    assert not inside.any(), sorted(o.allocated[inside])[:3]


# Regression: orders that queued at a closed warehouse once waited past its reopening, until the
# next stock arrival or cancellation woke the queue.
def test_orders_queued_during_a_closure_are_served_when_it_reopens() -> None:
    data = single_warehouse(tiny())
    data["policies"] = {}
    data["returns"] = {}  # no restocks: nothing else wakes the queue
    data["sites"]["central"]["initial_stock"] = 100_000
    data["disruptions"] = {"scheduled": [_closure("central", "24h", "24h")]}
    record = simulate(build(data), 0)
    book, o = record.book, record.outcomes
    inside = (book.time >= 24) & (book.time < 48)
    assert inside.sum() > 300
    assert np.all(o.status[inside] == ALLOCATED), Counter(o.status[inside].tolist())
    assert np.all(o.allocated[inside] < 49)


@pytest.mark.parametrize(
    ("factory", "line", "elastic", "per_hour_in", "per_hour_out"),
    [
        ({}, None, False, 0, 60),  # the only line stops
        ({"lines": {"a": {"capacity": 60}, "b": {"capacity": 30}}}, "a", False, 30, 90),
        ({}, None, True, 40, 100),  # all regular lines stop; the elastic line goes on
    ],
    ids=["one-line", "named-line", "elastic-goes-on"],
)
def test_line_down_starts_no_production_on_the_line_in_its_window(
    factory: dict[str, Any],
    line: str | None,
    elastic: bool,
    per_hour_in: int,
    per_hour_out: int,
) -> None:
    """Lots of one hour on whole hours; the line is down over [20.25 h, 30.25 h): the lot of 20 h
    finishes, no lot starts on it until 30.25 h (so exactly `per_hour_in` per hour start, from
    the other lines)."""
    data = tiny()
    data["policies"] = {}
    spec = data["sites"]["factory"]
    if factory:
        del spec["capacity"]
        spec.update(factory)
    down = {"kind": "line_down", "target": "factory", "start": "20.25h", "duration": "10h"}
    if line is not None:
        down["line"] = line
    data["disruptions"] = {"scheduled": [down]}
    world = World(build(data), 0)
    f = world.factories["factory"]
    script(world, 0.0, [ProductionOrder("factory", "lipstick", 100_000, "central")])
    if elastic:
        script(world, 0.0, [ElasticActivation("factory", True)])  # on from 6 h
    times = [19.5, 20.5, *[n + 0.5 for n in range(21, 30)], 30.2, 30.3, 31.3]
    probed = probe(world, times, lambda: sum(f.started))
    world.run()
    started = dict(zip(times, probed, strict=True))
    assert started[20.5] - started[19.5] == per_hour_out  # the lot of 20 h started
    assert started[30.2] - started[20.5] == per_hour_in * 10  # other lines at 21, ..., 30 h
    assert started[30.3] - started[30.2] == per_hour_out - per_hour_in  # back up at 30.25 h
    assert started[31.3] - started[30.3] == per_hour_out


def _supplied_data() -> dict[str, Any]:
    """Tiny whose lipstick needs a tube per unit, bought from a strategic supplier (10 tubes/h,
    5 h lead time) or an agile one."""
    data = tiny()
    data["policies"] = {}
    data["returns"] = {}
    factory = data["sites"]["factory"]
    factory["bom"] = {"lipstick": {"tube": 1}}
    del factory["elastic"]
    data["sites"]["strat"] = {
        "kind": "supplier",
        "tier": "strategic",
        "location": [0, 10],
        "components": {"tube": {"price": 1.0}},
        "capacity_per_day": 240,
        "lead_time": "5h",
    }
    data["sites"]["agile"] = {
        "kind": "supplier",
        "tier": "agile",
        "location": [0, 20],
        "components": {"tube": {"price": 1.5}},
        "capacity_per_day": 2400,
        "lead_time": "2h",
    }
    return data


def test_supplier_outage_stops_deliveries_for_its_window_plus_lead_time() -> None:
    """Chunks of 10 tubes leave on whole hours and arrive 5 h later; down over [20.5, 40.5): the
    chunk of 20 h pauses, nothing arrives from 25 h (the last shipped before) to 46 h."""
    data = _supplied_data()
    data["disruptions"] = {
        "scheduled": [
            {"kind": "supplier_outage", "target": "strat", "start": "20.5h", "duration": "20h"}
        ]
    }
    world = World(build(data), 0)
    f, s = world.factories["factory"], world.suppliers["strat"]
    script(
        world,
        0.0,
        [
            ProductionOrder("factory", "lipstick", 10_000, "central"),
            PurchaseOrder("strat", "tube", 10_000, "factory"),
        ],
    )
    times = [n + 0.5 for n in range(60)]
    got = probe(world, times, lambda: (s.delivered["tube"], f.received["tube"], sum(f.started)))
    states = probe(world, [30.0, 45.0], world.snapshot)
    world.run()
    delivered = dict(zip(times, got, strict=True))
    assert delivered[25.5] == (200, 200, 200)  # chunks shipped at 1, ..., 20 h
    for t in times:
        if 25.5 <= t < 45.5:
            assert delivered[t] == delivered[25.5], t  # nothing delivered, nothing made
    assert delivered[46.5][0] == 210 and delivered[47.5][0] == 220  # resumes at 41 h + 5 h
    assert s.outage_log == [(20.5, 40.5)]
    assert states[0].suppliers["strat"].status == "down"
    assert states[1].suppliers["strat"].status == "up"
    assert states[0].suppliers["agile"].status == "up"


def test_lead_time_spike_stretches_the_lead_time_of_chunks_dispatched_in_its_window() -> None:
    """Spike ×3 over [10.5 h, 15.5 h): the chunks dispatched at 11, ..., 15 h take 15 h, not 5 h."""
    data = _supplied_data()
    data["disruptions"] = {
        "scheduled": [
            {
                "kind": "lead_time_spike",
                "target": "strat",
                "start": "10.5h",
                "duration": "5h",
                "severity": 3,
            }
        ]
    }
    world = World(build(data), 0)
    s = world.suppliers["strat"]
    script(world, 0.0, [PurchaseOrder("strat", "tube", 10_000, "factory")])
    times = [n + 0.5 for n in range(40)]
    got = probe(world, times, lambda: s.delivered["tube"])
    world.run()
    dispatched = np.arange(1, 41)  # a chunk of 10 on every whole hour
    arrival = dispatched + np.where((dispatched >= 10.5) & (dispatched < 15.5), 15, 5)
    expected = [10 * int(np.sum(arrival < t)) for t in times]
    assert got == expected


def test_procurement_buys_from_agile_while_the_strategic_supplier_is_down() -> None:
    """components_s_S (s 50, S 200, review 2 h) with the factory eating 60 tubes/h. The outage
    starts just before the review of 20 h, when the strategic supplier has nothing pending, so
    each purchase of the window goes to the agile supplier and every other one to the strategic.
    (An order already at a supplier that goes down keeps counting in the position, so an outage
    starting just after a purchase would see no purchase at all: that is the policy's rule.)"""
    data = _supplied_data()
    data["sites"]["strat"]["capacity_per_day"] = 2400
    data["policies"] = {
        "procurement": {"kind": "components_s_S", "review": "2h", "s": 50, "S": 200},
    }
    data["disruptions"] = {
        "scheduled": [
            {"kind": "supplier_outage", "target": "strat", "start": "19.5h", "duration": "20h"}
        ]
    }
    world = World(build(data), 0)
    script(world, 0.0, [ProductionOrder("factory", "lipstick", 100_000, "central")])
    record = world.run()
    bought = [(t, d) for t, name, d in record.decisions if name == "procurement"]
    inside = {d.supplier for t, d in bought if 19.5 <= t < 39.5}
    outside = {d.supplier for t, d in bought if not 19.5 <= t < 39.5}
    assert inside == {"agile"} and outside == {"strat"}
    assert all(d.component == "tube" and d.factory == "factory" for _, d in bought)
    assert sum(world.suppliers["agile"].delivered.values()) > 0
    (tubes,) = record.components
    assert tubes.consumed == tubes.bom_need == sum(world.factories["factory"].started)


def _random_closures(extra_warehouse: bool = False) -> dict[str, Any]:
    data = tiny()
    data["horizon"] = "10d"
    data["disruptions"] = {
        "random": [
            {
                "kind": "warehouse_closure",
                "targets": ["fwd_north", "fwd_south"],
                "mtbf": "2d",
                "duration": {"dist": "lognormal", "mean": "8h", "cv": 0.5},
            }
        ]
    }
    if extra_warehouse:
        data["sites"]["fwd_east"] = copy.deepcopy(data["sites"]["fwd_north"]) | {
            "location": [50, 0]
        }
        data["lanes"].append(dict(lane_spec(data, "central", "fwd_north"), to="fwd_east"))
        data["disruptions"]["random"][0]["targets"].append("fwd_east")
    return data


def test_random_disruptions_are_drawn_per_replication_from_named_streams() -> None:
    base = build(_random_closures())
    grown = build(_random_closures(extra_warehouse=True))
    windows = {r: World(base, r).disruptions for r in range(3)}
    assert all(len(w) >= 2 for w in windows.values())
    assert windows[0] == World(base, 0).disruptions  # same seed, same windows
    assert windows[0] != windows[1] != windows[2]
    for r in range(3):
        again = [d for d in World(grown, r).disruptions if d.target != "fwd_east"]
        assert again == windows[r]  # another warehouse (and its own closures) changes nothing
    world = World(base, 0)  # and the world applies them
    for w in world.warehouses:
        mine = [(d.start, d.end) for d in world.disruptions if d.target == w.id]
        assert w.closures == mine == w.pick_pack.closures


def test_otd_split_by_disruption_in_a_case_built_to_hurt() -> None:
    """The only warehouse is closed over [24 h, 48 h); SLA 12 h, last mile 6 h. An order created
    in the window is sourced at 48 h at the earliest, so it can be on time only if created after
    42 h: otd_disrupted is at most that share, while other orders are on time."""
    data = single_warehouse(tiny())
    data["policies"] = {}
    data["sites"]["central"]["initial_stock"] = 100_000
    for region in ("north", "south", "west"):
        data["sites"][region]["sla"] = "12h"
    plain = kpi.compute(simulate(build(data), 0))
    assert "otd_disrupted" not in plain and "otd_normal" not in plain
    data["disruptions"] = {"scheduled": [_closure("central", "24h", "24h")]}
    record = simulate(build(data), 0)
    k = kpi.compute(record)
    created = record.book.created
    window = (created >= 24) & (created < 48)
    bound = float(np.sum(created[window] >= 42) / window.sum())
    assert k["otd_disrupted"] <= bound < 0.35
    assert k["otd_normal"] > 0.95
    assert plain["otd"] > 0.95 and k["otd"] < plain["otd"] - 0.1
    assert {"fill_rate_disrupted", "fill_rate_normal"} <= set(k)


# --- 7. the factory -----------------------------------------------------------------------------


def _factory_only(**factory: Any) -> dict[str, Any]:
    data = tiny()
    data["policies"] = {}
    data["returns"] = {}
    spec = data["sites"]["factory"]
    del spec["elastic"]
    spec.update(factory)
    return data


def test_yield_scraps_its_share_and_remakes_it() -> None:
    """Yield 0.9 over ~5 700 units started: scrapped share 0.1 within 4 SE (0.016); an order of
    500 good units is met exactly, the scrap made again."""
    world = World(build(_factory_only(**{"yield": 0.9})), 0)
    script(
        world,
        0.0,
        [
            ProductionOrder("factory", "serum", 500, "central", priority=1),
            ProductionOrder("factory", "lipstick", 100_000, "central"),
        ],
    )
    record = world.run()
    f = world.factories["factory"]
    finished = sum(f.started) - sum(f.wip)
    err, tol = within_binomial(sum(f.scrapped), finished, 0.1)
    assert err < tol, (sum(f.scrapped) / finished, finished)
    assert finished > 5000
    serum = record.skus.index("serum")
    assert f.started[serum] - f.scrapped[serum] == 500 and f.wip[serum] == 0
    assert f.started[serum] > 500 and f.queued[serum] == 0
    assert record.scrapped == sum(f.scrapped)


@pytest.mark.parametrize(
    ("pattern", "changeover", "switches"),
    [("ABABAB", "30min", 5), ("AAABBB", "30min", 1), ("ABABAB", 0, 0)],
)
def test_changeover_costs_its_time_at_each_switch(
    pattern: str, changeover: str | int, switches: int
) -> None:
    """One line at 60/h, six orders of 60 units (one hour each): the last lot is done at exactly
    6 h + switches × 30 min."""
    world = World(build(_factory_only(changeover=changeover)), 0)
    sku = {"A": "lipstick", "B": "serum"}
    script(world, 0.0, [ProductionOrder("factory", sku[c], 60, "central") for c in pattern])
    end = 6.0 + switches * 0.5
    f = world.factories["factory"]
    busy = probe(world, [end - 0.01, end + 0.01], lambda: (sum(f.started), sum(f.wip)))
    world.run()
    assert busy == [(360, 60), (360, 0)]
    (line,) = f.lines
    assert line.busy_hours == end


@pytest.mark.parametrize(("components", "started"), [(0, 0), (2 * 37 + 1, 37)])
def test_bill_of_materials_limits_production_to_the_components_at_hand(
    components: int, started: int
) -> None:
    """Two tubes per lipstick, no supplier: exactly floor(tubes / 2) lipsticks are started."""
    data = _factory_only(bom={"lipstick": {"tube": 2}}, initial_components={"tube": components})
    world = World(build(data), 0)
    script(
        world,
        0.0,
        [
            ProductionOrder("factory", "lipstick", 1000, "central"),
            ProductionOrder("factory", "serum", 120, "central"),  # needs no components
        ],
    )
    record = world.run()
    f = world.factories["factory"]
    assert f.started == [started, 120]
    (tubes,) = record.components
    assert (tubes.initial, tubes.received, tubes.consumed, tubes.on_hand) == (
        components,
        0,
        2 * started,
        components - 2 * started,
    )
    assert tubes.bom_need == tubes.consumed
    assert f.queued[0] == 1000 - started  # the rest waits for components


# --- 8. carrier choice --------------------------------------------------------------------------


def test_carrier_choice_cheapest_meeting_the_promise_on_average_else_fastest() -> None:
    """Two carriers out of each forward warehouse: `slow` (28 or 32 h, mean 30 h, cost 1) and
    `fast` (5 or 7 h, mean 6 h, cost 4 + 0.5/unit). North promises 24 h (slow never makes it on
    average), south 36 h; fwd_south's pick/pack is near saturation, so some of its orders are
    ready too late for the slow carrier."""
    data = tiny()
    data["sites"]["north"]["sla"] = "24h"
    data["sites"]["south"]["sla"] = "36h"
    data["sites"]["fwd_south"]["pick_pack"] = {"workers": 1, "rate": 5.3}
    for fwd, region in (("fwd_north", "north"), ("fwd_south", "south")):
        data["lanes"].remove(lane_spec(data, fwd, region))
        data["lanes"] += [
            {
                "from": fwd,
                "to": region,
                "carrier": "slow",
                "transit": {"dist": "empirical", "values": [28, 32]},
                "cost_per_shipment": 1,
            },
            {
                "from": fwd,
                "to": region,
                "carrier": "fast",
                "transit": {"dist": "empirical", "values": ["5h", "7h"]},
                "cost_per_shipment": 4,
                "cost_per_unit": 0.5,
            },
        ]
    world = World(build(data), 0)
    record = world.run()
    book, o = record.book, record.outcomes
    units = book.units
    for fwd, region in (("fwd_north", "north"), ("fwd_south", "south")):
        slow, fast = (
            next(ln for ln in world.lanes[(fwd, region)] if ln.carrier == c)
            for c in ("slow", "fast")
        )
        assert (slow.mean_transit, fast.mean_transit) == (30.0, 6.0)
        mine = np.flatnonzero((o.status == ALLOCATED) & (o.warehouse == index_of(record, fwd)))
        transit = o.delivered[mine] - o.shipped[mine]
        used_slow = np.isin(np.round(transit, 9), [28, 32])
        used_fast = np.isin(np.round(transit, 9), [5, 7])
        assert np.all(used_slow | used_fast)
        meets = o.shipped[mine] + 30.0 <= book.promised[mine]
        np.testing.assert_array_equal(used_slow, meets)
        cost = np.where(used_slow, 1.0, 4.0 + 0.5 * units[mine]).sum()
        booked = sum(
            v
            for (part, site, _), v in record.cost_book.items()
            if part == "transport_last_mile" and site == fwd
        )
        assert booked == pytest.approx(cost, rel=1e-12)
        if region == "north":
            assert used_fast.all()
        else:
            assert used_slow.sum() > 100 and used_fast.sum() > 20, (
                used_slow.sum(),
                used_fast.sum(),
            )
