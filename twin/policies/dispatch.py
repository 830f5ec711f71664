"""Dispatch policies: which carrier takes an order, and how often a lane's delivery waves leave.

A dispatch policy returns one `DispatchRule` per last-mile lane (warehouse → region): the carriers
in order of preference and the wave interval. The model applies the rule to each packed order, so
it costs nothing per order; the policy revises it at each review and on events.
"""

from __future__ import annotations

from pydantic import Field

from twin.policies.registry import REGISTRY, Hours, PolicyParams
from twin.state import CarrierInfo, Decision, DispatchRule, NetworkInfo, State


class DispatchParams(PolicyParams):
    """Settings every dispatch rule shares."""

    live_wave_every: Hours | None = Field(default=None, gt=0.0)
    """While a livestream is on air, waves leave at this interval (lanes that have waves)."""


class _Dispatcher:
    """One rule per last-mile lane; subclasses choose the carriers' order of preference."""

    Params = DispatchParams

    def __init__(self, params: DispatchParams, network: NetworkInfo) -> None:
        self.params = params
        self.network = network

    def decide(self, state: State) -> list[Decision]:
        """A rule for every (warehouse, region) lane, in network order."""
        live = self.params.live_wave_every if state.live_events else None
        out: list[Decision] = []
        for warehouse, regions in self.network.last_mile.items():
            for region, carriers in regions.items():
                has_waves = any(c.wave_every is not None for c in carriers)
                out.append(
                    DispatchRule(
                        warehouse,
                        region,
                        tuple(c.carrier for c in self.preference(carriers)),
                        live if has_waves else None,
                    )
                )
        return out

    def preference(self, carriers: tuple[CarrierInfo, ...]) -> list[CarrierInfo]:
        """The lane's carriers, most preferred first."""
        raise NotImplementedError


@REGISTRY.register("cheapest_on_time")
class CheapestOnTime(_Dispatcher):
    """The cheapest carrier whose mean transit meets the order's promise; else the fastest.

    The model's default carrier rule when a scenario names no dispatch policy; `live_wave_every`
    adds waves while a livestream is on.
    """

    def preference(self, carriers: tuple[CarrierInfo, ...]) -> list[CarrierInfo]:
        """Cheapest first, ties by name."""
        return sorted(carriers, key=lambda c: (c.cost, c.carrier))


@REGISTRY.register("fastest_carrier")
class FastestCarrier(_Dispatcher):
    """Always the carrier with the shortest mean transit (ties: cheaper, then by name)."""

    def preference(self, carriers: tuple[CarrierInfo, ...]) -> list[CarrierInfo]:
        """Fastest first."""
        return sorted(carriers, key=lambda c: (c.mean_transit, c.cost, c.carrier))
