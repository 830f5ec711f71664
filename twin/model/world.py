"""The SimPy world: builds a network from a `Scenario`, runs one replication, returns its record.

Orders do not each get a SimPy process. Demand is drawn up front; one arrival process walks the
orders in time order and, between the other events of the simulation (`env.peek()`), handles them
without advancing the clock: pick/pack is an exact FCFS heap and deliveries follow arithmetically.
Only what changes stock later (shipments, put-aways, returns) and the policies' reviews are events.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
from simpy.events import Timeout

from twin import network
from twin.config.schema import FactorySpec, RegionSpec, Scenario, WarehouseSpec
from twin.distributions import DrawBuffer, Gamma
from twin.errors import ModelError
from twin.model.demand import OrderBook, Pulse, draw_pulses, generate
from twin.model.factory import Factory
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
from twin.model.warehouse import PickPack, Warehouse
from twin.policies import REGISTRY, Policy
from twin.rng import Streams
from twin.state import (
    Decision,
    ElasticActivation,
    NetworkInfo,
    ProductionOrder,
    State,
    Transfer,
)

HOURS_PER_YEAR = 24 * 365


@dataclass(slots=True)
class Lane:
    """A lane at run time: its transit draws and its cost rates."""

    origin: str
    destination: str
    transit: DrawBuffer
    cost_per_shipment: float
    cost_per_unit: float


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
    balances: list[Balance]
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
    stock_samples: list[tuple[float, str, int]]
    decisions: list[tuple[float, str, Any]]

    @property
    def horizon_h(self) -> float:
        """The run's horizon in hours."""
        return self.scenario.horizon


def network_info(scenario: Scenario) -> NetworkInfo:
    """The static facts policies see, derived from the scenario."""
    from twin.model.demand import base_rates

    skus = tuple(scenario.skus)
    serving = network.serving_order(scenario)
    rates = base_rates(scenario)
    sizes = np.array([scenario.skus[k].order_size_mean for k in skus])
    per_wh: dict[str, dict[str, float]] = {
        w: dict.fromkeys(skus, 0.0) for w in scenario.sites_of("warehouse")
    }
    for g, region in enumerate(scenario.sites_of("region")):
        home = serving[region][0]
        for k, sku in enumerate(skus):
            per_wh[home][sku] += float(rates[g, k] * sizes[k])
    return NetworkInfo(
        skus=skus,
        warehouses=tuple(scenario.sites_of("warehouse")),
        central=tuple(scenario.sites_of("warehouse", "central")),
        forward=tuple(scenario.sites_of("warehouse", "forward")),
        factories=tuple(scenario.sites_of("factory")),
        source_of=network.source_of(scenario),
        baseline_units_per_hour=per_wh,
    )


def build_policies(scenario: Scenario, info: NetworkInfo) -> list[tuple[str, float, Policy]]:
    """(name, review period, policy) for each policy of the scenario, in file order."""
    out = []
    for name, spec in scenario.policies.items():
        kind = REGISTRY.resolve(spec.kind)
        out.append((name, spec.review, kind.build(kind.params.model_validate(spec.params), info)))
    return out


class World:
    """One replication of a scenario: build with the replication index, then `run()`."""

    def __init__(self, scenario: Scenario, replication: int = 0, detail: bool = False) -> None:
        self.scenario = scenario
        self.replication = replication
        self.detail = detail
        self.horizon = scenario.horizon
        self.env = simpy.Environment()
        self.streams = Streams.for_replication(scenario.seed, replication)
        self.skus = list(scenario.skus)
        self.regions = scenario.sites_of("region")
        self.pulses = draw_pulses(scenario, self.streams)
        self.book = generate(scenario, self.streams, self.pulses)
        self.ledger = Ledger(len(self.book), len(self.skus))
        self.lanes = {(ln.origin, ln.destination): self._lane(ln) for ln in scenario.lanes}
        self.warehouses = self._build_warehouses()
        self.by_id = {w.id: w for w in self.warehouses}
        serving = network.serving_order(scenario)
        self.serving = [[self.by_id[w] for w in serving[r]] for r in self.regions]
        self.last_mile = [
            [self.lanes.get((w.id, r)) for r in self.regions] for w in self.warehouses
        ]
        regions = [scenario.sites[r] for r in self.regions]
        self.patience = [r.patience for r in regions if isinstance(r, RegionSpec)]
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
        self.info = network_info(scenario)
        self.policies = build_policies(scenario, self.info)
        self._deadlines: list[tuple[float, int]] = []
        self._stock_samples: list[tuple[float, str, int]] = []
        self._inspection = {
            w.id: self.streams.get(f"warehouse/{w.id}/inspection") for w in self.warehouses
        }
        self._sku_index = {k: i for i, k in enumerate(self.skus)}
        self._price = [scenario.skus[k].price for k in self.skus]

    # -- construction -------------------------------------------------------------------------

    def _lane(self, spec: Any) -> Lane:
        name = f"lane/{spec.origin}->{spec.destination}/transit"
        return Lane(
            spec.origin,
            spec.destination,
            DrawBuffer(spec.transit.build(), self.streams.get(name)),
            spec.cost_per_shipment,
            spec.cost_per_unit,
        )

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
            init = spec.initial_stock
            stock = [
                init if isinstance(init, int) else init.get(k, init.get("default", 0))
                for k in self.skus
            ]
            for k, q in enumerate(stock):
                self.ledger.initial[k] += q
            out.append(
                Warehouse(
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
            )
        return out

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
        env = self.env
        times = self.book.time.tolist()
        handle = self._on_order
        for i, t in enumerate(times):
            if t >= env.peek():
                yield env.timeout(t - env.now)
            handle(i, t)

    def _on_order(self, i: int, t: float) -> None:
        book = self.book
        g = int(book.region[i])
        k = int(book.sku[i])
        q = int(book.quantity[i])
        if self._deadlines and self._deadlines[0][0] <= t:
            self._expire(t)
        for w in self.serving[g]:
            if w.stock[k] >= q and not w.waiting[k]:
                self._allocate(w, i, g, k, q, t)
                return
        home = self.serving[g][0]
        home.waiting[k].append(i)
        home.backlog[k] += q
        self.ledger.status[i] = WAITING
        self.ledger.warehouse[i] = home.index
        heapq.heappush(self._deadlines, (t + self.patience[g], i))

    def _allocate(self, w: Warehouse, i: int, g: int, k: int, q: int, t: float) -> None:
        led = self.ledger
        w.take(k, q, t)
        done = w.pick_pack.serve(t)
        lane = self.last_mile[w.index][g]
        assert lane is not None
        delivered = done + lane.transit.next()
        led.status[i] = ALLOCATED
        led.warehouse[i] = w.index
        led.allocated[i] = t
        led.shipped[i] = done
        led.delivered[i] = delivered
        led.cost("transport_last_mile", lane.cost_per_shipment + q * lane.cost_per_unit, w.id, t)
        r = int(self.book.return_units[i])
        if r:
            self.at(delivered + float(self.book.return_lag[i]), self._return_arrives, w, k, r)

    def _expire(self, t: float, strict: bool = False) -> None:
        """Cancel waiting orders whose patience ran out by `t` (before `t` when `strict`)."""
        led, book = self.ledger, self.book
        while self._deadlines and (
            self._deadlines[0][0] < t if strict else self._deadlines[0][0] <= t
        ):
            deadline, i = heapq.heappop(self._deadlines)
            if led.status[i] != WAITING:
                continue
            led.status[i] = CANCELLED
            led.cancelled[i] = deadline
            k = int(book.sku[i])
            w = self.warehouses[led.warehouse[i]]
            w.backlog[k] -= int(book.quantity[i])
            queue = w.waiting[k]
            while queue and led.status[queue[0]] != WAITING:
                queue.popleft()

    def _serve_waiting(self, w: Warehouse, k: int, t: float) -> None:
        """Give newly available stock to what waits at `w`, first come first served.

        Two queues wait for a SKU: customer orders, and transfers other warehouses asked for when
        there was no stock. They are merged by the time each request was made. A customer order
        needs its whole quantity; a transfer ships what there is and keeps waiting for the rest.
        """
        self._expire(t)
        queue, pending, led, book = w.waiting[k], w.pending[k], self.ledger, self.book
        loads: dict[str, int] = {}
        while w.stock[k] > 0:
            while queue and led.status[queue[0]] != WAITING:
                queue.popleft()
            if not queue and not pending:
                break
            if pending and (not queue or pending[0][0] <= book.time[queue[0]]):
                request = pending[0]
                q = min(request[2], w.stock[k])
                w.take(k, q, t)
                w.transfer_backlog[k] -= q
                request[2] -= q
                loads[request[1]] = loads.get(request[1], 0) + q
                if request[2] == 0:
                    pending.popleft()
                continue
            i = queue[0]
            q = int(book.quantity[i])
            if w.stock[k] < q:
                break
            queue.popleft()
            w.backlog[k] -= q
            self._allocate(w, i, int(book.region[i]), k, q, t)
        for destination, q in loads.items():
            self._ship(self.lanes[(w.id, destination)], self.by_id[destination], [(k, q)], t)

    # -- stock movements between sites ----------------------------------------------------------

    def _ship(self, lane: Lane, w: Warehouse, items: list[tuple[int, int]], now: float) -> None:
        """Send one shipment (one truck: one cost per shipment, one transit time) of (SKU, units)."""
        units = 0
        for k, q in items:
            self.ledger.in_transit[k] += q
            units += q
        self.ledger.cost(
            "transport_linehaul",
            lane.cost_per_shipment + units * lane.cost_per_unit,
            lane.origin,
            now,
        )
        self.at(now + lane.transit.next(), self._arrive, w, items)

    def _factory_ship(self, factory: str, destination: str, k: int, q: int) -> None:
        lane = self.lanes.get((factory, destination))
        if lane is None:
            raise ModelError(f"factory {factory!r} has no lane to {destination!r}")
        self._ship(lane, self.by_id[destination], [(k, q)], self.env.now)

    def _arrive(self, now: float, w: Warehouse, items: list[tuple[int, int]]) -> None:
        for k, q in items:
            self.ledger.in_transit[k] -= q
            w.handling[k] += q
        if w.inbound_handling > 0:
            self.at(now + w.inbound_handling, self._put_away, w, items)
        else:
            self._put_away(now, w, items)

    def _put_away(self, now: float, w: Warehouse, items: list[tuple[int, int]]) -> None:
        for k, q in items:
            w.handling[k] -= q
            w.inbound[k] -= q
            w.put(k, q, now)
        for k, _ in items:
            self._serve_waiting(w, k, now)

    def _return_arrives(self, now: float, w: Warehouse, k: int, r: int) -> None:
        led = self.ledger
        led.returns_received[k] += r
        led.refunds += r * self._price[k]
        led.cost("returns", r * self.scenario.costs.returns_handling_per_unit, w.id, now)
        w.inspecting[k] += r
        self.at(now + w.inspection_time, self._inspected, w, k, r)

    def _inspected(self, now: float, w: Warehouse, k: int, r: int) -> None:
        restock = int(self._inspection[w.id].binomial(r, w.restock_fraction))
        w.inspecting[k] -= r
        self.ledger.restocked[k] += restock
        self.ledger.scrapped[k] += r - restock
        if restock:
            w.put(k, restock, now)
            self._serve_waiting(w, k, now)

    # -- policies -------------------------------------------------------------------------------

    def snapshot(self) -> State:
        """What a planner can know now."""
        t = self.env.now
        self._expire(t)
        skus = self.skus
        book = self.book
        lo, hi = np.searchsorted(book.time, [t - 1.0, t])
        rate = np.bincount(book.sku[lo:hi], weights=book.quantity[lo:hi], minlength=len(skus))
        return State(
            time=t,
            on_hand={w.id: dict(zip(skus, w.stock, strict=True)) for w in self.warehouses},
            inbound={w.id: dict(zip(skus, w.inbound, strict=True)) for w in self.warehouses},
            backorders={
                w.id: {sku: w.backlog[k] + w.transfer_backlog[k] for k, sku in enumerate(skus)}
                for w in self.warehouses
            },
            production_queue={
                f.id: dict(zip(skus, f.queued, strict=True)) for f in self.factories.values()
            },
            elastic={f.id: f.elastic_status(t) for f in self.factories.values()},
            live_events=tuple(p.name for p in self.pulses if p.start <= t < p.end),
            order_rate={k: float(v) for k, v in zip(skus, rate, strict=True)},
        )

    def execute(self, decisions: list[Decision], policy: str) -> None:
        """Carry out one review's decisions now; transfers on the same lane travel as one shipment."""
        t = self.env.now
        loads: dict[tuple[str, str], list[tuple[int, int]]] = {}
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
            else:
                raise ModelError(
                    f"policy {policy!r} returned {decision!r}, which is not a Decision"
                )
        for (origin, destination), items in loads.items():
            self._ship(self.lanes[(origin, destination)], self.by_id[destination], items, t)

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

    def _sample_stock(self) -> Generator[simpy.Event, None, None]:
        while True:
            t = self.env.now
            for w in self.warehouses:
                self._stock_samples.append((t, w.id, sum(w.stock)))
            yield self.env.timeout(1.0)

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> RunRecord:
        """Simulate up to the horizon, check conservation, and return the record."""
        env = self.env
        if self.detail:
            env.process(self._sample_stock())
        for name, period, policy in self.policies:
            env.process(self._review(name, period, policy))
        env.process(self._arrivals())
        env.run(until=self.horizon)
        return self._finish()

    def _finish(self) -> RunRecord:
        h = self.horizon
        self._expire(h, strict=True)
        led = self.ledger
        outcomes = Outcomes.from_ledger(led)
        for w in self.warehouses:
            for day, amount in enumerate(w.close(h)):
                if amount:
                    led.cost("holding", amount, w.id, day * 24.0)
        sc = self.scenario
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
        for k in range(len(self.skus)):
            led.produced[k] = sum(f.started[k] for f in self.factories.values())
            led.scrapped[k] += sum(f.scrapped[k] for f in self.factories.values())
        balances = self._balances(outcomes)
        check_conservation(balances)
        check_components(self._component_balances())
        return RunRecord(
            scenario=sc,
            replication=self.replication,
            skus=self.skus,
            regions=self.regions,
            warehouses=[w.id for w in self.warehouses],
            book=self.book,
            outcomes=outcomes,
            pulses=self.pulses,
            balances=balances,
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
            stock_samples=self._stock_samples,
            decisions=led.decisions,
        )

    def _balances(self, o: Outcomes) -> list[Balance]:
        """Both sides of the identity per SKU, each term from its own record."""
        h, led, book = self.horizon, self.ledger, self.book
        qty = book.quantity
        n = len(self.skus)

        def by_sku(mask: np.ndarray) -> np.ndarray:
            return np.bincount(book.sku[mask], weights=qty[mask], minlength=n).astype(np.int64)

        allocated = o.status == ALLOCATED
        delivered = by_sku(allocated & (o.delivered < h))
        on_road = by_sku(allocated & (o.shipped < h) & (o.delivered >= h))
        picking = by_sku(allocated & (o.shipped >= h))
        out = []
        for k, sku in enumerate(self.skus):
            wip = sum(f.wip[k] for f in self.factories.values())
            in_process = (
                int(picking[k])
                + wip
                + sum(w.handling[k] + w.inspecting[k] for w in self.warehouses)
            )
            out.append(
                Balance(
                    sku=sku,
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

    def _book_spread(self, part: str, per_hour: float, site: str, start: float, end: float) -> None:
        """Book a cost that accrues evenly over [start, end), day by day."""
        t = start
        while t < end:
            stop = min(end, (int(t // 24.0) + 1) * 24.0)
            self.ledger.cost(part, per_hour * (stop - t), site, t)
            t = stop

    def _component_balances(self) -> list[ComponentBalance]:
        """Components through each factory: bought + initial = consumed + on hand + in transit."""
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
        return out


def simulate(scenario: Scenario, replication: int = 0, detail: bool = False) -> RunRecord:
    """Run one replication of `scenario`."""
    return World(scenario, replication, detail).run()
