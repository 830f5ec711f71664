"""Forecast-driven replenishment: base-stock whose target rises with the live-sale signal.

The signal is the ratio of the current order rate of a SKU (`State.order_rate`, units ordered over
the last hour) to its baseline rate (`NetworkInfo.baseline_units_per_hour`, summed over the
warehouses). The helpers here are shared with the production policies.
"""

from __future__ import annotations

import math

from pydantic import Field, NonNegativeFloat

from twin.policies.registry import REGISTRY, PolicyParams
from twin.policies.replenishment import (
    Levels,
    Priorities,
    Replenisher,
    Sites,
    level_for,
)
from twin.state import NetworkInfo, State


def ceil_units(x: float) -> int:
    """`x` rounded up to whole units, after dropping float noise below 1e-6 (100 × 1.1 → 110)."""
    return math.ceil(round(x, 6))


def baseline_rate(network: NetworkInfo, sku: str) -> float:
    """Baseline units/h of `sku` over every warehouse."""
    return sum(rates.get(sku, 0.0) for rates in network.baseline_units_per_hour.values())


def rate_ratio(state: State, network: NetworkInfo, sku: str) -> float:
    """Current order rate of `sku` ÷ its baseline rate; 1 (no signal) when the baseline is 0."""
    base = baseline_rate(network, sku)
    if base <= 0:
        return 1.0
    return state.order_rate.get(sku, 0.0) / base


@REGISTRY.register("forecast_base_stock")
class ForecastBaseStock(Replenisher):
    """Base-stock with target = base × min(max_multiplier, (1 + reaction·max(0, ratio − 1)) · boost).

    ratio = order rate ÷ baseline rate of the SKU (1 when its baseline is 0); boost =
    `boost_on_live` while a livestream is on air (when set), else 1; the target is rounded up to
    whole units. Orders the gap to that target like `base_stock` (transfers to forward warehouses,
    production orders with the SKU's `priority` for central ones).
    """

    class Params(PolicyParams):
        """Which warehouses, the base target, how strongly and how far the target reacts."""

        sites: Sites = "forward"
        target: Levels
        reaction: NonNegativeFloat = 1.0
        """Target rise per unit of the rate ratio above 1 (0: a static base-stock)."""
        max_multiplier: float = Field(default=3.0, ge=1.0)
        """The target never exceeds this multiple of the base target."""
        boost_on_live: float | None = Field(default=None, ge=1.0)
        """Extra multiplier while any livestream is on air; none when not set."""
        priority: Priorities = Field(default_factory=dict)

    def multiplier(self, state: State, sku: str) -> float:
        """The factor applied to the base target of `sku` now (1 ≤ factor ≤ max_multiplier)."""
        p = self.params
        factor = 1.0 + p.reaction * max(0.0, rate_ratio(state, self.network, sku) - 1.0)
        if state.live_events and p.boost_on_live is not None:
            factor *= p.boost_on_live
        return min(p.max_multiplier, factor)

    def target(self, state: State, sku: str) -> int | None:
        """The order-up-to level of `sku` now; `None` when the SKU has no base target."""
        base = level_for(self.params.target, sku)
        if base is None:
            return None
        return ceil_units(base * self.multiplier(state, sku))

    def quantity(self, state: State, site: str, sku: str, position: int) -> int:
        """The gap to the raised target."""
        target = self.target(state, sku)
        return 0 if target is None else target - position
