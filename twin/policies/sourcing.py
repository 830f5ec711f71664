"""Order sourcing policies: which warehouse serves a region's orders.

A sourcing policy ranks, for each region, the warehouses that may serve it (`SourcingRule`). The
model (or operating mode) gives each order to the first warehouse of its region's list that is open
and holds all its lines, so the rule costs nothing per order; the policy re-ranks at each review
and on events, from what the `State` says of stock, pick/pack queues and closures.
"""

from __future__ import annotations

from pydantic import Field

from twin.policies.registry import REGISTRY, Hours, PolicyParams
from twin.state import CarrierInfo, Decision, NetworkInfo, SourcingRule, State


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


def expected_transit(carrier: CarrierInfo) -> float:
    """Mean hours from packed to delivered: half a wave interval of waiting, then the transit."""
    wait = 0.0 if carrier.wave_every is None else carrier.wave_every / 2.0
    return wait + carrier.mean_transit
