"""Procurement: when to buy components for a factory's bill of materials, and from which tier."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from twin.policies.registry import REGISTRY, PolicyParams
from twin.policies.replenishment import Levels, check_s_below_big_s, level_for
from twin.state import Decision, NetworkInfo, PurchaseOrder, State

Tier = Literal["strategic", "agile", "backup"]


@REGISTRY.register("components_s_S")
class ComponentsMinMax:
    """(s, S) on each component's position (on hand + on order) at each factory.

    The order goes to the first supplier, in the preferred tier order, that sells the component
    and is up; if all are down, to the first that sells it (its order waits out the outage).
    """

    class Params(PolicyParams):
        """Reorder point s and order-up-to S per component (or for all), and the tier order."""

        s: Levels
        S: Levels
        tiers: tuple[Tier, ...] = ("strategic", "agile", "backup")

        @model_validator(mode="after")
        def _s_below_big_s(self) -> ComponentsMinMax.Params:
            check_s_below_big_s(self.s, self.S)
            return self

    def __init__(self, params: Params, network: NetworkInfo) -> None:
        self.params = params
        self.network = network

    def supplier_for(self, component: str, state: State) -> str | None:
        """The supplier to buy `component` from now, by tier preference and status."""
        rank = {tier: i for i, tier in enumerate(self.params.tiers)}
        sellers = [
            sid
            for sid in self.network.sellers.get(component, ())
            if sid in state.suppliers and state.suppliers[sid].tier in rank
        ]
        sellers.sort(key=lambda sid: (rank[state.suppliers[sid].tier], sid))
        up = [sid for sid in sellers if state.suppliers[sid].status == "up"]
        return (up or sellers or [None])[0]

    def decide(self, state: State) -> list[Decision]:
        """One purchase order per (factory, component) at or below s, up to S."""
        out: list[Decision] = []
        for factory in self.network.factories:
            for comp in self.network.components_of(factory):
                low, high = level_for(self.params.s, comp), level_for(self.params.S, comp)
                if low is None or high is None:
                    continue
                position = state.level(state.components, factory, comp) + state.level(
                    state.components_on_order, factory, comp
                )
                supplier = self.supplier_for(comp, state)
                if position <= low and supplier is not None:
                    out.append(PurchaseOrder(supplier, comp, high - position, factory))
        return out
