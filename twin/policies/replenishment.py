"""Periodic-review replenishment: base-stock and (s, S), for forward and central warehouses.

A forward warehouse orders a `Transfer` from its central warehouse; a central warehouse orders a
`ProductionOrder` from its factory. Both look at the inventory position
(on hand + inbound − backorders) at each review.
"""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeInt, model_validator

from twin.policies.registry import REGISTRY, PolicyParams
from twin.state import Decision, NetworkInfo, ProductionOrder, State, Transfer

Levels = NonNegativeInt | dict[str, NonNegativeInt]
"""One level for every SKU, or levels by SKU with an optional `default`."""
Sites = Literal["forward", "central", "all"] | list[str]


def level_for(levels: Levels, sku: str) -> int | None:
    """The level for `sku`; `None` when a mapping names neither it nor a `default`."""
    if isinstance(levels, int):
        return levels
    return levels.get(sku, levels.get("default"))


def check_s_below_big_s(s: Levels, big_s: Levels) -> None:
    """Raise `ValueError` when a reorder point s is not below its order-up-to level S."""
    keys = {"default"} | {k for levels in (s, big_s) if isinstance(levels, dict) for k in levels}
    for key in sorted(keys):
        low, high = level_for(s, key), level_for(big_s, key)
        if low is not None and high is not None and low >= high:
            where = "" if key == "default" else f" for {key!r}"
            raise ValueError(f"s (={low}) must be < S (={high}){where}")


def replenish(network: NetworkInfo, site: str, sku: str, quantity: int) -> Decision:
    """The decision that brings `quantity` units of `sku` towards `site` from its source."""
    source = network.source_of[site]
    if site in network.central:
        return ProductionOrder(factory=source, sku=sku, quantity=quantity, destination=site)
    return Transfer(origin=source, destination=site, sku=sku, quantity=quantity)


@REGISTRY.register("base_stock")
class BaseStock:
    """Order up to `target` whenever the inventory position is below it."""

    class Params(PolicyParams):
        """Which warehouses, and the order-up-to level (per SKU or for all)."""

        sites: Sites = "forward"
        target: Levels

    def __init__(self, params: Params, network: NetworkInfo) -> None:
        self.params = params
        self.network = network
        self.sites = network.resolve_sites(params.sites)

    def decide(self, state: State) -> list[Decision]:
        """One order per (site, SKU) whose position is below target, for the gap."""
        out: list[Decision] = []
        for site in self.sites:
            for sku in self.network.skus:
                target = level_for(self.params.target, sku)
                if target is None:
                    continue
                gap = target - state.position(site, sku)
                if gap > 0:
                    out.append(replenish(self.network, site, sku, gap))
        return out


@REGISTRY.register("s_S")
class MinMax:
    """(s, S): when the inventory position is at or below s, order up to S."""

    class Params(PolicyParams):
        """Which warehouses, the reorder point s and the order-up-to level S."""

        sites: Sites = "forward"
        s: Levels
        S: Levels

        @model_validator(mode="after")
        def _s_below_big_s(self) -> MinMax.Params:
            check_s_below_big_s(self.s, self.S)
            return self

    def __init__(self, params: Params, network: NetworkInfo) -> None:
        self.params = params
        self.network = network
        self.sites = network.resolve_sites(params.sites)

    def decide(self, state: State) -> list[Decision]:
        """One order of S − position per (site, SKU) whose position is ≤ s."""
        out: list[Decision] = []
        for site in self.sites:
            for sku in self.network.skus:
                low, high = level_for(self.params.s, sku), level_for(self.params.S, sku)
                if low is None or high is None:
                    continue
                position = state.position(site, sku)
                if position <= low:
                    out.append(replenish(self.network, site, sku, high - position))
        return out
