"""Order sourcing policies: which warehouse serves a region's orders.

A sourcing policy ranks, for each region, the warehouses that may serve it (`SourcingRule`). The
model (or operating mode) gives each order to the first warehouse of its region's list that is open
and holds all its lines, so the rule costs nothing per order; the policy re-ranks at each review
and on events, from what the `State` says of stock, pick/pack queues and closures.

`min_cost_batch` instead holds a region's orders for a few minutes and sources each batch at once,
exactly, at least cost (`BatchSourcing`): an order no longer takes stock another region's order
of the same batch needs more.
"""

from __future__ import annotations

from pydantic import Field

from twin.policies.registry import REGISTRY, Hours, PolicyParams
from twin.state import (
    BatchOption,
    BatchSourcing,
    CarrierInfo,
    Decision,
    NetworkInfo,
    SourcingRule,
    State,
)


class SourcingParams(PolicyParams):
    """Settings every sourcing rule shares."""

    split: bool = False
    """Ship an order's lines from several warehouses when no single one holds them all."""


@REGISTRY.register("nearest_with_stock")
class NearestWithStock:
    """Each order goes to the nearest warehouse that holds it: forward ones by transit, then central.

    The model's default when a scenario names no sourcing policy.
    """

    Params = SourcingParams

    def __init__(self, params: SourcingParams, network: NetworkInfo) -> None:
        self.params = params
        self.network = network

    def decide(self, state: State) -> list[Decision]:
        """The network's serving order for every region (it does not change with the state)."""
        return [
            SourcingRule(region, self.network.serving[region], self.params.split)
            for region in self.network.regions
        ]


@REGISTRY.register("cheapest_meeting_promise")
class CheapestMeetingPromise:
    """Each order goes to the cheapest warehouse expected to deliver by the promise.

    Expected delivery from a warehouse = its pick/pack queue now + one mean pick + (on a lane with
    waves) half the wave interval + the carrier's mean transit. Warehouses that meet the region's
    promise (less `margin`) come first, cheapest last-mile carrier first; then the others, fastest
    first; closed warehouses last. Ties go by name.
    """

    class Params(SourcingParams):
        """Slack to keep against the promise."""

        margin: Hours = Field(default=0.0, ge=0.0)
        """Hours of slack an expected delivery must leave before the promise to count as meeting it."""

    def __init__(self, params: Params, network: NetworkInfo) -> None:
        self.params = params
        self.network = network

    def decide(self, state: State) -> list[Decision]:
        """One rule per region, its warehouses ranked from the state's queues and closures."""
        return [
            SourcingRule(region, self.rank(state, region), self.params.split)
            for region in self.network.regions
        ]

    def rank(self, state: State, region: str) -> tuple[str, ...]:
        """The warehouses serving `region`, best first."""
        net = self.network
        deadline = net.sla[region] - self.params.margin
        keys: dict[str, tuple[int, float, float]] = {}
        for w in net.serving[region]:
            ready = state.pick_wait.get(w, 0.0) + net.pick_time[w]
            etas = [(ready + expected_transit(c), c.cost) for c in net.last_mile[w][region]]
            on_time = [cost for eta, cost in etas if eta <= deadline]
            if w in state.closed:
                keys[w] = (2, 0.0, 0.0)
            elif on_time:
                keys[w] = (0, min(on_time), min(eta for eta, _ in etas))
            else:
                fastest = min(etas)
                keys[w] = (1, fastest[0], fastest[1])
        return tuple(sorted(keys, key=lambda w: (*keys[w], w)))


@REGISTRY.register("min_cost_batch")
class MinCostBatch:
    """Orders of the covered regions are held `every` hours, then sourced together at least cost.

    Each batch is an exact 0-1 MIP (each order whole from one warehouse, within what each may
    ship): serving an order from a warehouse costs its last-mile lane's cheapest carrier (per
    shipment plus per unit) plus `late_cost` per hour its expected delivery (the pick/pack queue
    at batch time, one pick, half a wave interval, the fastest carrier's mean transit) falls after
    the promise; leaving it costs `unserved_penalty` per unit, and it then takes the per-order
    path of `nearest_with_stock` (waiting at its nearest warehouse if none can ship it).
    """

    class Params(SourcingParams):
        """The batching window and the prices the assignment weighs."""

        every: Hours = Field(default=0.25, gt=0.0, le=24.0)
        """Hours orders are held before their batch is sourced (batches close on multiples)."""
        unserved_penalty: float = Field(default=100.0, ge=0.0)
        """Cost per unit of an order a batch leaves to wait for stock."""
        late_cost: float = Field(default=1.0, ge=0.0)
        """Cost per hour an order is expected to be delivered after its promise."""
        time_limit: float = Field(default=10.0, gt=0.0)
        """Seconds the solver may spend on one batch (past it, the best assignment found)."""
        regions: list[str] | None = None
        """Regions whose orders are batched; None: every region."""

    def __init__(self, params: Params, network: NetworkInfo) -> None:
        unknown = [r for r in params.regions or () if r not in network.regions]
        if unknown:
            raise ValueError(
                f"regions names {', '.join(map(repr, unknown))}, not regions of this scenario"
                f" ({', '.join(network.regions)})"
            )
        self.params = params
        self.network = network
        self.regions = network.regions if params.regions is None else tuple(params.regions)
        self._options = {r: self.options(r) for r in self.regions}

    def decide(self, state: State) -> list[Decision]:
        """One batch rule per covered region (from the network alone: queues are read at batch time)."""
        p = self.params
        return [
            BatchSourcing(
                region,
                self._options[region],
                p.every,
                p.unserved_penalty,
                p.late_cost,
                p.time_limit,
                p.split,
            )
            for region in self.regions
        ]

    def options(self, region: str) -> tuple[BatchOption, ...]:
        """The warehouses serving `region`, nearest first, with their costs and expected hours."""
        net = self.network
        out = []
        for w in net.serving[region]:
            carriers = net.last_mile[w][region]
            cheapest = carriers[0]
            hours = net.pick_time[w] + min(expected_transit(c) for c in carriers)
            out.append(BatchOption(w, cheapest.cost_per_shipment, cheapest.cost_per_unit, hours))
        return tuple(out)


def expected_transit(carrier: CarrierInfo) -> float:
    """Mean hours from packed to delivered: half a wave interval of waiting, then the transit."""
    wait = 0.0 if carrier.wave_every is None else carrier.wave_every / 2.0
    return wait + carrier.mean_transit
