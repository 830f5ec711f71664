"""Production policies: when to switch a factory's reserved elastic capacity on and off."""

from __future__ import annotations

from pydantic import NonNegativeInt, model_validator

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
