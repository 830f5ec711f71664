"""The SimPy world: builds a network from a `Scenario`, runs one replication, returns its record.

Orders do not each get a SimPy process. Demand is drawn up front; one arrival process walks the
orders in time order and, between the other events of the simulation (`env.peek()`), handles them
without advancing the clock: pick/pack is an exact FCFS heap and deliveries follow arithmetically.
Only what changes stock later (shipments, put-aways, returns) and the policies' reviews are events.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
from simpy.events import Timeout

from twin import network
from twin.config.schema import FactorySpec, LaneSpec, RegionSpec, Scenario, WarehouseSpec
from twin.config.supply import SupplierSpec
from twin.distributions import Constant, DrawBuffer, Gamma
from twin.errors import ModelError
from twin.model import disruption
from twin.model.batching import BatchRule, BatchStats, Held, assign, closes_at
from twin.model.carrier import ScheduledLane, Waves, choose_carrier
from twin.model.demand import OrderBook, Pulse, draw_demand
from twin.model.factory import Factory
from twin.model.last_mile import MilkRuns, RoutedLane
from twin.model.ledger import (
    ALLOCATED,
    CANCELLED,
    WAITING,
    Balance,
    ComponentBalance,
    Ledger,
    Outcomes,
    check_components,
    check_conservation,
)
from twin.model.sampler import Sampler, Samples, sample_grid
from twin.model.supplier import Supplier
from twin.model.warehouse import PickPack, Warehouse
from twin.network import network_info
from twin.policies import REGISTRY, Policy
from twin.rng import Streams
from twin.state import (
    BatchSourcing,
    Decision,
    DispatchRule,
    ElasticActivation,
    NetworkInfo,
    ProductionOrder,
    PurchaseOrder,
    SourcingRule,
    State,
    SupplierInfo,
    Transfer,
)

HOURS_PER_YEAR = 24 * 365
Items = list[tuple[int, int]]
"""(SKU index, units) pairs travelling or waiting together."""


@dataclass(slots=True)
class Lane:
    """A lane of one carrier at run time: transit draws, costs, and its schedule if it has one."""

    origin: str
    destination: str
    carrier: str
    transit: DrawBuffer | None
    """Transit draws; None on a routed lane (its deliveries follow the routes)."""
    mean_transit: float
    cost_per_shipment: float
    cost_per_unit: float
    scheduled: ScheduledLane | None = None
    waves: Waves | None = None
    routed: RoutedLane | None = None

    @property
    def cost(self) -> float:
        """Cost of a one-unit shipment: the carrier-choice key."""
        return self.cost_per_shipment + self.cost_per_unit

    @property
    def name(self) -> str:
        """The carrier's name (carrier choice breaks ties by it)."""
        return self.carrier


@dataclass(frozen=True)
class RunRecord:
    """Everything KPIs and reports need from one replication (computed after the run)."""

    scenario: Scenario
    replication: int
    skus: list[str]
    regions: list[str]
    warehouses: list[str]
    book: OrderBook
    outcomes: Outcomes
    pulses: list[Pulse]
    disruptions: list[disruption.Disruption]
    balances: list[Balance]
    components: list[ComponentBalance]
    costs: dict[str, float]
    cost_book: dict[tuple[str, str, int], float]
    """Cost by (part, site, day)."""
    refunds: float
    returns_received: int
    restocked: int
    scrapped: int
    pick_pack_busy: float
    pick_pack_capacity: float
    factory_busy: float
    factory_capacity: float
    decisions: list[tuple[float, str, Any]]
    routing: dict[str, float]
    """Routed last mile totals (`waves`, `vehicles`, `km`, `fallbacks`); empty when no lane routes."""
    samples: Samples
    """Stock, backlog, inbound and resource load per SKU and site on the sampling grid."""
    departures: dict[str, list[tuple[float, int | None, int]]]
    """Per line-haul lane (`origin->destination`), (time, capacity, units loaded) of each departure."""
    waves: dict[str, list[tuple[float, int | None, int]]]
    """Per last-mile lane with waves (`origin->region@carrier`), (time, capacity, orders) per wave."""

    @property
    def horizon_h(self) -> float:
        """The run's horizon in hours."""
        return self.scenario.horizon


def build_policies(scenario: Scenario, info: NetworkInfo) -> list[tuple[str, float, Policy]]:
    """(name, review period, policy) for each policy of the scenario, in file order."""
    out = []
    for name, spec in scenario.policies.items():
        kind = REGISTRY.resolve(spec.kind)
        out.append((name, spec.review, kind.build(kind.params.model_validate(spec.params), info)))
    return out


def event_times(world_pulses: list[Pulse], disruptions: list[disruption.Disruption]) -> list[float]:
    """When event-driven policies decide: each livestream's start and each disruption's start."""
    return sorted({p.start for p in world_pulses if not p.replay} | {d.start for d in disruptions})


class World:
    """One replication of a scenario: build with the replication index, then `run()`."""

    def __init__(self, scenario: Scenario, replication: int = 0) -> None:
        self.scenario = scenario
        self.replication = replication
        self.horizon = scenario.horizon
        self.env = simpy.Environment()
        self.streams = Streams.for_replication(scenario.seed, replication)
        self.skus = list(scenario.skus)
        self._sku_index = {k: i for i, k in enumerate(self.skus)}
        self._price = [scenario.skus[k].price for k in self.skus]
        self.regions = scenario.sites_of("region")
        self.pulses, self.book = draw_demand(scenario, self.streams)
        self._prepare_book()
        self._station = self._draw_stations()
        self._awaiting: dict[int, list[Any]] = {}
        """Orders with parts on routed waves: [parts to go, latest delivery, returns by warehouse]."""
        self.ledger = Ledger(len(self.book), len(self.skus))
        self.warehouses = self._build_warehouses()
        self.by_id = {w.id: w for w in self.warehouses}
        self.milk_runs = {
            wid: MilkRuns(spec.milk_runs, spec.location)
            for wid in scenario.sites_of("warehouse")
            if isinstance(spec := scenario.sites[wid], WarehouseSpec) and spec.milk_runs
        }
        self.lanes: dict[tuple[str, str], list[Lane]] = {}
        for spec in scenario.lanes:
            self.lanes.setdefault((spec.origin, spec.destination), []).append(self._lane(spec))
        for options in self.lanes.values():
            options.sort(key=lambda ln: (ln.cost, ln.carrier))
        serving = network.serving_order(scenario)
        self.serving = [[self.by_id[w] for w in serving[r]] for r in self.regions]
        """Per region, the warehouses its orders try in turn (a `SourcingRule` replaces it)."""
        self._split = [False] * len(self.regions)
        self._batching: list[BatchRule | None] = [None] * len(self.regions)
        """Per region, the batch rule its orders are held under (a `BatchSourcing`); None: none."""
        self._held: dict[float, list[Held]] = {}
        """Orders held for batch sourcing, by the time their batch closes."""
        self.batch_stats = BatchStats()
        self._region_index = {r: g for g, r in enumerate(self.regions)}
        self.last_mile = [
            [list(self.lanes.get((w.id, r), [])) for r in self.regions] for w in self.warehouses
        ]
        """Per warehouse and region, the carriers in order of preference (a `DispatchRule`'s)."""
        regions = [scenario.sites[r] for r in self.regions]
        self.patience = [r.patience for r in regions if isinstance(r, RegionSpec)]
        returns_to = scenario.returns.to
        self._returns_to = None if returns_to is None else self.by_id[returns_to]
        self.factories = {
            fid: Factory(
                self.env,
                fid,
                spec,
                self.skus,
                [scenario.skus[k].family for k in self.skus],
                [scenario.skus[k].unit_cost for k in self.skus],
                self.horizon,
                self.streams.get(f"factory/{fid}/yield"),
                self._factory_ship,
                self.ledger.cost,
            )
            for fid, spec in scenario.sites.items()
            if isinstance(spec, FactorySpec)
        }
        self.suppliers = {
            sid: Supplier(self.env, sid, spec, self.streams, self.horizon, self._components_arrive)
            for sid, spec in scenario.sites.items()
            if isinstance(spec, SupplierSpec)
        }
        self._on_order_units: dict[tuple[str, str], int] = {}
        self.info = network_info(scenario)
        self.policies = build_policies(scenario, self.info)
        self.disruptions = disruption.draw(scenario, self.streams)
        self._apply_disruptions()
        self._deadlines: list[tuple[float, int]] = []
        days = int(self.horizon // 24.0) + 1
        self._last_mile_cost = [[0.0] * days for _ in self.warehouses]
        self._inspection = {
            w.id: self.streams.get(f"warehouse/{w.id}/inspection") for w in self.warehouses
        }
        self.sampler = Sampler(
            sample_grid(self.horizon, [(p.start, p.end) for p in self.pulses]),
            self.warehouses,
            list(self.factories.values()),
            len(self.skus),
        )

    # -- construction -------------------------------------------------------------------------

    def _prepare_book(self) -> None:
        """Plain lists of the order columns the hot path reads (list indexing beats numpy's)."""
        book = self.book
        self._region = book.region.tolist()
        self._sku = book.sku.tolist()
        self._qty = book.quantity.tolist()
        self._extra = book.extra_start.tolist()
        self._promised = book.promised.tolist()
        self._time = book.time.tolist()
        self._returned = book.return_units.tolist()
        self._lag = book.return_lag.tolist()
        owner, line_sku, line_qty, _ = book.lines()
        mine = book.presale[owner]  # every line of every pre-order
        self._presale = (owner[mine], line_sku[mine], line_qty[mine])

    def _draw_stations(self) -> list[int]:
        """Each order's delivery station (by its region's station weights), when any lane routes."""
        if not any(lane.routing is not None for lane in self.scenario.lanes):
            return []
        station = np.zeros(len(self.book), np.int64)
        for g, rid in enumerate(self.regions):
            region = self.scenario.sites[rid]
            assert isinstance(region, RegionSpec)
            weights = np.array([s.weight for s in region.station_list()])
            mine = np.flatnonzero(self.book.region == g)
            rng = self.streams.get(f"region/{rid}/stations")
            station[mine] = rng.choice(len(weights), size=mine.size, p=weights / weights.sum())
        return station.tolist()

    def _lines(self, i: int) -> list[tuple[int, int]]:
        """(SKU, units) of every line of order i."""
        lines = [(self._sku[i], self._qty[i])]
        a, b = self._extra[i], self._extra[i + 1]
        if b > a:
            book = self.book
            lines += zip(
                book.extra_sku[a:b].tolist(), book.extra_quantity[a:b].tolist(), strict=True
            )
        return lines

    def _lane(self, spec: LaneSpec) -> Lane:
        suffix = "" if spec.carrier == "default" else f"@{spec.carrier}"
        name = f"lane/{spec.origin}->{spec.destination}{suffix}/transit"
        dist = None if spec.transit is None else spec.transit.build()
        lane = Lane(
            spec.origin,
            spec.destination,
            spec.carrier,
            None if dist is None else DrawBuffer(dist, self.streams.get(name)),
            network.mean_transit(self.scenario, spec),
            spec.cost_per_shipment,
            spec.cost_per_unit,
        )
        if spec.routing is not None:
            region = self.scenario.sites[spec.destination]
            assert isinstance(region, RegionSpec)
            lane.routed = RoutedLane(
                spec.routing,
                self.by_id[spec.origin].index,
                self.scenario.sites[spec.origin].location,
                region.station_list(),
            )
        if spec.departures is not None:
            dest = self.by_id[spec.destination]
            lane.scheduled = ScheduledLane(
                self.env,
                f"{spec.origin}->{spec.destination}{suffix}",
                spec.departures,
                lane.transit,  # type: ignore[arg-type]  # a line-haul lane has transit
                spec.cost_per_shipment,
                spec.cost_per_unit,
                self.horizon,
                lambda items, w=dest: self._arrive(self.env.now, w, items),
                len(self.skus),
            )
        if spec.waves is not None:
            lane.waves = Waves(spec.waves, self.horizon)
        return lane

    def _build_warehouses(self) -> list[Warehouse]:
        rate = self.scenario.costs.holding_rate_per_year / HOURS_PER_YEAR
        hold = [self.scenario.skus[k].unit_cost * rate for k in self.skus]
        out = []
        for sid in self.scenario.sites_of("warehouse"):
            spec = self.scenario.sites[sid]
            assert isinstance(spec, WarehouseSpec)
            pp = spec.pick_pack
            service = DrawBuffer(
                Gamma(1.0 / pp.rate, pp.service_cv), self.streams.get(f"warehouse/{sid}/pick_pack")
            )
            stock = [spec.initial(k) for k in self.skus]
            for k, q in enumerate(stock):
                self.ledger.initial[k] += q
            w = Warehouse(
                len(out),
                sid,
                spec.role,
                stock,
                hold,
                PickPack(pp.workers, service, self.horizon),
                spec.inbound_handling,
                spec.inspection.time,
                spec.inspection.restock_fraction,
            )
            if spec.inspection.inspectors is not None:
                w.inspect = PickPack(
                    spec.inspection.inspectors,
                    DrawBuffer(
                        Constant(spec.inspection.time),
                        self.streams.get(f"warehouse/{sid}/inspectors"),
                    ),
                    self.horizon,
                )
            out.append(w)
        return out

    def _apply_disruptions(self) -> None:
        """Hand each disruption to the entity it strikes."""
        for d in self.disruptions:
            if d.kind == "supplier_outage":
                self.suppliers[d.target].schedule_outage(d.start, d.end - d.start)
            elif d.kind == "lead_time_spike":
                self.suppliers[d.target].lead_time_spike(d.start, d.end - d.start, d.severity)
            elif d.kind == "line_down":
                factory = self.factories[d.target]
                for line in factory.lines:
                    if (d.line is None and not line.elastic) or line.id == d.line:
                        factory.line_down(line.id, d.start, d.end)
            elif d.kind == "warehouse_closure":
                w = self.by_id[d.target]
                w.close_between(d.start, d.end)
                self.at(d.end, self._reopen, w)
            elif d.kind == "carrier_capacity_cut":
                origin, destination = d.target.split("->")
                for lane in self.lanes[(origin, destination)]:
                    for capacity in (lane.scheduled, lane.waves):
                        if capacity is not None:
                            capacity.cut(d.start, d.end - d.start, d.severity)

    # -- scheduling helpers -------------------------------------------------------------------

    def at(self, time: float, fn: Callable[..., None], *args: Any) -> None:
        """Call `fn(time, *args)` at absolute time `time` (if before the horizon).

        The callback gets `time` itself rather than reading `env.now`: the clock reaches an event
        as `now + (time − now)`, which can differ from `time` in the last bit, and results must
        not depend on which other events happened to set `now`.
        """
        if time >= self.horizon:
            return
        ev = Timeout(self.env, max(0.0, time - self.env.now))
        ev.callbacks.append(lambda _ev: fn(time, *args))

    # -- customer orders (the hot path) ---------------------------------------------------------

    def _arrivals(self) -> Generator[simpy.Event, None, None]:
        """Hand every order to fulfilment at its release time.

        The common case (one line, stock at a warehouse) is inlined here with its lookups bound to
        locals: this loop runs once per order and is the simulation's hot path.
        """
        env, peek = self.env, self.env.peek
        region, sku, qty, extra = self._region, self._sku, self._qty, self._extra
        serving, deadlines, allocate = self.serving, self._deadlines, self._allocate
        batching = self._batching
        for i, t in enumerate(self._time):
            if t >= peek():
                yield env.timeout(t - env.now)
            if deadlines and deadlines[0][0] <= t:
                # a cancellation can free stock that ships at once (a waiting transfer): bring
                # the clock to t first, so whatever reads env.now (a lane's dock) sees the truth
                if env.now < t:
                    yield env.timeout(t - env.now)
                self._expire(t)
            if batching[region[i]] is not None:
                self._hold(i, t)
                continue
            if extra[i + 1] != extra[i]:
                self._on_order(i, t)
                continue
            g, k, q = region[i], sku[i], qty[i]
            for w in serving[g]:
                if (
                    w.stock[k] >= q
                    and not w.backlog[k]
                    and not w.pending[k]
                    and (t < w.closed_from or not w.closed(t))
                ):
                    allocate(w, i, g, [(k, q)], t)
                    break
            else:
                self._wait(i, g, [(k, q)], t)

    def _on_order(self, i: int, t: float) -> None:
        """Source an order of several lines: all from one warehouse, else split if the rule says so."""
        g = self._region[i]
        lines = self._lines(i)
        open_ = [w for w in self.serving[g] if not (w.closures and w.closed(t))]
        for w in open_:
            if all(w.can_ship(k, q) for k, q in lines):
                self._allocate(w, i, g, lines, t)
                return
        if self._split[g]:
            parts = self._split_parts(open_, lines)
            if parts is not None:
                self._allocate_split(parts, i, g, lines, t)
                return
        self._wait(i, g, lines, self._time[i])

    def _hold(self, i: int, t: float) -> None:
        """Order i arrived at t in a region under batch sourcing: it waits for its batch."""
        rule = self._batching[self._region[i]]
        assert rule is not None
        close = closes_at(t, rule.every)
        held = self._held.get(close)
        if held is None:
            self._held[close] = held = []
            self.at(close, self._source_batch)  # a batch closing at the horizon never does
        held.append(Held(i, self._lines(i), self._promised[i], rule))

    def _source_batch(self, t: float) -> None:
        """Batches close: ship what the assignment serves, then the rest take the per-order path.

        Stock owed to waiting orders or transfers is not offered (first come, first served), and
        every chosen order is allocated before any other, so none takes what the batch gave away.
        """
        held = self._held.pop(t)
        self._expire(t)
        n = len(self.skus)
        stock = [
            [0 if w.backlog[k] or w.pending[k] else w.stock[k] for k in range(n)]
            for w in self.warehouses
        ]
        is_open = [not (w.closures and w.closed(t)) for w in self.warehouses]
        queue = [w.pick_pack.wait(t) for w in self.warehouses]
        names = [w.id for w in self.warehouses]
        choice = assign(held, stock, is_open, queue, t, names, self.batch_stats)
        for h, w in zip(held, choice, strict=True):
            if w is not None:
                self._allocate(self.warehouses[w], h.order, self._region[h.order], h.lines, t)
        for h, w in zip(held, choice, strict=True):
            if w is None:
                self._on_order(h.order, t)

    @staticmethod
    def _split_parts(
        warehouses: list[Warehouse], lines: Items
    ) -> dict[Warehouse, list[int]] | None:
        """Each line (by index) from the first open warehouse that can ship it; None if one can't."""
        parts: dict[Warehouse, list[int]] = {}
        taken: dict[tuple[int, int], int] = {}
        for j, (k, q) in enumerate(lines):
            for w in warehouses:
                if w.can_ship(k, q + taken.get((w.index, k), 0)):
                    taken[w.index, k] = taken.get((w.index, k), 0) + q
                    parts.setdefault(w, []).append(j)
                    break
            else:
                return None
        return parts

    def _wait(self, i: int, g: int, lines: Items, t: float) -> None:
        """No warehouse can serve order i, which arrived at t: it waits at its region's first one.

        Its patience counts from its arrival.
        """
        home = self.serving[g][0]
        for k, q in lines:
            home.waiting[k].append(i)
            home.backlog[k] += q
        self.ledger.status[i] = WAITING
        self.ledger.warehouse[i] = home.index
        heapq.heappush(self._deadlines, (t + self.patience[g], i))

    def _dispatch(
        self, w: Warehouse, i: int, g: int, lines: Items, t: float
    ) -> tuple[float, float]:
        """Take `lines` from w, pick/pack them and send them to region g: (leaves, delivered)."""
        units = 0
        for k, q in lines:
            w.take(k, q, t)
            units += q
        done = w.pick_pack.serve(t)
        options = self.last_mile[w.index][g]
        lane = options[0] if len(options) == 1 else choose_carrier(options, done, self._promised[i])
        leaves = lane.waves.assign(done) if lane.waves is not None else done
        # last-mile cost per (warehouse, day), booked to the Ledger at the end: no dict per order
        self._last_mile_cost[w.index][int(t // 24.0)] += (
            lane.cost_per_shipment + units * lane.cost_per_unit
        )
        if lane.routed is not None:
            if lane.routed.add(leaves, i, self._station[i], units):
                self.at(leaves, self._route_wave, lane)
            return leaves, math.inf  # delivered when its wave is routed
        return leaves, leaves + lane.transit.next()  # type: ignore[union-attr]

    def _record(self, i: int, w: Warehouse, t: float, leaves: float, delivered: float) -> None:
        led = self.ledger
        led.status[i] = ALLOCATED
        led.warehouse[i] = w.index
        led.allocated[i] = t
        led.shipped[i] = leaves
        led.delivered[i] = delivered

    def _allocate(self, w: Warehouse, i: int, g: int, lines: Items, t: float) -> None:
        """Serve order i whole from w."""
        leaves, delivered = self._dispatch(w, i, g, lines, t)
        self._record(i, w, t, leaves, delivered)
        r = self._returned[i]
        if len(lines) == 1:
            back = [(lines[0][0], r)] if r else []
        else:
            back = [(k, r) for (k, _), r in zip(lines, self._line_returns(i), strict=True) if r]
        if delivered == math.inf:
            self._awaiting[i] = [1, 0.0, [(w, back)]]
        elif back:
            self.at(delivered + self._lag[i], self._return_arrives, self._returns_to or w, back)

    def _allocate_split(
        self, parts: dict[Warehouse, list[int]], i: int, g: int, lines: Items, t: float
    ) -> None:
        """Serve order i in parts: the lines `parts[w]` from each warehouse w.

        The order counts as shipped and delivered when its last part is; each part's returns go
        back to the warehouse it came from (or the scenario's returns site).
        """
        timing = [self._dispatch(w, i, g, [lines[j] for j in js], t) for w, js in parts.items()]
        delivered = max(d for _, d in timing)
        self._record(i, next(iter(parts)), t, max(s for s, _ in timing), delivered)
        returns = self._line_returns(i)
        backs = [
            (w, [(lines[j][0], returns[j]) for j in js if returns[j]]) for w, js in parts.items()
        ]
        if delivered == math.inf:  # some parts go on routed waves
            routed = sum(d == math.inf for _, d in timing)
            self._awaiting[i] = [routed, max(d for _, d in timing if d < math.inf), backs]
            return
        for w, back in backs:
            if back:
                self.at(delivered + self._lag[i], self._return_arrives, self._returns_to or w, back)

    def _route_wave(self, wave: float, lane: Lane) -> None:
        """A routed wave leaves: its orders are delivered along the routes; the rest wait.

        Orders that did not fit the fleet take the next wave; orders for a station whose window
        this wave cannot serve take the first later wave that can.
        """
        routed, waves = lane.routed, lane.waves
        assert routed is not None and waves is not None
        done, rest, held, cost = routed.route(wave)
        if wave < self.horizon:
            self._last_mile_cost[routed.warehouse][int(wave // 24.0)] += cost
        for i, delivered in done:
            self._delivered_part(i, delivered)
        shipped = self.ledger.shipped
        for i, station, units in rest:
            later = waves.assign(waves.after(wave))
            shipped[i] = max(shipped[i], later)
            if routed.add(later, i, station, units):
                self.at(later, self._route_wave, lane)
        serving: dict[int, float] = {}
        for i, station, units in held:
            if station not in serving:
                ready = routed.next_serving_wave(
                    station, waves.after(wave), waves.first, waves.every
                )
                if ready is None:
                    region = self.scenario.sites[lane.destination]
                    assert isinstance(region, RegionSpec)
                    spec = region.station_list()[station]
                    raise ModelError(
                        f"lane {lane.origin}→{lane.destination} ({lane.carrier}): no wave leaving"
                        f" every {waves.every:g} h can serve station {spec.id!r} inside its window"
                        f" {spec.window} within fleet.max_duration; widen it or change the waves"
                    )
                serving[station] = ready
            later = waves.assign(serving[station])
            shipped[i] = max(shipped[i], later)
            if routed.add(later, i, station, units):
                self.at(later, self._route_wave, lane)

    def _delivered_part(self, i: int, delivered: float) -> None:
        """One routed part of order i arrived; the order is delivered with its last part."""
        waiting = self._awaiting[i]
        waiting[0] -= 1
        waiting[1] = max(waiting[1], delivered)
        if waiting[0]:
            return
        del self._awaiting[i]
        self.ledger.delivered[i] = waiting[1]
        for w, back in waiting[2]:
            if back:
                self.at(
                    waiting[1] + self._lag[i], self._return_arrives, self._returns_to or w, back
                )

    def _flush_routes(self) -> None:
        """Route the waves at or after the horizon, so every order has a delivery time."""
        for options in self.lanes.values():
            for lane in options:
                routed = lane.routed
                while routed is not None and routed.buckets:
                    self._route_wave(min(routed.buckets), lane)

    def _line_returns(self, i: int) -> list[int]:
        """Units of each line of order i that will come back (in the order of `_lines`)."""
        a, b = self._extra[i], self._extra[i + 1]
        return [self._returned[i], *self.book.extra_return_units[a:b].tolist()]

    def _expire(self, t: float, strict: bool = False) -> None:
        """Cancel waiting orders whose patience ran out by `t` (before `t` when `strict`)."""
        led = self.ledger
        freed: set[tuple[Warehouse, int]] = set()
        while self._deadlines and (
            self._deadlines[0][0] < t if strict else self._deadlines[0][0] <= t
        ):
            deadline, i = heapq.heappop(self._deadlines)
            if led.status[i] != WAITING:
                continue
            led.status[i] = CANCELLED
            led.cancelled[i] = deadline
            w = self.warehouses[led.warehouse[i]]
            for k, q in self._lines(i):
                w.backlog[k] -= q
                queue = w.waiting[k]
                while queue and led.status[queue[0]] != WAITING:
                    queue.popleft()
                if queue and w.stock[k] > 0:
                    freed.add((w, k))
        if not strict:
            for w, k in sorted(freed, key=lambda wk: (wk[0].index, wk[1])):
                self._serve_waiting(w, k, t)  # a cancelled head may have blocked others

    def _head(self, w: Warehouse, k: int) -> int | None:
        """The first order still waiting at `w` for SKU k."""
        queue, status = w.waiting[k], self.ledger.status
        while queue and status[queue[0]] != WAITING:
            queue.popleft()
        return queue[0] if queue else None

    def _serve_waiting(self, w: Warehouse, k: int, t: float) -> None:
        """Give newly available stock to what waits at `w`, first come first served.

        Two queues wait for a SKU: customer orders, and transfers other warehouses asked for when
        there was no stock. They are merged by the time each request was made. A customer order
        needs all its lines at once and must head the queue of each of its SKUs; a transfer ships
        what there is and keeps waiting for the rest.
        """
        if w.closures and w.closed(t):
            return  # nothing leaves a closed warehouse; its queues are served when it reopens
        self._expire(t)
        pending, released = w.pending[k], self._time
        loads: dict[str, int] = {}
        others: list[int] = []
        while w.stock[k] > 0:
            i = self._head(w, k)
            if i is None and not pending:
                break
            if pending and (i is None or pending[0][0] <= released[i]):
                request = pending[0]
                q = min(request[2], w.stock[k])
                w.take(k, q, t)
                w.transfer_backlog[k] -= q
                request[2] -= q
                loads[request[1]] = loads.get(request[1], 0) + q
                if request[2] == 0:
                    pending.popleft()
                continue
            assert i is not None
            lines = self._lines(i)
            if any(w.stock[k2] < q2 or self._head(w, k2) != i for k2, q2 in lines):
                break
            for k2, q2 in lines:
                w.backlog[k2] -= q2
                if k2 != k:
                    others.append(k2)
            self._allocate(w, i, self._region[i], lines, t)
        for destination, q in loads.items():
            self._ship(self._linehaul(w.id, destination), self.by_id[destination], [(k, q)], t)
        for k2 in others:  # an order that held the head of another SKU's queue has gone
            self._serve_waiting(w, k2, t)

    # -- stock movements between sites ----------------------------------------------------------

    def _linehaul(self, origin: str, destination: str) -> Lane:
        """The cheapest carrier from `origin` to `destination` (no promise binds a transfer)."""
        options = self.lanes.get((origin, destination))
        if not options:
            raise ModelError(f"no lane from {origin!r} to {destination!r}")
        return options[0]

    def _ship(self, lane: Lane, w: Warehouse, items: Items, now: float) -> None:
        """Send (SKU, units) to `w`: now as one truck, or at the lane's next departures."""
        units = 0
        for k, q in items:
            self.ledger.in_transit[k] += q
            units += q
        if lane.scheduled is not None:
            lane.scheduled.send(items)  # its cost is booked per departure at the end
            return
        self.ledger.cost(
            "transport_linehaul",
            lane.cost_per_shipment + units * lane.cost_per_unit,
            lane.origin,
            now,
        )
        self.at(now + lane.transit.next(), self._arrive, w, items)

    def _factory_ship(self, factory: str, destination: str, k: int, q: int) -> None:
        self._ship(
            self._linehaul(factory, destination), self.by_id[destination], [(k, q)], self.env.now
        )

    def _arrive(self, now: float, w: Warehouse, items: Items) -> None:
        for k, q in items:
            self.ledger.in_transit[k] -= q
            w.handling[k] += q
        if w.inbound_handling > 0:
            self.at(now + w.inbound_handling, self._put_away, w, items)
        else:
            self._put_away(now, w, items)

    def _put_away(self, now: float, w: Warehouse, items: Items) -> None:
        for k, q in items:
            w.handling[k] -= q
            w.inbound[k] -= q
            w.put(k, q, now)
        for k, _ in items:
            self._serve_waiting(w, k, now)

    def _return_arrives(self, now: float, w: Warehouse, lines: Items) -> None:
        led = self.ledger
        costs = (
            self.scenario.costs.returns_handling_per_unit
            + self.scenario.returns.shipping_cost_per_unit
        )
        units = 0
        for k, r in lines:
            led.returns_received[k] += r
            led.refunds += r * self._price[k]
            w.inspecting[k] += r
            units += r
        led.cost("returns", units * costs, w.id, now)
        done = w.inspect.serve(now) if w.inspect is not None else now + w.inspection_time
        self.at(done, self._inspected, w, lines)

    def _inspected(self, now: float, w: Warehouse, lines: Items) -> None:
        rng = self._inspection[w.id]
        for k, r in lines:
            restock = int(rng.binomial(r, w.restock_fraction))
            w.inspecting[k] -= r
            self.ledger.restocked[k] += restock
            self.ledger.scrapped[k] += r - restock
            if restock:
                w.put(k, restock, now)
                self._serve_waiting(w, k, now)

    def _reopen(self, now: float, w: Warehouse) -> None:
        """A closure ends: serve what queued while the warehouse was closed."""
        for k in range(len(self.skus)):
            self._serve_waiting(w, k, now)

    def _components_arrive(self, factory: str, component: str, units: int) -> None:
        key = (factory, component)
        self._on_order_units[key] = self._on_order_units.get(key, 0) - units
        self.factories[factory].receive_components(component, units)

    # -- policies -------------------------------------------------------------------------------

    def snapshot(self) -> State:
        """What a planner can know now."""
        t = self.env.now
        self._expire(t)
        skus, book = self.skus, self.book
        lo, hi = np.searchsorted(book.time, [t - 1.0, t])
        a, b = book.extra_start[lo], book.extra_start[hi]  # the extra lines of those orders
        rate = np.bincount(book.sku[lo:hi], weights=book.quantity[lo:hi], minlength=len(skus))
        rate += np.bincount(
            book.extra_sku[a:b], weights=book.extra_quantity[a:b], minlength=len(skus)
        )
        owner, line_sku, line_qty = self._presale
        open_ = (book.created[owner] <= t) & (book.time[owner] > t)
        presale = np.bincount(line_sku[open_], weights=line_qty[open_], minlength=len(skus))
        factories = self.factories.values()
        return State(
            time=t,
            on_hand={w.id: dict(zip(skus, w.stock, strict=True)) for w in self.warehouses},
            inbound={w.id: dict(zip(skus, w.inbound, strict=True)) for w in self.warehouses},
            backorders={
                w.id: {sku: w.backlog[k] + w.transfer_backlog[k] for k, sku in enumerate(skus)}
                for w in self.warehouses
            },
            production_queue={f.id: dict(zip(skus, f.queued, strict=True)) for f in factories},
            elastic={f.id: f.elastic_status(t) for f in factories},
            live_events=tuple(p.name for p in self.pulses if p.start <= t < p.end),
            order_rate={k: float(v) for k, v in zip(skus, rate, strict=True)},
            presale_open={k: int(v) for k, v in zip(skus, presale, strict=True) if v},
            components={f.id: dict(sorted(f.components.items())) for f in factories},
            components_on_order={
                f.id: {c: self._on_order_units.get((f.id, c), 0) for c in sorted(f.components)}
                for f in factories
            },
            pick_wait={w.id: w.pick_pack.wait(t) for w in self.warehouses},
            closed=tuple(w.id for w in self.warehouses if w.closures and w.closed(t)),
            suppliers={
                s.id: SupplierInfo(
                    s.tier,
                    s.status(t),
                    s.lead_time_mean,
                    s.spec.moq,
                    tuple(sorted(s.spec.components)),
                )
                for s in self.suppliers.values()
            },
        )

    def execute(self, decisions: list[Decision], policy: str) -> None:
        """Carry out one review's decisions now; transfers on the same lane travel as one shipment."""
        t = self.env.now
        loads: dict[tuple[str, str], Items] = {}
        for decision in decisions:
            self.ledger.decisions.append((t, policy, decision))
            if isinstance(decision, Transfer):
                item = self._pick_transfer(decision, policy)
                if item is not None:
                    loads.setdefault((decision.origin, decision.destination), []).append(item)
            elif isinstance(decision, ProductionOrder):
                factory = self._known(self.factories, decision.factory, policy, "factory")
                w = self._known(self.by_id, decision.destination, policy, "warehouse")
                k = self._known(self._sku_index, decision.sku, policy, "SKU")
                if decision.quantity > 0:
                    w.inbound[k] += decision.quantity
                    factory.order(k, decision.quantity, w.id, decision.priority)
            elif isinstance(decision, ElasticActivation):
                factory = self._known(self.factories, decision.factory, policy, "factory")
                factory.set_elastic(decision.active, t)
            elif isinstance(decision, PurchaseOrder):
                self._purchase(decision, policy, t)
            elif isinstance(decision, SourcingRule | BatchSourcing):
                self._set_sourcing(decision, policy)
            elif isinstance(decision, DispatchRule):
                self._set_dispatch(decision, policy, t)
            else:
                raise ModelError(
                    f"policy {policy!r} returned {decision!r}, which is not a Decision"
                )
        by_origin: dict[str, dict[str, Items]] = {}
        for (origin, destination), items in loads.items():
            by_origin.setdefault(origin, {})[destination] = items
        for origin, sends in by_origin.items():
            if origin in self.milk_runs and len(sends) > 1:
                sends = self._milk_run(self.milk_runs[origin], origin, sends, t)
            for destination, items in sends.items():
                self._ship(self._linehaul(origin, destination), self.by_id[destination], items, t)

    def _milk_run(
        self, runs: MilkRuns, origin: str, sends: dict[str, Items], t: float
    ) -> dict[str, Items]:
        """Send `sends` as one routed trip if it pays; return what still goes by truck."""
        lanes = {d: self._linehaul(origin, d) for d in sends}
        eligible = {d: items for d, items in sends.items() if lanes[d].scheduled is None}
        if len(eligible) < 2:
            return sends
        units = {d: sum(q for _, q in items) for d, items in eligible.items()}
        trucks = sum(lanes[d].cost_per_shipment + units[d] * lanes[d].cost_per_unit for d in units)
        sites = self.scenario.sites
        plan = runs.plan({d: (sites[d].location, units[d]) for d in eligible}, trucks)
        if plan is None:
            return sends
        hours, cost = plan
        self.ledger.cost("transport_linehaul", cost, origin, t)
        for d, items in eligible.items():
            for k, q in items:
                self.ledger.in_transit[k] += q
            self.at(t + hours[d], self._arrive, self.by_id[d], items)
        return {d: items for d, items in sends.items() if d not in eligible}

    def _set_sourcing(self, d: SourcingRule | BatchSourcing, policy: str) -> None:
        """A region's warehouse ranking (and, for a `BatchSourcing`, its batch rule) from now on."""
        g = self._known(self._region_index, d.region, policy, "region")
        names = d.warehouses
        ws = [self._known(self.by_id, w, policy, "warehouse") for w in names]
        if not ws or len(set(names)) != len(ws):
            raise ModelError(
                f"policy {policy!r} gave region {d.region!r} the warehouses {list(names)}:"
                " it needs at least one, each once"
            )
        for w in ws:
            if not self.last_mile[w.index][g]:
                raise ModelError(
                    f"policy {policy!r} sources region {d.region!r} from {w.id!r},"
                    " which has no last-mile lane to it"
                )
        self.serving[g] = ws
        self._split[g] = d.split
        self._batching[g] = None if isinstance(d, SourcingRule) else self._batch_rule(d, ws, policy)

    @staticmethod
    def _batch_rule(d: BatchSourcing, ws: list[Warehouse], policy: str) -> BatchRule:
        """A `BatchSourcing` resolved to warehouse indices, its numbers checked."""
        checks = (
            ("every", d.every, d.every > 0),
            ("unserved_penalty", d.unserved_penalty, d.unserved_penalty >= 0),
            ("late_cost", d.late_cost, d.late_cost >= 0),
            ("time_limit", d.time_limit, d.time_limit > 0),
        )
        for name, value, ok in checks:
            if not (ok and math.isfinite(value)):
                raise ModelError(
                    f"policy {policy!r} gave region {d.region!r} a batch {name} (={value!r})"
                    f" that is not {'> 0' if name in ('every', 'time_limit') else '>= 0'}"
                )
        for o in d.options:
            numbers = (o.cost_per_order, o.cost_per_unit, o.hours)
            if not all(math.isfinite(x) and x >= 0 for x in numbers):
                raise ModelError(
                    f"policy {policy!r} gave region {d.region!r} the batch option {o!r}:"
                    " its costs and hours must be finite and >= 0"
                )
        return BatchRule(
            d.every,
            tuple(w.index for w in ws),
            tuple(o.cost_per_order for o in d.options),
            tuple(o.cost_per_unit for o in d.options),
            tuple(o.hours for o in d.options),
            d.unserved_penalty,
            d.late_cost,
            d.time_limit,
        )

    def _set_dispatch(self, d: DispatchRule, policy: str, t: float) -> None:
        w = self._known(self.by_id, d.warehouse, policy, "warehouse")
        g = self._known(self._region_index, d.region, policy, "region")
        carriers = {lane.carrier: lane for lane in self.lanes.get((w.id, d.region), [])}
        if not carriers:
            raise ModelError(f"policy {policy!r} dispatches on {w.id}→{d.region}: no such lane")
        if not d.carriers or len(set(d.carriers)) != len(d.carriers):
            raise ModelError(
                f"policy {policy!r} gave lane {w.id}→{d.region} the carriers {list(d.carriers)}:"
                " it needs at least one, each once"
            )
        options = [
            self._known(carriers, c, policy, f"carrier on {w.id}→{d.region}") for c in d.carriers
        ]
        self.last_mile[w.index][g] = options
        for lane in carriers.values():
            if lane.waves is not None:
                lane.waves.set_every(t, d.wave_every)

    def _purchase(self, d: PurchaseOrder, policy: str, t: float) -> None:
        supplier = self._known(self.suppliers, d.supplier, policy, "supplier")
        self._known(self.factories, d.factory, policy, "factory")
        if d.quantity <= 0:
            return
        before = supplier.procurement_cost
        units = supplier.order(d.component, d.quantity, d.factory)
        self.ledger.cost("procurement", supplier.procurement_cost - before, supplier.id, t)
        key = (d.factory, d.component)
        self._on_order_units[key] = self._on_order_units.get(key, 0) + units

    def _pick_transfer(self, d: Transfer, policy: str) -> tuple[int, int] | None:
        """Take a transfer's units from its origin (as many as there are); None if none."""
        origin = self._known(self.by_id, d.origin, policy, "warehouse")
        dest = self._known(self.by_id, d.destination, policy, "warehouse")
        k = self._known(self._sku_index, d.sku, policy, "SKU")
        if (d.origin, d.destination) not in self.lanes:
            raise ModelError(
                f"policy {policy!r} asked for a transfer {d.origin}→{d.destination}, "
                "but the scenario has no such lane"
            )
        if d.quantity <= 0:
            return None
        dest.inbound[k] += d.quantity
        queued = bool(origin.pending[k]) or origin.backlog[k] > 0
        q = 0 if queued else min(d.quantity, origin.stock[k])
        if q < d.quantity:  # the rest waits at the origin for stock, first come first served
            origin.pending[k].append([self.env.now, dest.id, d.quantity - q])
            origin.transfer_backlog[k] += d.quantity - q
        if q == 0:
            return None
        origin.take(k, q, self.env.now)
        return k, q

    @staticmethod
    def _known(table: dict[str, Any], key: str, policy: str, what: str) -> Any:
        if key not in table:
            raise ModelError(f"policy {policy!r} named an unknown {what} {key!r}")
        return table[key]

    def _review(
        self, name: str, period: float, policy: Policy
    ) -> Generator[simpy.Event, None, None]:
        while True:
            self.execute(policy.decide(self.snapshot()), name)
            yield self.env.timeout(period)

    def _on_event(self, _time: float, policies: list[tuple[str, Policy]]) -> None:
        """A livestream starts or a disruption begins: event-driven policies decide now."""
        for name, policy in policies:
            self.execute(policy.decide(self.snapshot()), name)

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> RunRecord:
        """Simulate up to the horizon, check conservation, and return the record."""
        self.start()
        self.env.run(until=self.horizon)
        return self._finish()

    def run_until(self, time: float) -> None:
        """Start the world and simulate up to `time` (before the horizon), e.g. to export a snapshot."""
        if not 0.0 <= time < self.horizon:
            raise ModelError(f"snapshot time (={time:g} h) must be in [0, {self.horizon:g}) h")
        self.start()
        self.env.run(until=time)

    def start(self) -> None:
        """Start the world's processes (once)."""
        env = self.env
        env.process(self.sampler.process(env))
        for name, period, policy in self.policies:
            env.process(self._review(name, period, policy))
        reactive = [(n, p) for n, _, p in self.policies if self.scenario.policies[n].on_events]
        if reactive:
            for time in event_times(self.pulses, self.disruptions):
                self.at(time, self._on_event, reactive)
        env.process(self._arrivals())

    def _finish(self) -> RunRecord:
        h = self.horizon
        self._expire(h, strict=True)
        self._flush_routes()
        led = self.ledger
        outcomes = Outcomes.from_ledger(led)
        self._book_fixed_costs()
        for k in range(len(self.skus)):
            led.produced[k] = sum(f.started[k] for f in self.factories.values())
            led.scrapped[k] += sum(f.scrapped[k] for f in self.factories.values())
        balances = self._balances(outcomes)
        check_conservation(balances)
        components = self._component_balances()
        check_components(components)
        return RunRecord(
            scenario=self.scenario,
            replication=self.replication,
            skus=self.skus,
            regions=self.regions,
            warehouses=[w.id for w in self.warehouses],
            book=self.book,
            outcomes=outcomes,
            pulses=self.pulses,
            disruptions=self.disruptions,
            balances=balances,
            components=components,
            costs=led.costs_by_part(),
            cost_book=dict(led.cost_book),
            refunds=led.refunds,
            returns_received=sum(led.returns_received),
            restocked=sum(led.restocked),
            scrapped=sum(led.scrapped),
            pick_pack_busy=sum(w.pick_pack.busy for w in self.warehouses),
            pick_pack_capacity=sum(w.pick_pack.workers for w in self.warehouses) * h,
            factory_busy=sum(f.regular_busy_hours for f in self.factories.values()),
            factory_capacity=sum(f.regular_lines for f in self.factories.values()) * h,
            decisions=led.decisions,
            routing=self._routing_totals(),
            samples=self.sampler.finish(h),
            departures=self._departures(),
            waves=self._wave_loads(),
        )

    def _departures(self) -> dict[str, list[tuple[float, int | None, int]]]:
        """Each scheduled line-haul lane's departures: (time, capacity after cuts, units)."""
        return {
            lane.scheduled.name: list(lane.scheduled.departures_log)
            for options in self.lanes.values()
            for lane in options
            if lane.scheduled is not None
        }

    def _wave_loads(self) -> dict[str, list[tuple[float, int | None, int]]]:
        """Each last-mile lane's waves that carried orders: (time, capacity after cuts, orders)."""
        out = {}
        for (origin, dest), options in self.lanes.items():
            for lane in options:
                if lane.waves is None:
                    continue
                suffix = "" if lane.carrier == "default" else f"@{lane.carrier}"
                out[f"{origin}->{dest}{suffix}"] = lane.waves.loads()
        return out

    def _routing_totals(self) -> dict[str, float]:
        routed = [ln.routed for lanes in self.lanes.values() for ln in lanes if ln.routed]
        out: dict[str, float] = {}
        if routed:
            out |= {
                "waves": float(sum(r.waves_routed for r in routed)),
                "vehicles": float(sum(r.vehicles_sent for r in routed)),
                "km": float(sum(r.km for r in routed)),
                "fallbacks": float(sum(r.router.fallbacks for r in routed)),
            }
        if self.milk_runs:
            out["milk_runs"] = float(sum(m.trips for m in self.milk_runs.values()))
            out["milk_run_fallbacks"] = float(
                sum(m.router.fallbacks for m in self.milk_runs.values())
            )
        return out

    def _book_fixed_costs(self) -> None:
        """Costs known only at the end: holding by day, reservation fees, scheduled departures."""
        led, h = self.ledger, self.horizon
        for w in self.warehouses:
            for day, amount in enumerate(w.close(h)):
                if amount:
                    led.cost("holding", amount, w.id, day * 24.0)
            for day, amount in enumerate(self._last_mile_cost[w.index]):
                if amount:
                    led.cost("transport_last_mile", amount, w.id, day * 24.0)
        for f in self.factories.values():
            e = f.elastic_spec
            if e is not None:
                self._book_spread(
                    "elastic_reserved",
                    e.reservation_fee * e.capacity,
                    f.id,
                    e.reserved_from,
                    e.reserved_from + f.reservation_hours(),
                )
        for w in self.warehouses:
            spec = self.scenario.sites[w.id]
            if isinstance(spec, WarehouseSpec) and spec.fixed_cost:
                self._book_spread("warehouse_fixed", spec.fixed_cost / h, w.id, 0.0, h)
        for s in self.suppliers.values():
            if s.spec.reserved is not None:
                per_hour = s.reserved_fee() / h
                self._book_spread("supplier_reserved", per_hour, s.id, 0.0, h)
        for options in self.lanes.values():
            for lane in options:
                if lane.scheduled is not None:
                    for time, _, loaded in lane.scheduled.departures_log:
                        if loaded:
                            led.cost(
                                "transport_linehaul",
                                lane.cost_per_shipment + loaded * lane.cost_per_unit,
                                lane.origin,
                                time,
                            )
                if lane.waves is not None and lane.waves.cost_per_wave:
                    for time in lane.waves.launched:
                        if time < h:
                            led.cost(
                                "transport_last_mile", lane.waves.cost_per_wave, lane.origin, time
                            )

    def _book_spread(self, part: str, per_hour: float, site: str, start: float, end: float) -> None:
        """Book a cost that accrues evenly over [start, end), day by day."""
        t = start
        while t < end:
            stop = min(end, (int(t // 24.0) + 1) * 24.0)
            self.ledger.cost(part, per_hour * (stop - t), site, t)
            t = stop

    def _balances(self, o: Outcomes) -> list[Balance]:
        """Both sides of the identity per SKU, each term from its own record."""
        h, led = self.horizon, self.ledger
        owner, sku, qty, _ = self.book.lines()
        n = len(self.skus)

        def by_sku(mask: np.ndarray) -> np.ndarray:
            m = mask[owner]
            return np.bincount(sku[m], weights=qty[m], minlength=n).astype(np.int64)

        allocated = o.status == ALLOCATED
        delivered = by_sku(allocated & (o.delivered < h))
        on_road = by_sku(allocated & (o.shipped < h) & (o.delivered >= h))
        in_house = by_sku(allocated & (o.shipped >= h))  # picking, packed, or waiting for a wave
        out = []
        for k, name in enumerate(self.skus):
            wip = sum(f.wip[k] for f in self.factories.values())
            in_process = (
                int(in_house[k])
                + wip
                + sum(w.handling[k] + w.inspecting[k] for w in self.warehouses)
            )
            out.append(
                Balance(
                    sku=name,
                    initial=led.initial[k],
                    produced=led.produced[k],
                    returns_received=led.returns_received[k],
                    delivered=int(delivered[k]),
                    scrapped=led.scrapped[k],
                    on_hand=sum(w.stock[k] for w in self.warehouses),
                    in_transit=led.in_transit[k] + int(on_road[k]),
                    in_process=in_process,
                )
            )
        return out

    def _component_balances(self) -> list[ComponentBalance]:
        """Components through each factory, and what suppliers say they delivered."""
        out = []
        for f in self.factories.values():
            for comp in sorted(f.components):
                needed = sum(
                    started * dict(needs).get(comp, 0)
                    for started, needs in zip(f.started, f.bom, strict=True)
                )
                out.append(
                    ComponentBalance(
                        site=f.id,
                        component=comp,
                        initial=f.initial_components.get(comp, 0),
                        received=f.received.get(comp, 0),
                        consumed=f.consumed.get(comp, 0),
                        on_hand=f.components[comp],
                        bom_need=needed,
                    )
                )
        for comp in sorted({c for f in self.factories.values() for c in f.received}):
            sent = sum(s.delivered.get(comp, 0) for s in self.suppliers.values())
            got = sum(f.received.get(comp, 0) for f in self.factories.values())
            if sent != got:
                raise ModelError(
                    f"suppliers delivered {sent} units of {comp!r}, factories received {got}"
                )
        return out


def simulate(scenario: Scenario, replication: int = 0) -> RunRecord:
    """Run one replication of `scenario`."""
    return World(scenario, replication).run()
