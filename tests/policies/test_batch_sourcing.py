"""Batch order sourcing (`min_cost_batch`): the exact assignment, in the model and on its own.

Hand-built network (`stranding`): forward `fa` (30 units) serves regions `a` and `b`; central `c`
(1000 units) serves `a` only, at a dearer lane (1.5 a shipment against fa's 1.0). Nothing is
replenished. One-unit orders arrive at 10 an hour in each region. Greedy sourcing (nearest with
stock, or cheapest meeting the promise: both rank fa first for `a`) lets a's orders take fa's
stock, and b's orders, which only fa can serve, are stranded. A batch sees both regions' orders
together and gives fa's units to b, sending a to c.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sourcing_network import NET

from twin.config import scenario_from_data
from twin.errors import ConfigError, ModelError
from twin.kpi import compute
from twin.model.batching import BatchRule, BatchStats, Held, assign, closes_at
from twin.model.ledger import ALLOCATED, CANCELLED, NEW, WAITING
from twin.model.world import World, build_policies
from twin.network import network_info
from twin.operate.snapshot import state_from_tables, tables_from_world
from twin.operate.store import open_store, state_digest
from twin.policies import REGISTRY
from twin.policies.sourcing import MinCostBatch
from twin.state import (
    BatchOption,
    BatchSourcing,
    SourcingRule,
    State,
    decision_to_dict,
)

REPO = Path(__file__).resolve().parents[2]
TINY = yaml.safe_load((REPO / "scenarios" / "tiny.yaml").read_text())

STRANDING: dict[str, Any] = {
    "name": "stranding",
    "seed": 3,
    "horizon": "1d",
    "skus": {"gloss": {"unit_cost": 5, "price": 20}},
    "sites": {
        "f": {"kind": "factory", "location": [0, 0], "capacity": 10},
        "c": {
            "kind": "warehouse",
            "role": "central",
            "location": [0, 0],
            "initial_stock": 1000,
            "pick_pack": {"workers": 10, "rate": 100},
        },
        "fa": {
            "kind": "warehouse",
            "role": "forward",
            "location": [50, 0],
            "initial_stock": 30,
            "pick_pack": {"workers": 10, "rate": 100},
        },
        "a": {"kind": "region", "location": [60, 10], "sla": "48h", "patience": "12h"},
        "b": {"kind": "region", "location": [60, -10], "sla": "48h", "patience": "12h"},
    },
    "lanes": [
        {"from": "f", "to": "c", "transit": "4h"},
        {"from": "c", "to": "fa", "transit": "8h"},
        {"from": "fa", "to": "a", "transit": "2h", "cost_per_shipment": 1.0},
        {"from": "fa", "to": "b", "transit": "2h", "cost_per_shipment": 1.0},
        {"from": "c", "to": "a", "transit": "10h", "cost_per_shipment": 1.5},
    ],
    "demand": {"baseline": {"orders_per_hour": 20}},
    "policies": {},
}


def stranding(sourcing: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(STRANDING)
    data["policies"] = {"sourcing": {"review": "1d", **sourcing}}
    return data


def run(data: dict[str, Any], replication: int = 0) -> World:
    world = World(scenario_from_data(data, "test.yaml"), replication)
    world.record = world.run()  # type: ignore[attr-defined]
    return world


def served(world: World, region: str, warehouse: str | None = None) -> int:
    """Orders of `region` given stock (from `warehouse`, when named)."""
    led = world.ledger
    mine = (np.asarray(world._region) == world.regions.index(region)) & (
        np.asarray(led.status) == ALLOCATED
    )
    if warehouse is not None:
        mine &= np.asarray(led.warehouse) == world.by_id[warehouse].index
    return int(mine.sum())


# --- in the model -------------------------------------------------------------------------------


def test_a_batch_gives_scarce_forward_stock_to_the_region_that_has_no_other_source() -> None:
    nearest = run(stranding({"kind": "nearest_with_stock"}))
    cheapest = run(stranding({"kind": "cheapest_meeting_promise"}))
    batch = run(stranding({"kind": "min_cost_batch", "every": "4h"}))
    # paired: the same seed draws the same orders for all three
    for other in (cheapest, batch):
        assert np.array_equal(other.book.time, nearest.book.time)
        assert np.array_equal(other.book.region, nearest.book.region)
    b_orders = int((nearest.book.region == nearest.regions.index("b")).sum())
    assert b_orders > 100  # far more than fa's 30 units: b's orders compete for them
    for greedy in (nearest, cheapest):
        # a's early orders take some of fa's 30 units; b, with no other source, gets the rest
        assert served(greedy, "a", "fa") > 5
        assert served(greedy, "b") == 30 - served(greedy, "a", "fa")
    # the batch gives all 30 to b, and serves every order of a from c
    assert served(batch, "a", "fa") == 0
    assert served(batch, "b") == 30
    assert batch.batch_stats.solved >= 1  # fa was short in a batch: the MIP decided
    # more orders served, fewer lost: count orders that came before the batch's last close (20 h)
    # (later ones are still held at the horizon under the batch)
    early = nearest.book.time < 20.0
    total = {
        w: int(((np.asarray(w.ledger.status) == ALLOCATED) & early).sum())
        for w in (nearest, cheapest, batch)
    }
    assert total[batch] == total[nearest] + served(nearest, "a", "fa")
    assert total[batch] == total[cheapest] + served(cheapest, "a", "fa")
    lost = {w: compute(w.record)["lost_sales"] for w in (nearest, batch)}  # type: ignore[attr-defined]
    assert lost[batch] == lost[nearest] - served(nearest, "a", "fa")
    # the price: every order of a goes by the dearer lane from c
    assert served(batch, "a", "c") == served(batch, "a") > 100


def test_every_order_is_sourced_or_still_held_at_the_horizon_and_units_are_conserved() -> None:
    # tiny with baskets split across warehouses, a closure of fwd_north, replenishment running,
    # and 1 h batches: held orders must all come out again (the run checks conservation itself)
    data = copy.deepcopy(TINY)
    data["demand"]["basket"] = {"extra_lines_mean": 0.5}
    data["disruptions"] = {
        "scheduled": [
            {"kind": "warehouse_closure", "target": "fwd_north", "start": "1d", "duration": "10h"}
        ]
    }
    data["policies"]["sourcing"] = {
        "kind": "min_cost_batch",
        "review": "6h",
        "every": "1h",
        "split": True,
        "unserved_penalty": 2.0,  # cheaper than some lanes: the batch leaves orders, they fall back
    }
    world = run(data, 1)
    record = world.record  # type: ignore[attr-defined]
    assert all(b.sources == b.uses for b in record.balances)
    assert sum(b.delivered for b in record.balances) > 1000
    status = np.asarray(world.ledger.status)
    held = np.array([closes_at(t, 1.0) >= world.horizon for t in world.book.time])
    assert 0 < held.sum() < 100
    # an order never vanishes: it is allocated, waiting or cancelled, unless its batch closes at
    # or after the horizon (then it is still held, never sourced)
    assert np.all(np.isin(status[~held], [ALLOCATED, WAITING, CANCELLED]))
    assert np.all(status[held] == NEW)
    stats = world.batch_stats
    assert stats.unserved > 0 and stats.batches > 50
    assert stats.orders == int((~held).sum())
    # lateness counts from arrival: a held order is allocated at its batch's close, after it came
    allocated = np.asarray(world.ledger.allocated)[status == ALLOCATED]
    arrived = world.book.time[status == ALLOCATED]
    assert np.all(allocated > arrived)
    assert np.all(allocated - arrived <= 1.0 + 1e-9)


def test_the_same_seed_gives_the_same_run() -> None:
    data = stranding({"kind": "min_cost_batch", "every": "2h"})
    a, b = run(data, 2), run(data, 2)
    assert a.ledger.status == b.ledger.status
    assert a.ledger.delivered == b.ledger.delivered
    assert a.ledger.warehouse == b.ledger.warehouse
    ka, kb = compute(a.record), compute(b.record)  # type: ignore[attr-defined]
    assert ka.keys() == kb.keys()
    assert all(ka[k] == kb[k] or (math.isnan(ka[k]) and math.isnan(kb[k])) for k in ka)


def test_a_sourcing_rule_ends_batching_and_held_orders_still_get_sourced() -> None:
    data = stranding({"kind": "min_cost_batch", "every": "3h"})
    world = World(scenario_from_data(data, "test.yaml"))
    world.run_until(2.0)  # the first batch (closing at 3 h) holds two hours of orders
    held = [h.order for hs in world._held.values() for h in hs]
    assert len(held) > 20
    assert all(world.ledger.status[i] == NEW for i in held)
    world.execute([SourcingRule("a", ("fa", "c")), SourcingRule("b", ("fa",))], "manual")
    world.env.run(until=2.5)  # from now on orders are sourced one by one, on arrival
    after = np.flatnonzero((world.book.time >= 2.0) & (world.book.time < 2.5))
    assert after.size > 3
    assert all(world.ledger.status[i] == ALLOCATED for i in after)
    assert all(world.ledger.status[i] == NEW for i in held)  # the batch has not closed yet
    world.env.run(until=world.horizon)
    world._finish()  # conservation is checked here
    assert all(world.ledger.status[i] != NEW for i in held)
    assert world.batch_stats.batches == 1 and world.batch_stats.orders == len(held)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"every": 0}, "policies.batch.every (=0) must be > 0"),
        ({"every": "2d"}, "policies.batch.every (='2d') must be <= 24"),
        ({"unserved_penalty": -1}, "policies.batch.unserved_penalty (=-1) must be >= 0"),
        ({"time_limit": 0}, "policies.batch.time_limit (=0) must be > 0"),
        ({"evry": "1h"}, "policies.batch.evry (='1h') is not a known key; did you mean 'every'?"),
        ({"regions": ["z"]}, "policies.batch cannot be built: regions names 'z', not regions"),
    ],
)
def test_a_bad_parameter_is_a_config_error_naming_it(params: dict[str, Any], message: str) -> None:
    data = copy.deepcopy(STRANDING)
    data["policies"] = {"batch": {"kind": "min_cost_batch", **params}}
    with pytest.raises(ConfigError) as info:
        scenario_from_data(data, "F")
    assert info.value.problems[0].removeprefix("F: ").startswith(message)


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (BatchSourcing("b", (BatchOption("c", 1.0, 0.0, 1.0),)), "has no last-mile lane"),
        (BatchSourcing("a", ()), "it needs at least one"),
        (BatchSourcing("a", (BatchOption("c", 1, 0, 1),), every=0.0), "batch every (=0.0)"),
        (BatchSourcing("a", (BatchOption("c", -1, 0, 1),)), "must be finite and >= 0"),
        (BatchSourcing("a", (BatchOption("c", 1, 0, 1),), late_cost=math.nan), "late_cost"),
    ],
)
def test_a_batch_rule_the_network_cannot_follow_is_a_model_error(
    decision: BatchSourcing, message: str
) -> None:
    world = World(scenario_from_data(stranding({"kind": "nearest_with_stock"}), "test.yaml"))
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        world.execute([decision], "mine")


# --- the policy on hand-built states, and in operating mode --------------------------------------



def test_min_cost_batch_prices_each_warehouse_by_its_cheapest_carrier_and_fastest_transit() -> None:
    kind = REGISTRY.resolve("min_cost_batch")
    policy = kind.build(kind.params(every="30min", late_cost=2, regions=["r"]), NET)
    assert isinstance(policy, MinCostBatch)
    state = State(time=5.0, on_hand={}, inbound={}, backorders={})
    (rule,) = policy.decide(state)
    # n: slow is cheapest (1.5 + 0.5/unit); fastest transit: fast's 10 h (slow: 2 h wait + 20 h)
    assert rule == BatchSourcing(
        "r",
        (BatchOption("n", 1.5, 0.5, 10.5), BatchOption("c", 0.5, 0.5, 30.5)),
        every=0.5,
        unserved_penalty=100.0,
        late_cost=2.0,
        time_limit=10.0,
        split=False,
    )
    assert rule.warehouses == ("n", "c")
    data = decision_to_dict(rule)
    assert json.loads(json.dumps(data)) == data
    assert data["type"] == "BatchSourcing"
    assert data["options"][1] == {
        "warehouse": "c",
        "cost_per_order": 0.5,
        "cost_per_unit": 0.5,
        "hours": 30.5,
    }


def test_operating_mode_makes_and_stores_the_decisions_the_simulation_makes(
    tmp_path: Path,
) -> None:
    scenario = scenario_from_data(stranding({"kind": "min_cost_batch", "every": "1h"}), "t")
    world = World(scenario)
    world.run_until(5.0)
    state = world.snapshot()
    live = state_from_tables(tables_from_world(world), network_info(scenario))
    ((name, _, policy),) = build_policies(scenario, network_info(scenario))
    made = [decision_to_dict(d) for d in policy.decide(live)]
    assert made == [decision_to_dict(d) for d in policy.decide(state)]
    assert [d["type"] for d in made] == ["BatchSourcing", "BatchSourcing"]
    with open_store(tmp_path / "live.db") as store:
        store.add_decisions(live.time, name, made, state_digest(live))
        stored = store.decisions()
    assert [{"type": row["type"], **row["payload"]} for row in stored] == made


# --- the assignment on its own ------------------------------------------------------------------


def rule(**kw: Any) -> BatchRule:
    base: dict[str, Any] = {
        "every": 1.0,
        "warehouses": (0, 1),
        "cost_per_order": (1.0, 2.0),
        "cost_per_unit": (0.0, 0.0),
        "hours": (1.0, 1.0),
        "unserved_penalty": 100.0,
        "late_cost": 0.0,
        "time_limit": 5.0,
    }
    return BatchRule(**(base | kw))


def test_assign_takes_each_orders_cheapest_choice_when_they_fit_without_a_solver() -> None:
    stats = BatchStats()
    r = rule()
    held = [Held(0, [(0, 2)], 50.0, r), Held(1, [(0, 1)], 50.0, r)]
    assert assign(held, [[3], [9]], [True, True], [0.0, 0.0], 0.0, ["w0", "w1"], stats) == [0, 0]
    assert stats.solved == 0 and stats.batches == 1 and stats.orders == 2


def test_assign_solves_contention_exactly() -> None:
    stats = BatchStats()
    only_first = rule(warehouses=(0,), cost_per_order=(1.0,), cost_per_unit=(0.0,), hours=(1.0,))
    held = [Held(0, [(0, 1)], 50.0, rule()), Held(1, [(0, 1)], 50.0, only_first)]
    # w0 has one unit: order 0 (which may also use w1) gives it up to order 1
    assert assign(held, [[1], [5]], [True, True], [0.0, 0.0], 0.0, ["w0", "w1"], stats) == [1, 0]
    assert stats.solved == 1 and stats.unserved == 0


def test_assign_skips_closed_warehouses_and_prices_lateness() -> None:
    late = rule(late_cost=1.0, hours=(10.0, 1.0))  # w0 is dearer once its 10 h make it late
    held = [Held(0, [(0, 1)], 5.0, late)]
    assert assign(held, [[5], [5]], [True, True], [0.0, 0.0], 0.0, ["w0", "w1"]) == [1]
    # w0 on time when its queue is short and the promise far: cheapest again
    relaxed = [Held(0, [(0, 1)], 50.0, late)]
    assert assign(relaxed, [[5], [5]], [True, True], [0.0, 0.0], 0.0, ["w0", "w1"]) == [0]
    # ... but not when its pick/pack queue is long (45 h + 10 h: 5 h late, 1 + 5 > 2)
    assert assign(relaxed, [[5], [5]], [True, True], [45.0, 0.0], 0.0, ["w0", "w1"]) == [1]
    # a closed or empty warehouse is no choice; with neither, the order is left unserved
    assert assign(held, [[5], [5]], [True, False], [0.0, 0.0], 0.0, ["w0", "w1"]) == [0]
    assert assign(held, [[0], [5]], [True, False], [0.0, 0.0], 0.0, ["w0", "w1"]) == [None]


def test_assign_leaves_an_order_when_serving_it_costs_more_than_its_penalty() -> None:
    cheap = rule(unserved_penalty=0.5)  # per unit: 1 unit costs 0.5 to leave, 1.0 to serve
    held = [Held(0, [(0, 1)], 50.0, cheap), Held(1, [(0, 3)], 50.0, cheap)]
    assert assign(held, [[9], [9]], [True, True], [0.0, 0.0], 0.0, ["w0", "w1"]) == [None, 0]


def test_batches_close_on_multiples_of_every() -> None:
    assert closes_at(0.0, 0.25) == 0.25
    assert closes_at(0.1, 0.25) == 0.25
    assert closes_at(0.25, 0.25) == 0.5  # an order at a close joins the next batch
    assert closes_at(23.9, 4.0) == 24.0
