"""Production policies: when to switch a factory's reserved elastic capacity on and off.

The order in which a factory makes SKUs is set where production is ordered: the replenishment
policies' `priority` by SKU travels on each `ProductionOrder` (higher is made first).
"""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, model_validator

from twin.policies.forecast import baseline_rate
from twin.policies.registry import REGISTRY, PolicyParams
from twin.state import Decision, ElasticActivation, NetworkInfo, State


@REGISTRY.register("elastic_on_backlog")
class ElasticOnBacklog:
    """Activate elastic capacity when the production queue is long or a livestream is on air.

    Deactivate when the queue falls to `off_below` and no livestream is on (hysteresis, so the
    activation delay is not paid over and over).
    """

    class Params(PolicyParams):
        """Thresholds in units of queued production."""

        on_above: NonNegativeInt
        off_below: NonNegativeInt = 0
        on_live: bool = True

        @model_validator(mode="after")
        def _hysteresis(self) -> ElasticOnBacklog.Params:
            if self.off_below > self.on_above:
                raise ValueError(
                    f"off_below (={self.off_below}) must be <= on_above (={self.on_above})"
                )
            return self

    def __init__(self, params: Params, network: NetworkInfo) -> None:
        self.params = params
        self.network = network

    def decide(self, state: State) -> list[Decision]:
        """Switch each factory whose status disagrees with the rule."""
        out: list[Decision] = []
        live = self.params.on_live and bool(state.live_events)
        for factory in self.network.factories:
            status = state.elastic.get(factory, "unavailable")
            if status == "unavailable":
                continue
            queued = sum(state.production_queue.get(factory, {}).values())
            if status == "off" and (queued > self.params.on_above or live):
                out.append(ElasticActivation(factory, True))
            elif status != "off" and queued <= self.params.off_below and not live:
                out.append(ElasticActivation(factory, False))
        return out


@REGISTRY.register("priority_elastic")
class PriorityElastic:
    """Elastic capacity on backlog, livestream or order-rate signal, off with hysteresis.

    On (from `off`) when backlog > `on_above`, or a livestream is on air (`on_live`), or the
    order-rate ratio > `on_rate_ratio`; off (from `on`/`pending`) when backlog ≤ `off_below`, no
    livestream is on and the ratio ≤ `off_rate_ratio`. Backlog of a factory = units in its
    production queue + backorders at the central warehouses it supplies; the ratio = units ordered
    per hour over all SKUs ÷ their baseline units/h (1 when the baseline is 0). Emits nothing else:
    production priority is the replenishment policies' `priority`.
    """

    class Params(PolicyParams):
        """Backlog thresholds (units), and the live-sale signals that also switch it on."""

        on_above: NonNegativeInt
        off_below: NonNegativeInt = 0
        on_live: bool = True
        on_rate_ratio: float | None = Field(default=None, ge=1.0)
        """Switch on when orders run above this multiple of the baseline rate; unused if unset."""
        off_rate_ratio: float | None = Field(default=None, ge=1.0)
        """Stay on while the ratio is above this (default: `on_rate_ratio`)."""

        @model_validator(mode="after")
        def _hysteresis(self) -> PriorityElastic.Params:
            if self.off_below > self.on_above:
                raise ValueError(
                    f"off_below (={self.off_below}) must be <= on_above (={self.on_above})"
                )
            if self.off_rate_ratio is not None:
                if self.on_rate_ratio is None:
                    raise ValueError("off_rate_ratio is set but on_rate_ratio is not")
                if self.off_rate_ratio > self.on_rate_ratio:
                    raise ValueError(
                        f"off_rate_ratio (={self.off_rate_ratio:g}) must be <= "
                        f"on_rate_ratio (={self.on_rate_ratio:g})"
                    )
            return self

    def __init__(self, params: Params, network: NetworkInfo) -> None:
        self.params = params
        self.network = network
        self.baseline = sum(baseline_rate(network, sku) for sku in network.skus)

    def backlog(self, state: State, factory: str) -> int:
        """Units queued at `factory` plus units backordered at the central warehouses it supplies."""
        queued = sum(state.production_queue.get(factory, {}).values())
        waiting = sum(
            sum(state.backorders.get(c, {}).values())
            for c in self.network.central
            if self.network.source_of.get(c) == factory
        )
        return queued + waiting

    def rate_ratio(self, state: State) -> float:
        """Units ordered per hour over all SKUs ÷ their baseline rate (1 when that is 0)."""
        if self.baseline <= 0:
            return 1.0
        return sum(state.order_rate.get(sku, 0.0) for sku in self.network.skus) / self.baseline

    def decide(self, state: State) -> list[Decision]:
        """Switch each factory whose status disagrees with the rule."""
        p = self.params
        live = p.on_live and bool(state.live_events)
        ratio = self.rate_ratio(state)
        rate_on = p.on_rate_ratio is not None and ratio > p.on_rate_ratio
        off_ratio = p.off_rate_ratio if p.off_rate_ratio is not None else p.on_rate_ratio
        rate_keep = off_ratio is not None and ratio > off_ratio
        out: list[Decision] = []
        for factory in self.network.factories:
            status = state.elastic.get(factory, "unavailable")
            if status == "unavailable":
                continue
            backlog = self.backlog(state, factory)
            if status == "off" and (backlog > p.on_above or live or rate_on):
                out.append(ElasticActivation(factory, True))
            elif status != "off" and not (backlog > p.off_below or live or rate_keep):
                out.append(ElasticActivation(factory, False))
        return out
