"""Order sourcing and dispatch policies: on hand-built States, then in the model.

Hand-built network: region `r` is served by forward `n` (carrier `fast`: 10 h, cost 5; `slow`:
20 h, cost 2, waves every 4 h) and by central `c` (carrier `road`: 30 h, cost 1); promise 48 h.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sourcing_network import NET

from twin.config import scenario_from_data
from twin.errors import ModelError
from twin.model.carrier import Waves
from twin.model.ledger import ALLOCATED, WAITING
from twin.model.world import World
from twin.policies import REGISTRY
from twin.policies.dispatch import CheapestOnTime, FastestCarrier
from twin.policies.sourcing import CheapestMeetingPromise, NearestWithStock
from twin.state import DispatchRule, SourcingRule, State

REPO = Path(__file__).resolve().parents[2]
TINY = yaml.safe_load((REPO / "scenarios" / "tiny.yaml").read_text())



def state(**kw: Any) -> State:
    base: dict[str, Any] = {"time": 5.0, "on_hand": {}, "inbound": {}, "backorders": {}}
    return State(**(base | kw))


def build(kind: str, **params: Any) -> Any:
    spec = REGISTRY.resolve(kind)
    return spec.build(spec.params(**params), NET)


# --- sourcing on hand-built states ---------------------------------------------------------------


def test_nearest_with_stock_is_the_networks_serving_order() -> None:
    rules = build("nearest_with_stock", split=True).decide(state())
    assert rules == [SourcingRule("r", ("n", "c"), True), SourcingRule("q", ("c",), True)]
    assert isinstance(build("nearest_with_stock"), NearestWithStock)


def test_cheapest_meeting_promise_ranks_by_cost_among_those_on_time() -> None:
    policy = build("cheapest_meeting_promise")
    assert isinstance(policy, CheapestMeetingPromise)
    # both on time (c: 0.5 + 30 = 30.5 h; n: 0.5 + 2 + 20 = 22.5 h): c's road (1.0) is cheapest
    assert policy.rank(state(), "r") == ("c", "n")
    # c's pick/pack queue is 18 h long: 48.5 h > 48 h, so n (on time) goes first
    assert policy.rank(state(pick_wait={"c": 18.0}), "r") == ("n", "c")
    # exactly on time counts: 17.5 + 0.5 + 30 = 48
    assert policy.rank(state(pick_wait={"c": 17.5}), "r") == ("c", "n")
    # a margin of 1 h asks for 47 h
    margin = build("cheapest_meeting_promise", margin="1h")
    assert margin.rank(state(pick_wait={"c": 17.5}), "r") == ("n", "c")
    # neither on time: the faster first (n by fast: 30 + 0.5 + 10 = 40.5 h < c's 60.5 h) ...
    late = state(pick_wait={"c": 30.0, "n": 30.0})
    assert policy.rank(late, "r") == ("n", "c")
    # ... and a closed warehouse last, whatever its cost
    assert policy.rank(state(closed=("c",)), "r") == ("n", "c")
    assert policy.decide(state())[0] == SourcingRule("r", ("c", "n"), False)


# --- dispatch on hand-built states ---------------------------------------------------------------


def test_cheapest_on_time_lists_carriers_cheapest_first_and_adds_waves_when_live() -> None:
    policy = build("cheapest_on_time", live_wave_every="1h")
    assert isinstance(policy, CheapestOnTime)
    quiet = policy.decide(state())
    assert quiet == [
        DispatchRule("n", "r", ("slow", "fast"), None),
        DispatchRule("c", "r", ("road",), None),
        DispatchRule("c", "q", ("road",), None),
    ]
    live = policy.decide(state(live_events=("launch",)))
    # only a lane with waves gets the live interval
    assert [r.wave_every for r in live] == [1.0, None, None]
    # without `live_wave_every`, waves never change
    assert [r.wave_every for r in build("cheapest_on_time").decide(state(live_events=("x",)))] == [
        None,
        None,
        None,
    ]


def test_fastest_carrier_lists_the_fastest_first() -> None:
    policy = build("fastest_carrier")
    assert isinstance(policy, FastestCarrier)
    assert policy.decide(state())[0] == DispatchRule("n", "r", ("fast", "slow"), None)


# --- waves that change their interval -------------------------------------------------------------


def waves(every: float, capacity: int | None = None) -> Waves:
    from twin.config.transport import WaveSpec

    return Waves(WaveSpec(every=every, capacity=capacity, cost_per_wave=7.0), horizon=100.0)


def test_waves_switch_interval_from_their_next_departure() -> None:
    w = waves(4.0)
    assert w.assign(1.0) == 4.0
    w.set_every(5.0, 1.0)  # next old departure at 8: from then on, hourly
    assert w.assign(5.5) == 8.0
    assert w.assign(8.2) == 9.0
    w.set_every(9.5, None)  # back to every 4 h from the next departure (10)
    assert w.assign(9.6) == 10.0
    assert w.assign(10.5) == 14.0
    assert w.launched == [4.0, 8.0, 9.0, 10.0, 14.0]


def test_waves_keep_assigned_orders_and_their_capacity_across_a_switch() -> None:
    w = waves(2.0, capacity=2)
    assert [w.assign(0.5) for _ in range(3)] == [2.0, 2.0, 4.0]
    w.set_every(0.6, 1.0)  # new schedule 2, 3, 4, ...: wave 2 is full, wave 4 has one order
    assert [w.assign(0.7) for _ in range(4)] == [3.0, 3.0, 4.0, 5.0]
    assert w.launched == [2.0, 4.0, 3.0, 5.0]


# --- in the model -----------------------------------------------------------------------------------


def tiny(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(TINY)
    data.update(changes)
    return data


def world(data: dict[str, Any]) -> World:
    w = World(scenario_from_data(data, "tiny.yaml"))
    w.run()
    return w


def last_mile_cost(w: World) -> float:
    return sum(v for (part, _, _), v in w.ledger.cost_book.items() if part == "transport_last_mile")


def source_counts(w: World, region: str) -> dict[str, int]:
    led = w.ledger
    g = w.regions.index(region)
    mine = (np.asarray(w._region) == g) & (np.asarray(led.status) == ALLOCATED)
    idx = np.asarray(led.warehouse)[mine]
    return {wh.id: int((idx == wh.index).sum()) for wh in w.warehouses}


def test_a_sourcing_rule_sends_orders_where_it_says() -> None:
    base = world(tiny())
    assert source_counts(base, "north")["fwd_north"] > 0.9 * sum(
        source_counts(base, "north").values()
    )
    # central's road (5) costs more than fwd_north's (3): make it cheaper so the rule prefers it
    data = tiny()
    for lane in data["lanes"]:
        if (lane["from"], lane["to"]) == ("central", "north"):
            lane["cost_per_shipment"] = 1
    data["policies"] = data["policies"] | {
        "sourcing": {"kind": "cheapest_meeting_promise", "review": "1h"}
    }
    cheap = world(data)
    counts = source_counts(cheap, "north")
    assert counts["central"] > 0.9 * sum(counts.values())
    rules = [d for _, p, d in cheap.ledger.decisions if p == "sourcing"]
    assert SourcingRule("north", ("central", "fwd_north"), False) in rules


def basket_data(split: bool) -> dict[str, Any]:
    """Lipstick only at fwd_north, serum only at central: a basket of both fits neither alone.

    Region west (served by central alone) is left out: its baskets would wait at central and,
    first come first served, hold central's serum back from everyone.
    """
    data = tiny()
    data["sites"] = copy.deepcopy(TINY["sites"])
    del data["sites"]["west"]
    data["lanes"] = [ln for ln in TINY["lanes"] if ln["to"] != "west"]
    data["sites"]["fwd_north"]["initial_stock"] = {"lipstick": 400, "serum": 0}
    data["sites"]["central"]["initial_stock"] = {"lipstick": 0, "serum": 400}
    data["demand"] = copy.deepcopy(TINY["demand"]) | {"basket": {"extra_lines_mean": 1.0}}
    data["horizon"] = "1d"
    data["demand"]["livestreams"] = {}
    data["policies"] = {"sourcing": {"kind": "nearest_with_stock", "review": "1d", "split": split}}
    return data


def test_split_ships_a_basket_from_two_warehouses_when_neither_holds_it_all() -> None:
    whole, split = world(basket_data(False)), world(basket_data(True))
    north = whole.regions.index("north")

    def mixed_baskets(w: World) -> np.ndarray:
        book = w.book
        multi = np.diff(book.extra_start) > 0
        mixed = np.zeros(len(book), bool)
        for i in np.flatnonzero(multi & (book.region == north)):
            skus = {k for k, _ in w._lines(int(i))}
            mixed[i] = skus == {0, 1}
        return np.flatnonzero(mixed)

    assert (mixed := mixed_baskets(whole)).size > 20
    assert np.all(np.asarray(whole.ledger.status)[mixed] == WAITING)  # nobody restocks them
    status = np.asarray(split.ledger.status)[mixed_baskets(split)]
    assert np.mean(status == ALLOCATED) > 0.9
    # both warehouses gave up stock for those baskets; the run's conservation check passed
    assert split.by_id["central"].stock[1] < 400
    assert split.by_id["fwd_north"].stock[0] < 400


def test_fastest_carrier_is_faster_and_dearer_on_the_same_seed() -> None:
    data = tiny()
    express = {
        "from": "fwd_north",
        "to": "north",
        "carrier": "express",
        "transit": {"dist": "gamma", "mean": "4h", "cv": 0.3},
        "cost_per_shipment": 9,
    }
    data["lanes"] = [*copy.deepcopy(TINY["lanes"]), express]
    cheap = world(data)
    data["policies"] = data["policies"] | {"dispatch": {"kind": "fastest_carrier", "review": "1d"}}
    fast = world(data)
    for w in (cheap, fast):
        assert w.ledger.status.count(ALLOCATED) > 1000

    def north_lead_time(w: World) -> float:
        o = w.ledger
        g = w.regions.index("north")
        mine = (np.asarray(w._region) == g) & (np.asarray(o.status) == ALLOCATED)
        return float(np.mean((np.asarray(o.delivered) - np.asarray(w._time))[mine]))

    assert north_lead_time(fast) < north_lead_time(cheap) - 5.0
    assert last_mile_cost(fast) > last_mile_cost(cheap) + 1000


def test_live_waves_cut_waiting_for_a_wave_during_a_livestream_and_cost_per_wave() -> None:
    data = tiny()
    data["lanes"] = copy.deepcopy(TINY["lanes"])
    for lane in data["lanes"]:
        if lane["to"] in ("north", "south", "west"):
            lane["waves"] = {"every": "12h", "cost_per_wave": 50}
    static = world(data)
    data["policies"] = data["policies"] | {
        "dispatch": {
            "kind": "cheapest_on_time",
            "review": "1h",
            "on_events": True,
            "live_wave_every": "1h",
        }
    }
    live = world(data)
    start, end = 48.0, 51.0  # the launch livestream

    def wait_for_wave(w: World) -> float:
        o = w.ledger
        t = np.asarray(w._time)
        mine = (t >= start) & (t < end) & (np.asarray(o.status) == ALLOCATED)
        return float(np.mean((np.asarray(o.shipped) - np.asarray(o.allocated))[mine]))

    assert wait_for_wave(live) < 0.5 * wait_for_wave(static)
    waves_static = sum(
        len(ln.waves.launched) for lanes in static.lanes.values() for ln in lanes if ln.waves
    )
    waves_live = sum(
        len(ln.waves.launched) for lanes in live.lanes.values() for ln in lanes if ln.waves
    )
    assert waves_live > waves_static
    for w in (static, live):  # every wave that left with an order was paid for
        left = sum(
            t < w.horizon
            for lanes in w.lanes.values()
            for ln in lanes
            if ln.waves
            for t in ln.waves.launched
        )
        per_order = sum(sum(days) for days in w._last_mile_cost)
        assert last_mile_cost(w) == pytest.approx(per_order + 50 * left, rel=1e-12)


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (SourcingRule("nowhere", ("central",)), "unknown region 'nowhere'"),
        (SourcingRule("west", ("fwd_north",)), "has no last-mile lane"),
        (SourcingRule("west", ()), "it needs at least one"),
        (DispatchRule("central", "west", ("ups",)), "unknown carrier"),
        (DispatchRule("fwd_north", "west", ("default",)), "no such lane"),
    ],
)
def test_a_rule_the_network_cannot_follow_is_a_model_error(decision: Any, message: str) -> None:
    w = World(scenario_from_data(tiny(), "tiny.yaml"))
    with pytest.raises(ModelError, match=message):
        w.execute([decision], "mine")
