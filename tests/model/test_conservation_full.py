"""Conservation with every mechanism switched on, on random small scenarios (DESIGN §3).

`test_conservation.py` generates the simpler model (one factory, no suppliers, no schedules). Here
Hypothesis builds 1–4-day scenarios that may use everything at once: suppliers of every tier selling
components (capacity, reserved capacity, lead times of every distribution kind, MOQ, contracted
quantities with a surcharge, random outages); one or two factories with a bill of materials,
initial components, one or two lines with rates by family, changeover, yield below one and elastic
capacity; scheduled line-haul departures and last-mile waves with capacities; two carriers on some
lanes; livestreams with pre-sales and replays; multi-line baskets; returns per channel (pre-sale
included) sent to a designated warehouse, with inspectors; scheduled and random disruptions of all
five kinds; and base-stock, (s, S), elastic-on-backlog and components-(s, S) policies.

Each run must finish (the model raises `ModelError` on any SKU or component imbalance), and the
record and the world must agree with themselves: sources == uses per SKU; components through the
bill of materials; the suppliers' own books against what factories have on order; warehouse stock
never below zero at any moment; inbound and backlogs equal to what is on its way and what waits;
order timelines (created ≤ released ≤ allocated ≤ shipped ≤ delivered, cancelled exactly at
release + patience); every line of an allocated multi-line order taken; no scheduled departure or
wave over its (cut) capacity, and no departure carrying units sent after it left.

The last check found a bug, now fixed: `test_scheduled_shipment_never_leaves_before_it_is_sent`.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scenario_strategies import (
    CVS,
    distributions,
    durations,
    levels_pair,
    often,
    positive,
    replenishment,
    stock_levels,
)

from twin.config import scenario_from_data
from twin.config.loader import read_yaml
from twin.config.schema import Scenario
from twin.errors import ConfigError
from twin.model.ledger import ALLOCATED, CANCELLED, WAITING
from twin.model.warehouse import PickPack, Warehouse
from twin.model.world import RunRecord, World

REPO = Path(__file__).resolve().parents[2]
FLAGSHIP = REPO / "scenarios" / "flagship_live_sale.yaml"

TIERS = ("strategic", "agile", "backup")
FAMILIES = ("fa", "fb")
COMPONENTS = ("c0", "c1", "c2")
LOCAL_COMPONENT = "cx"
"""A component no supplier sells: only a factory's initial stock of it can be used."""
DISRUPTION_KINDS = (
    "supplier_outage",
    "lead_time_spike",
    "line_down",
    "warehouse_closure",
    "carrier_capacity_cut",
)

# --- strategies ---------------------------------------------------------------------------------


def rates() -> st.SearchStrategy[Any]:
    """A line's units/h: one rate, or rates by family (some maybe missing) with a `default`."""
    return st.one_of(
        st.floats(1.0, 60.0),
        st.dictionaries(st.sampled_from([*FAMILIES, "default"]), st.floats(1.0, 60.0), min_size=1),
    )


@st.composite
def supplier(draw: st.DrawFn, tier: str, x: float) -> dict[str, Any]:
    sells = draw(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=3, unique=True))
    terms: dict[str, Any] = {}
    for comp in sells:
        term: dict[str, Any] = {"price": draw(st.floats(0.1, 5.0))}
        if draw(st.booleans()):
            term["contracted"] = draw(st.integers(0, 400))
            term["topup_surcharge"] = draw(st.floats(0.0, 1.0))
        terms[comp] = term
    site: dict[str, Any] = {
        "kind": "supplier",
        "tier": tier,
        "location": [x, -20.0],
        "components": terms,
        "capacity_per_day": draw(st.floats(5.0, 3000.0)),
        "lead_time": draw(distributions(24.0)),
        "moq": draw(st.integers(1, 300)),
    }
    if draw(st.booleans()):
        site["reserved"] = {
            "units_per_day": draw(st.floats(1.0, 1000.0)),
            "fee_per_unit_day": draw(st.floats(0.0, 0.5)),
        }
    if draw(st.booleans()):
        site["reliability"] = {
            "mtbf": draw(positive(48.0, 2.0)),
            "outage": draw(distributions(12.0)),
        }
    return site


@st.composite
def factory(draw: st.DrawFn, skus: list[str], sold: set[str], x: float) -> dict[str, Any]:
    local = draw(
        st.dictionaries(st.sampled_from([*COMPONENTS, LOCAL_COMPONENT]), st.integers(0, 300))
    )
    usable = sorted(sold | set(local))
    bom: dict[str, dict[str, int]] = {}
    for sku in skus:
        if usable and draw(often):
            bom[sku] = draw(
                st.dictionaries(st.sampled_from(usable), st.integers(1, 3), min_size=1, max_size=2)
            )
    site: dict[str, Any] = {
        "kind": "factory",
        "location": [x, 0.0],
        "changeover": draw(durations(0.0, 2.0)),
        "bom": bom,
        "initial_components": local,
    }
    if draw(often):
        site["yield"] = draw(st.floats(0.4, 1.0))
    if draw(st.booleans()):
        site["capacity"] = draw(rates())
    else:
        lines = {}
        for j in range(draw(st.integers(1, 2))):
            line: dict[str, Any] = {"capacity": draw(rates())}
            if draw(st.booleans()):
                line["changeover"] = draw(durations(0.0, 2.0))
            lines[f"L{j}"] = line
        site["lines"] = lines
    if draw(often):
        site["elastic"] = {
            "capacity": draw(st.floats(1.0, 60.0)),
            "reservation_fee": draw(st.floats(0.0, 1.0)),
            "premium_per_unit": draw(st.floats(0.0, 5.0)),
            "activation_delay": draw(durations(0.0, 12.0)),
        }
        if draw(st.booleans()):
            start = draw(st.floats(0.0, 48.0))
            site["elastic"]["reserved_from"] = round(start, 3)
            site["elastic"]["reserved_until"] = round(start + draw(st.floats(1.0, 96.0)), 3)
    return site


@st.composite
def warehouse(draw: st.DrawFn, role: str, skus: list[str], x: float) -> dict[str, Any]:
    site: dict[str, Any] = {
        "kind": "warehouse",
        "role": role,
        "location": [x, 10.0],
        "initial_stock": draw(stock_levels(skus, 120 if role == "central" else 60)),
        "pick_pack": {
            "workers": draw(st.integers(1, 3)),
            "rate": draw(st.floats(0.5, 40.0)),
            "service_cv": draw(CVS),
        },
        "inbound_handling": draw(durations(0.0, 4.0)),
    }
    if draw(often):
        inspection: dict[str, Any] = {
            "time": draw(durations(0.0, 6.0)),
            "restock_fraction": draw(st.floats(0.0, 1.0)),
        }
        if draw(st.booleans()):
            inspection["inspectors"] = draw(st.integers(1, 3))
        site["inspection"] = inspection
    return site


@st.composite
def lanes_between(draw: st.DrawFn, origin: str, destination: str, schedule: str) -> list[Any]:
    """One or two carriers from origin to destination, each maybe on a schedule."""
    out = []
    for carrier in draw(st.sampled_from([["default"], ["slow", "fast"], ["default", "fast"]])):
        lane: dict[str, Any] = {
            "from": origin,
            "to": destination,
            "carrier": carrier,
            "transit": draw(distributions(24.0)),
            "cost_per_shipment": draw(st.floats(0.0, 50.0)),
            "cost_per_unit": draw(st.floats(0.0, 1.0)),
        }
        if draw(st.booleans()):
            every, first = draw(positive(12.0, 0.25)), draw(durations(0.0, 12.0))
            timing: dict[str, Any] = {"every": every, "first": first}
            if draw(often):
                timing["capacity"] = draw(st.integers(1, 8 if schedule == "waves" else 40))
            lane[schedule] = timing
        out.append(lane)
    return out


@st.composite
def livestream(
    draw: st.DrawFn, skus: list[str], regions: list[str], horizon: float
) -> dict[str, Any]:
    p50 = draw(st.floats(1.0, 12.0))
    event: dict[str, Any] = {
        "start": draw(durations(0.0, horizon * 0.9)),
        "duration": draw(positive(12.0)),
        "decay": draw(positive(3.0)),
        "uplift": {"p50": p50, "p90": p50 * draw(st.floats(1.0, 3.0))},
        "featured": draw(st.dictionaries(st.sampled_from(skus), st.floats(0.0, 1.0), min_size=1)),
    }
    if draw(st.booleans()):
        event["audience"] = draw(
            st.dictionaries(st.sampled_from(regions), st.floats(0.0, 2.0), min_size=1)
        )
    if draw(often):
        event["presale"] = {
            "share": draw(st.floats(0.05, 0.9)),
            "opens": draw(positive(48.0, 0.1)),
            "promise": draw(positive(72.0, 0.5)),
        }
    if draw(st.booleans()):
        event["replay"] = {
            "after": draw(positive(24.0, 0.1)),
            "uplift_fraction": draw(st.floats(0.01, 1.0)),
            "duration": draw(positive(6.0)),
            "decay": draw(positive(2.0)),
        }
    return event


@st.composite
def disruption_targets(
    draw: st.DrawFn, kind: str, targets: dict[str, list[str]], lines: dict[str, list[str]]
) -> tuple[list[str], str | None]:
    """Targets of the right kind for `kind`, and maybe one line (only when all targets have it)."""
    pool = targets[kind]
    chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
    line = None
    if kind == "line_down" and draw(st.booleans()):
        common = set.intersection(*(set(lines[f]) for f in chosen))
        if common:
            line = draw(st.sampled_from(sorted(common)))
    return chosen, line


def severity_for(kind: str) -> st.SearchStrategy[float]:
    if kind == "carrier_capacity_cut":
        return st.one_of(st.just(1.0), st.floats(0.0, 1.0))
    if kind == "lead_time_spike":
        return st.floats(1.0, 4.0)
    return st.just(1.0)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    horizon = draw(st.one_of(st.sampled_from([24.0, 48.0, 72.0, 96.0]), st.floats(24.0, 96.0)))
    horizon = round(horizon, 3)  # 1 to 4 days
    skus = [f"sku{i}" for i in range(draw(st.integers(1, 3)))]
    forwards = [f"fwd{i}" for i in range(draw(st.integers(0, 2)))]
    regions = [f"reg{i}" for i in range(draw(st.integers(1, 3)))]
    warehouses = ["central", *forwards]

    sku_specs = {}
    for k in skus:
        cost = draw(st.floats(1.0, 20.0))
        sku_specs[k] = {
            "unit_cost": cost,
            "price": cost * draw(st.floats(1.1, 3.0)),
            "family": draw(st.sampled_from(FAMILIES)),
            "order_size_mean": draw(st.floats(1.0, 2.5)),
        }

    sites: dict[str, Any] = {}
    tiers = draw(st.lists(st.sampled_from(TIERS), min_size=int(draw(often)), max_size=3))
    for i, tier in enumerate(tiers):
        sites[f"sup{i}"] = draw(supplier(tier, -100.0 - 10 * i))
    sold = {c for i in range(len(tiers)) for c in sites[f"sup{i}"]["components"]}
    factories = [f"fac{i}" for i in range(draw(st.integers(1, 2)))]
    for i, fid in enumerate(factories):
        sites[fid] = draw(factory(skus, sold, -10.0 * i))
    sites["central"] = draw(warehouse("central", skus, 10.0))
    for i, w in enumerate(forwards):
        sites[w] = draw(warehouse("forward", skus, 20.0 + i))
    for i, r in enumerate(regions):
        sites[r] = {
            "kind": "region",
            "location": [40.0 + i, 0.0],
            "weight": draw(st.floats(0.1, 3.0)),
            "sla": draw(positive(72.0)),
            "patience": draw(positive(72.0)),
        }

    lanes: list[Any] = []
    for fid in factories:
        lanes += draw(lanes_between(fid, "central", "departures"))
    for w in forwards:
        lanes += draw(lanes_between("central", w, "departures"))
    for r in regions:
        feeders = draw(st.lists(st.sampled_from(warehouses), min_size=1, unique=True))
        for w in feeders:
            lanes += draw(lanes_between(w, r, "waves"))

    baseline: dict[str, Any] = {"orders_per_hour": draw(st.floats(0.5, 10.0))}
    if draw(st.booleans()):
        baseline["sku_mix"] = draw(
            st.dictionaries(st.sampled_from(skus), st.floats(0.1, 5.0), min_size=1)
        )
    demand: dict[str, Any] = {
        "baseline": baseline,
        "basket": {"extra_lines_mean": draw(st.sampled_from([1.0, 0.3, 2.5, 0.0]))},
        "livestreams": {
            f"live{e}": draw(livestream(skus, regions, horizon))
            for e in range(draw(st.sampled_from([1, 2, 0])))
        },
    }
    if draw(st.booleans()):
        demand["seasonality"] = {
            "hour_of_day": draw(st.lists(st.floats(0.1, 2.0), min_size=24, max_size=24)),
            "day_of_week": draw(st.lists(st.floats(0.1, 2.0), min_size=7, max_size=7)),
            "start_weekday": draw(st.integers(0, 6)),
        }

    returns: dict[str, Any] = {
        "baseline": {"probability": draw(st.floats(0.0, 0.5)), "lag": draw(distributions(12.0))},
        "live": {"probability": draw(st.floats(0.0, 0.9)), "lag": draw(distributions(12.0))},
        "shipping_cost_per_unit": draw(st.floats(0.0, 3.0)),
    }
    if draw(st.booleans()):
        returns["presale"] = {
            "probability": draw(st.floats(0.0, 0.9)),
            "lag": draw(distributions(12.0)),
        }
    if draw(st.booleans()):
        returns["to"] = draw(st.sampled_from(warehouses))

    lines = {fid: list(sites[fid].get("lines", {"main": None})) for fid in factories}
    scheduled_lanes = sorted(
        {f"{ln['from']}->{ln['to']}" for ln in lanes if "departures" in ln or "waves" in ln}
    )
    targets: dict[str, list[str]] = {
        "supplier_outage": [f"sup{i}" for i in range(len(tiers))],
        "lead_time_spike": [f"sup{i}" for i in range(len(tiers))],
        "line_down": factories,
        "warehouse_closure": warehouses,
        # lanes on a schedule twice over: a cut elsewhere changes nothing
        "carrier_capacity_cut": scheduled_lanes
        + sorted({f"{ln['from']}->{ln['to']}" for ln in lanes}),
    }
    kinds = [k for k in DISRUPTION_KINDS if targets[k]]
    scheduled = []
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=5)):
        chosen, line = draw(disruption_targets(kind, targets, lines))
        entry: dict[str, Any] = {
            "kind": kind,
            "target": chosen[0],
            "start": draw(durations(0.0, horizon)),
            "duration": draw(positive(36.0)),
            "severity": draw(severity_for(kind)),
        }
        if line is not None:
            entry["line"] = line
        scheduled.append(entry)
    if scheduled_lanes and draw(often):
        # a long cut on a lane with a schedule, so that departures and waves do get cut
        scheduled.append(
            {
                "kind": "carrier_capacity_cut",
                "target": draw(st.sampled_from(scheduled_lanes)),
                "start": draw(durations(0.0, horizon / 2)),
                "duration": draw(durations(horizon / 4, horizon)),
                "severity": draw(severity_for("carrier_capacity_cut")),
            }
        )
    random = []
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=3)):
        chosen, line = draw(disruption_targets(kind, targets, lines))
        entry = {
            "kind": kind,
            "targets": chosen,
            "mtbf": draw(positive(72.0, 4.0)),
            "duration": draw(distributions(12.0)),
            "severity": draw(severity_for(kind)),
        }
        if line is not None:
            entry["line"] = line
        random.append(entry)

    policies: dict[str, Any] = {}
    if forwards and draw(often):
        which = draw(
            st.one_of(
                st.just("forward"), st.lists(st.sampled_from(forwards), min_size=1, unique=True)
            )
        )
        policies["forward_replenishment"] = draw(replenishment(which, skus))
    # always: without it the factory makes nothing (and `all` below may double it up)
    policies["central_replenishment"] = draw(replenishment("central", skus, 400))
    if draw(st.booleans()):
        policies["all_replenishment"] = draw(replenishment("all", skus, 300))
    if any("elastic" in sites[f] for f in factories) and draw(often):
        on_above = draw(st.integers(0, 300))
        policies["elastic"] = {
            "kind": "elastic_on_backlog",
            "review": draw(positive(6.0, 0.5)),
            "on_above": on_above,
            "off_below": draw(st.integers(0, on_above)),
            "on_live": draw(st.booleans()),
        }
    if any(sites[f]["bom"] for f in factories) and draw(often):
        low, high = draw(levels_pair([*COMPONENTS, LOCAL_COMPONENT], 300))
        procurement: dict[str, Any] = {
            "kind": "components_s_S",
            "review": draw(positive(12.0, 0.5)),
            "s": low,
            "S": high,
        }
        if draw(st.booleans()):
            procurement["tiers"] = draw(st.permutations(TIERS))[: draw(st.integers(1, 3))]
        policies["procurement"] = procurement

    return {
        "name": "generated_full",
        "seed": draw(st.integers(0, 2**32 - 1)),
        "horizon": horizon,
        "skus": sku_specs,
        "sites": sites,
        "lanes": lanes,
        "demand": demand,
        "returns": returns,
        "costs": {
            "holding_rate_per_year": draw(st.floats(0.0, 1.0)),
            "returns_handling_per_unit": draw(st.floats(0.0, 3.0)),
            "lost_sale_penalty": draw(st.floats(0.0, 2.0)),
        },
        "disruptions": {"scheduled": scheduled, "random": random},
        "policies": policies,
    }


# --- running with monitors ----------------------------------------------------------------------


def _checked(method: Any) -> Any:
    """Wrap Warehouse.take/put: after every stock movement, no SKU may be below zero."""

    def wrapper(self: Warehouse, sku: int, quantity: int, t: float) -> None:
        assert quantity > 0, f"{method.__name__} of {quantity} units at {self.id}"
        method(self, sku, quantity, t)
        assert self.stock[sku] >= 0, (
            f"{self.id} stock of SKU {sku} went to {self.stock[sku]} at {t}"
        )

    return wrapper


@dataclass
class Monitor:
    """What the wrappers saw during a run."""

    taken: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    """The (SKU, units) lines each allocation took, by order."""
    sends: dict[int, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    """(time, units) of each shipment put on a scheduled lane's dock, by id of the lane."""
    out_of_order: list[tuple[float, float]] = field(default_factory=list)
    """(offered, latest before) whenever a pick/pack or inspection queue was offered work out of
    time order: its FCFS heap is exact only if work comes in time order."""


def run_monitored(scenario: Scenario, replication: int = 0) -> tuple[World, RunRecord, Monitor]:
    """Run one replication with stock monitors, recording allocations and scheduled shipments."""
    m = Monitor()
    allocate, ship, serve = World._allocate, World._ship, PickPack.serve
    served: dict[int, float] = {}

    def recording_allocate(self: World, w: Warehouse, i: int, g: int, lines: Any, t: float) -> None:
        assert i not in m.taken, f"order {i} allocated twice"
        m.taken[i] = sorted((int(k), int(q)) for k, q in lines)
        allocate(self, w, i, g, lines, t)

    def recording_ship(self: World, lane: Any, w: Warehouse, items: Any, now: float) -> None:
        sched = lane.scheduled
        if sched is not None:
            m.sends[id(sched)].append((now, sum(q for _, q in items)))
        ship(self, lane, w, items, now)

    def fcfs_serve(self: PickPack, t: float) -> float:
        latest = served.get(id(self), 0.0)
        if t < latest:
            m.out_of_order.append((t, latest))
        served[id(self)] = max(t, latest)
        done = serve(self, t)
        assert done >= t
        return done

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Warehouse, "take", _checked(Warehouse.take))
        mp.setattr(Warehouse, "put", _checked(Warehouse.put))
        mp.setattr(World, "_allocate", recording_allocate)
        mp.setattr(World, "_ship", recording_ship)
        mp.setattr(PickPack, "serve", fcfs_serve)
        world = World(scenario, replication)
        record = world.run()  # raises ModelError if SKU or component conservation fails
    return world, record, m


def expected_capacity(base: int | None, cuts: list[tuple[float, float, float]], t: float) -> Any:
    """Capacity at t after the most severe cut covering t (DESIGN: floor(base·(1 − severity)))."""
    severity = max((s for start, end, s in cuts if start <= t < end and s > 0), default=0.0)
    if severity == 0.0:
        return base
    if base is None:
        return 0 if severity >= 1.0 else None
    return math.floor(base * (1.0 - severity) + 1e-9)


def check_units(world: World, record: RunRecord, m: Monitor) -> None:
    """SKU balances, components through the BOM, and the suppliers' own books."""
    taken = m.taken
    assert [b.sku for b in record.balances] == list(world.scenario.skus)
    for b in record.balances:
        assert b.sources == b.uses, b
        for term in (
            b.initial,
            b.produced,
            b.returns_received,
            b.delivered,
            b.scrapped,
            b.on_hand,
            b.in_transit,
            b.in_process,
        ):
            assert term >= 0, b

    for c in record.components:
        assert c.initial + c.received == c.consumed + c.on_hand, c
        assert c.consumed == c.bom_need, c
        assert min(c.initial, c.received, c.consumed, c.on_hand) >= 0, c
    for f in world.factories.values():
        assert all(v >= 0 for v in f.components.values()), (f.id, f.components)
        assert all(v >= 0 for v in (*f.wip, *f.queued, *f.scrapped)), f.id
        # components are consumed only when production starts, by the bill of materials
        for comp, used in f.consumed.items():
            need = sum(n * dict(bom).get(comp, 0) for n, bom in zip(f.started, f.bom, strict=True))
            assert used == need, (f.id, comp, used, need)

    on_order: dict[str, int] = defaultdict(int)
    for (_, comp), units in world._on_order_units.items():
        on_order[comp] += units
    owed: dict[str, int] = defaultdict(int)
    for s in world.suppliers.values():
        for comp in s.ordered:
            assert s.ordered[comp] == s.queued[comp] + s.in_transit[comp] + s.delivered[comp], (
                s.id,
                comp,
            )
            assert s.shipped[comp] == s.in_transit[comp] + s.delivered[comp], (s.id, comp)
            assert min(s.queued[comp], s.in_transit[comp], s.delivered[comp]) >= 0, (s.id, comp)
            owed[comp] += s.ordered[comp] - s.delivered[comp]
    assert {c: u for c, u in on_order.items() if u} == {c: u for c, u in owed.items() if u}

    # what policies see as inbound is exactly what is on its way: in production, between sites,
    # being put away, or asked of another warehouse and not yet shipped
    n = len(record.skus)
    for k in range(n):
        inbound = sum(w.inbound[k] for w in world.warehouses)
        queued = sum(f.queued[k] for f in world.factories.values())
        handling = sum(w.handling[k] for w in world.warehouses)
        asked = sum(w.transfer_backlog[k] for w in world.warehouses)
        assert inbound == queued + world.ledger.in_transit[k] + handling + asked, k
    # backlogs are the waiting orders' lines and the pending transfers' units
    backlog = [[0] * n for _ in world.warehouses]
    for i in np.flatnonzero(record.outcomes.status == WAITING).tolist():
        for k, q in world._lines(i):
            backlog[record.outcomes.warehouse[i]][k] += q
    for w in world.warehouses:
        assert w.backlog == backlog[w.index], w.id
        assert w.transfer_backlog == [sum(r[2] for r in w.pending[k]) for k in range(n)], w.id
        assert all(r[2] > 0 for k in range(n) for r in w.pending[k]), w.id

    # deliveries counted by the balance are exactly the lines allocated orders took
    o, h = record.outcomes, world.horizon
    delivered = [0] * len(record.skus)
    for i, lines in taken.items():
        if o.delivered[i] < h:
            for k, q in lines:
                delivered[k] += q
    assert [b.delivered for b in record.balances] == delivered


def check_orders(world: World, record: RunRecord, m: Monitor) -> None:
    """Order timelines, pre-sale bookkeeping, and every line of every allocated order taken."""
    taken = m.taken
    scenario, book, o, h = world.scenario, record.book, record.outcomes, world.horizon
    assert np.all(np.diff(book.time) >= 0)
    assert np.all((book.created >= 0) & (book.created <= book.time) & (book.time < h))
    assert np.all(book.quantity >= 1) and np.all(book.extra_quantity >= 1)
    assert set(np.unique(o.status)) <= {WAITING, ALLOCATED, CANCELLED}, "an order was never handled"

    regions = [scenario.sites[r] for r in record.regions]
    patience = np.array([r.patience for r in regions])[book.region]
    sla = np.array([r.sla for r in regions])[book.region]
    deadline = book.time + patience

    # pre-orders are released at their event's start and promised from it; others at creation
    pre = book.presale
    assert np.array_equal(book.time[~pre], book.created[~pre])
    assert np.array_equal(book.promised[~pre], book.time[~pre] + sla[~pre])
    events = list(scenario.demand.livestreams.values())
    for i in np.flatnonzero(pre):
        pulse = record.pulses[int(book.channel[i]) - 1]
        spec = events[pulse.event].presale
        assert spec is not None and not pulse.replay
        assert book.time[i] == pulse.start
        assert book.promised[i] == pulse.start + spec.promise
        assert book.created[i] >= max(0.0, pulse.start - spec.opens) - 1e-9

    alloc = o.status == ALLOCATED
    assert np.all(
        np.isfinite(o.allocated[alloc])
        & np.isfinite(o.shipped[alloc])
        & np.isfinite(o.delivered[alloc])
    )
    assert np.all(book.created[alloc] <= book.time[alloc])
    assert np.all(book.time[alloc] <= o.allocated[alloc])
    assert not m.out_of_order, f"pick/pack offered work out of time order: {m.out_of_order}"
    assert np.all(o.allocated[alloc] < deadline[alloc])
    assert np.all(o.allocated[alloc] < h)
    assert np.all(o.allocated[alloc] <= o.shipped[alloc])
    assert np.all(o.shipped[alloc] <= o.delivered[alloc])
    assert np.all((o.warehouse[alloc] >= 0) & (o.warehouse[alloc] < len(record.warehouses)))
    others = ~alloc
    assert np.all(
        np.isnan(o.allocated[others]) & np.isnan(o.shipped[others]) & np.isnan(o.delivered[others])
    )

    cancelled = o.status == CANCELLED
    assert np.array_equal(o.cancelled[cancelled], deadline[cancelled])
    assert np.all(o.cancelled[cancelled] < h)
    assert np.all(np.isnan(o.cancelled[~cancelled]))
    waiting = o.status == WAITING
    assert np.all(deadline[waiting] >= h)  # still patient at the horizon

    # multi-line orders: an allocation takes every line of the order, nothing more
    assert set(taken) == set(np.flatnonzero(alloc).tolist())
    owner, sku, qty, back = book.lines()
    assert np.all(back >= 0) and np.all(back <= qty)
    lines_of: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for i, k, q in zip(owner.tolist(), sku.tolist(), qty.tolist(), strict=True):
        lines_of[i].append((k, q))
    for i, lines in taken.items():
        assert lines == sorted(lines_of[i]), (i, lines, lines_of[i])
        assert len({k for k, _ in lines}) == len(lines), f"order {i} has a SKU twice"
    units = book.units
    assert sum(units[alloc]) == sum(q for lines in taken.values() for _, q in lines)


def check_transport(world: World, record: RunRecord, m: Monitor) -> None:
    """Scheduled departures and waves keep to their schedule and their (cut) capacity."""
    h = world.horizon
    cuts: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
    for d in record.disruptions:
        if d.kind == "carrier_capacity_cut":
            origin, destination = d.target.split("->")
            cuts[(origin, destination)].append((d.start, d.end, d.severity))
    specs = {(ln.origin, ln.destination, ln.carrier): ln for ln in world.scenario.lanes}
    for (origin, destination), options in world.lanes.items():
        lane_cuts = cuts[(origin, destination)]
        for lane in options:
            spec = specs[(origin, destination, lane.carrier)]
            sched = lane.scheduled
            if sched is not None:
                assert spec.departures is not None
                times = [t for t, _, _ in sched.departures_log]
                assert all(a < b for a, b in itertools.pairwise(times)), times
                loaded = 0
                for t, cap, units in sched.departures_log:
                    index = round((t - spec.departures.first) / spec.departures.every)
                    assert index >= 0 and t == sched.departure_time(index), t
                    assert t < h
                    want = expected_capacity(spec.departures.capacity, lane_cuts, t)
                    assert cap == want, (sched.name, t, cap, want)
                    assert units >= 0 and (want is None or units <= want), (sched.name, t, units)
                    loaded += units
                for k in range(len(record.skus)):
                    assert (
                        sched.sent[k] == sched.on_dock[k] + sched.in_transit[k] + sched.arrived[k]
                    )
                    assert min(sched.on_dock[k], sched.in_transit[k], sched.arrived[k]) >= 0
                assert loaded == sum(sched.in_transit) + sum(sched.arrived)
                # the dock is FCFS: each departure carries only units sent at or before it left
                dock = deque([t, q] for t, q in m.sends[id(sched)] if q)
                for t, _, units in sched.departures_log:
                    while units:
                        assert dock[0][0] <= t + 1e-9, (
                            f"{sched.name}: departure at t={t} carries units sent at {dock[0][0]}"
                        )
                        take = min(units, dock[0][1])
                        units -= take
                        dock[0][1] -= take
                        if not dock[0][1]:
                            dock.popleft()
            if lane.waves is not None:
                assert spec.waves is not None
                for n, used in lane.waves._used.items():
                    t = lane.waves.wave_time(n)
                    want = expected_capacity(spec.waves.capacity, lane_cuts, t)
                    assert want is None or used <= want, (origin, destination, t, used, want)


def check_all(world: World, record: RunRecord, m: Monitor) -> None:
    check_units(world, record, m)
    check_orders(world, record, m)
    check_transport(world, record, m)


# --- the property -------------------------------------------------------------------------------


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=scenarios(), replication=st.integers(0, 3))
def test_every_mechanism_conserves_units(data: dict[str, Any], replication: int) -> None:
    try:
        scenario = scenario_from_data(data, "generated")
    except ConfigError as exc:  # the generator only builds valid scenarios
        pytest.fail(f"generated scenario rejected:\n{exc}\n{yaml.safe_dump(data)}")
    world, record, monitor = run_monitored(scenario, replication)
    check_all(world, record, monitor)
    for name, hit in exercised(world, record).items():
        event(f"{name}: {'yes' if hit else 'no'}")


def exercised(world: World, record: RunRecord) -> dict[str, bool]:
    """Which mechanisms a run actually used (Hypothesis statistics: --hypothesis-show-statistics)."""
    book, o = record.book, record.outcomes
    alloc = o.status == ALLOCATED
    multi = np.diff(book.extra_start) > 0
    lanes = [lane for options in world.lanes.values() for lane in options]
    return {
        "components bought": any(sum(s.delivered.values()) for s in world.suppliers.values()),
        "components consumed": any(c.consumed for c in record.components),
        "produced": any(b.produced for b in record.balances),
        "factory scrap": any(sum(f.scrapped) for f in world.factories.values()),
        "elastic used": any(sum(f.produced_elastic) for f in world.factories.values()),
        "multi-line allocated": bool(np.any(alloc & multi)),
        "pre-order allocated": bool(np.any(alloc & book.presale)),
        "cancelled": bool(np.any(o.status == CANCELLED)),
        "returns received": record.returns_received > 0,
        "departure full": any(
            cap is not None and units == cap
            for lane in lanes
            if lane.scheduled is not None
            for _, cap, units in lane.scheduled.departures_log
        ),
        "departure cut": any(
            cap != lane.scheduled.capacity
            for lane in lanes
            if lane.scheduled is not None
            for _, cap, _ in lane.scheduled.departures_log
        ),
        "wave full": any(
            lane.waves.capacity is not None
            and any(
                used >= (lane.waves.capacity_at(lane.waves.wave_time(n)) or 0)
                for n, used in lane.waves._used.items()
            )
            for lane in lanes
            if lane.waves is not None
        ),
        "supplier down": any(s.outage_log for s in world.suppliers.values()),
        "disruption": bool(record.disruptions),
    }


# --- the flagship, cut to five days -------------------------------------------------------------


def flagship_in(horizon: float, squeeze: bool) -> Scenario:
    """The flagship over `horizon` hours: what starts later is dropped, or (squeeze) moved in.

    Squeezing scales every livestream start and every scheduled disruption start by
    horizon / 14 days, so that the main event's pre-sale and replay, the supplier outage and the
    line-haul cut all fall inside the shorter run.
    """
    data = read_yaml(FLAGSHIP)
    data.pop("variants", None)  # designs of their own (`twin compare`), not part of the base run
    full = scenario_from_data(data, str(FLAGSHIP))  # parsed durations, data left as it was
    factor = horizon / full.horizon
    data["horizon"] = horizon
    livestreams = {}
    for name, stream in data["demand"]["livestreams"].items():
        start = full.demand.livestreams[name].start
        if squeeze:
            stream["start"] = round(start * factor, 3)
        elif start >= horizon:
            continue
        livestreams[name] = stream
    data["demand"]["livestreams"] = livestreams
    scheduled = []
    for d, spec in zip(data["disruptions"]["scheduled"], full.disruptions.scheduled, strict=True):
        if squeeze:
            d["start"] = round(spec.start * factor, 3)
        elif spec.start >= horizon:
            continue
        scheduled.append(d)
    data["disruptions"]["scheduled"] = scheduled
    return scenario_from_data(data, f"{FLAGSHIP} cut to {horizon:g}h")


@pytest.mark.parametrize("squeeze", [False, True], ids=["dropped", "squeezed"])
def test_flagship_cut_to_five_days(squeeze: bool) -> None:
    scenario = flagship_in(120.0, squeeze)
    world, record, monitor = run_monitored(scenario, 0)
    check_all(world, record, monitor)
    # the run did exercise what it is meant to
    assert len(record.book) > 10_000
    assert (record.outcomes.status == ALLOCATED).sum() > 0.25 * len(record.book)
    assert record.returns_received > 0
    assert np.any(np.diff(record.book.extra_start) > 0), "no multi-line orders"
    assert any(c.consumed > 0 for c in record.components), "no components used"
    assert any(
        lane.scheduled is not None and lane.scheduled.departures_log
        for options in world.lanes.values()
        for lane in options
    )
    if squeeze:
        assert record.book.presale.any()
        assert any(p.replay for p in record.pulses)
        kinds = {d.kind for d in record.disruptions}
        assert {"supplier_outage", "carrier_capacity_cut"} <= kinds
        assert any(sum(s.ordered.values()) for s in world.suppliers.values()), "nothing bought"


# --- regression: a shipment made ahead of the clock -------------------------------------------

# A central warehouse holds 1 unit; its region's orders (often of 2+ units) wait there and block a
# transfer the forward warehouse asked for later. When a waiting order's patience runs out, the
# next order arrival cancels it (→ `_expire` → `_serve_waiting`) and ships the freed unit to the
# forward warehouse. This happens in the arrivals fast path, at the arrival time t. The model once
# did it with the SimPy clock still at the last event; `ScheduledLane.send` picks the first
# departure at or after `env.now`, not t, so a departure between the two carried units shipped
# after it left, and with a short transit they reached the forward warehouse before they were
# shipped: orders were allocated before their release and pick/pack was offered work out of time
# order (about one seed in five at 2 orders/h). Units were conserved; time was not. Found by this
# file's dock check; `World._arrivals` now brings the clock to t before it expires orders.
EARLY_DEPARTURE: dict[str, Any] = {
    "name": "early_departure",
    "seed": 0,
    "horizon": 48,
    "skus": {"A": {"unit_cost": 1, "price": 2, "order_size_mean": 2.5}},
    "sites": {
        "factory": {"kind": "factory", "location": [0, 0], "capacity": 1},
        "central": {
            "kind": "warehouse",
            "role": "central",
            "location": [1, 0],
            "initial_stock": 1,
            "pick_pack": {"workers": 1, "rate": 60},
        },
        "fwd": {
            "kind": "warehouse",
            "role": "forward",
            "location": [2, 0],
            "initial_stock": 3,
            "pick_pack": {"workers": 1, "rate": 60},
        },
        "rc": {"kind": "region", "location": [3, 0], "sla": 24, "patience": 1},
        "rf": {"kind": "region", "location": [4, 0], "sla": 24, "patience": 1},
    },
    "lanes": [
        {"from": "factory", "to": "central", "transit": 1},
        {"from": "central", "to": "fwd", "transit": 0, "departures": {"every": 0.5}},
        {"from": "central", "to": "rc", "transit": 1},
        {"from": "fwd", "to": "rf", "transit": 1},
    ],
    "demand": {"baseline": {"orders_per_hour": 2.0}},
    "policies": {"fwd": {"kind": "base_stock", "review": 2, "sites": "forward", "target": 3}},
}


@pytest.mark.parametrize("orders_per_hour", [2.0, 4.0])
def test_scheduled_shipment_never_leaves_before_it_is_sent(orders_per_hour: float) -> None:
    early = []
    for seed in range(40):
        data = EARLY_DEPARTURE | {
            "seed": seed,
            "demand": {"baseline": {"orders_per_hour": orders_per_hour}},
        }
        scenario = scenario_from_data(data, "early_departure")
        world, record, monitor = run_monitored(scenario, 0)
        check_units(world, record, monitor)
        check_orders(world, record, monitor)  # no allocation before release, FCFS pick/pack
        (lane,) = world.lanes[("central", "fwd")]
        assert lane.scheduled is not None
        dock = deque([t, q] for t, q in monitor.sends[id(lane.scheduled)] if q)
        for t, _, units in lane.scheduled.departures_log:
            while units:
                if dock[0][0] > t + 1e-9:
                    early.append((seed, t, dock[0][0]))
                take = min(units, dock[0][1])
                units -= take
                dock[0][1] -= take
                if not dock[0][1]:
                    dock.popleft()
    assert not early, f"(seed, departure, sent) of units that left before they were sent: {early}"


# --- regression: an uplift drawn below 1 --------------------------------------------------------

# The uplift M of a livestream is drawn from a lognormal fitted to the planner's P50 and P90, so
# it falls below 1 with probability Φ(−ln P50 / σ) (half the time when P50 = 1). Its pulse then
# adds (M − 1)·share·exp(−(t − t_e)/τ) < 0 to λ: with share > 1 (an audience weight above 1, as
# in the flagship) or overlapping pulses, λ goes negative and `rng.poisson` raises
# `ValueError: lam < 0` out of `demand.sample_nhpp` (not a TwinError). Even when λ stays positive
# the thinning bound, taken at the start of each piece, is then the minimum of a rising term, not
# an upper bound (DESIGN §4: "a bound that is provably above λ"). Here M ≈ 0.25, 0.48 and 0.45 at
# seeds 3, 13 and 18.
UPLIFT_BELOW_ONE: dict[str, Any] = {
    "name": "uplift_below_one",
    "seed": 0,
    "horizon": 24,
    "skus": {"A": {"unit_cost": 1, "price": 2}},
    "sites": {
        "factory": {"kind": "factory", "location": [0, 0], "capacity": 1},
        "central": {
            "kind": "warehouse",
            "role": "central",
            "location": [1, 0],
            "pick_pack": {"workers": 1, "rate": 10},
        },
        "r": {"kind": "region", "location": [2, 0], "sla": 24, "patience": 24},
    },
    "lanes": [
        {"from": "factory", "to": "central", "transit": 1},
        {"from": "central", "to": "r", "transit": 1},
    ],
    "demand": {
        "baseline": {"orders_per_hour": 1.0},
        "livestreams": {
            "live": {
                "start": 1,
                "duration": 2,
                "decay": 1,
                "uplift": {"p50": 1, "p90": 2},
                "featured": {"A": 1.0},
                "audience": {"r": 2.0},
            }
        },
    },
}


# (fixed: the model now takes a draw below 1 as 1, no pulse)
def test_livestream_uplift_drawn_below_one_runs() -> None:
    for seed in range(20):
        scenario = scenario_from_data(UPLIFT_BELOW_ONE | {"seed": seed}, "uplift_below_one")
        world, record, monitor = run_monitored(scenario, 0)
        check_all(world, record, monitor)
