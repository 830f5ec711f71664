"""Periodic-review replenishment: base-stock, (s, S) and (r, Q), for forward and central warehouses.

A forward warehouse orders a `Transfer` from its central warehouse; a central warehouse orders a
`ProductionOrder` from its factory (with the SKU's `priority`, when one is given: the factory makes
higher priorities first). All look at the inventory position (on hand + inbound − backorders) at
each review.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from twin.policies.registry import REGISTRY, PolicyParams
from twin.state import Decision, NetworkInfo, ProductionOrder, State, Transfer

Levels = NonNegativeInt | dict[str, NonNegativeInt]
"""One level for every SKU, or levels by SKU with an optional `default`."""
PositiveLevels = PositiveInt | dict[str, PositiveInt]
"""Like `Levels`, each at least 1 (an order quantity)."""
Sites = Literal["forward", "central", "all"] | list[str]
Priorities = dict[str, int]
"""Production priority by SKU (higher is made first), with an optional `default`; 0 when absent."""


def priority_for(priorities: Priorities, sku: str) -> int:
    """The production priority of `sku`: its own, else the `default`, else 0."""
    return priorities.get(sku, priorities.get("default", 0))


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


def replenish(
    network: NetworkInfo, site: str, sku: str, quantity: int, priority: int = 0
) -> Decision:
    """The decision that brings `quantity` units of `sku` towards `site` from its source.

    `priority` is carried by a production order (a central site) and unused by a transfer.
    """
    source = network.source_of[site]
    if site in network.central:
        return ProductionOrder(
            factory=source, sku=sku, quantity=quantity, destination=site, priority=priority
        )
    return Transfer(origin=source, destination=site, sku=sku, quantity=quantity)


class Replenisher:
    """The loop every replenishment kind shares: per (site, SKU), order what `quantity` says.

    A kind supplies only its rule, `quantity(state, site, sku, position)`; the loop, the source
    (transfer or production order) and the production priority are the same for all.
    """

    params: Any

    def __init__(self, params: Any, network: NetworkInfo) -> None:
        self.params = params
        self.network = network
        self.sites = network.resolve_sites(params.sites)

    def quantity(self, state: State, site: str, sku: str, position: int) -> int:
        """Units to order now for `sku` at `site` (0 or less: none)."""
        raise NotImplementedError

    def decide(self, state: State) -> list[Decision]:
        """One order per (site, SKU) whose rule asks for units."""
        out: list[Decision] = []
        for site in self.sites:
            for sku in self.network.skus:
                quantity = self.quantity(state, site, sku, state.position(site, sku))
                if quantity > 0:
                    prio = priority_for(self.params.priority, sku)
                    out.append(replenish(self.network, site, sku, quantity, prio))
        return out


@REGISTRY.register("base_stock")
class BaseStock(Replenisher):
    """Order up to `target` whenever the inventory position is below it."""

    class Params(PolicyParams):
        """Which warehouses, the order-up-to level (per SKU or for all), production priorities."""

        sites: Sites = "forward"
        target: Levels
        priority: Priorities = Field(default_factory=dict)

    def quantity(self, state: State, site: str, sku: str, position: int) -> int:
        """The gap to target."""
        target = level_for(self.params.target, sku)
        return 0 if target is None else target - position


@REGISTRY.register("s_S")
class MinMax(Replenisher):
    """(s, S): when the inventory position is at or below s, order up to S."""

    class Params(PolicyParams):
        """Which warehouses, reorder point s, order-up-to level S, production priorities."""

        sites: Sites = "forward"
        s: Levels
        S: Levels
        priority: Priorities = Field(default_factory=dict)

        @model_validator(mode="after")
        def _s_below_big_s(self) -> MinMax.Params:
            check_s_below_big_s(self.s, self.S)
            return self

    def quantity(self, state: State, site: str, sku: str, position: int) -> int:
        """S − position at a position ≤ s."""
        low, high = level_for(self.params.s, sku), level_for(self.params.S, sku)
        if low is None or high is None or position > low:
            return 0
        return high - position


@REGISTRY.register("r_Q")
class ReorderQuantity(Replenisher):
    """(r, Q): at a position ≤ r, order the smallest multiple n·Q that lifts it above r.

    n = ⌊(r − position) / Q⌋ + 1: a position exactly at r orders one Q; a position below r by
    more than Q orders as many Q as it takes.
    """

    class Params(PolicyParams):
        """Which warehouses, reorder point r, order quantity Q (≥ 1), production priorities."""

        sites: Sites = "forward"
        r: Levels
        Q: PositiveLevels
        priority: Priorities = Field(default_factory=dict)

    def quantity(self, state: State, site: str, sku: str, position: int) -> int:
        """The smallest multiple of Q that lifts a position ≤ r above r."""
        low, batch = level_for(self.params.r, sku), level_for(self.params.Q, sku)
        if low is None or batch is None or position > low:
            return 0
        return ((low - position) // batch + 1) * batch
