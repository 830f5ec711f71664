"""Pre-positioning: push stock from central to forward warehouses ahead of a known livestream.

The policy is a base-stock on the forward warehouses whose targets rise, from `lead` hours before
an event starts until it ends, by the event's extra units split by audience share. *How much goes
where* is the one method `amounts(state)`: the OR-Tools allocation (a later issue) overrides it and
keeps the rest (the window, the orders, the interface `decide(state)`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, NonNegativeFloat, NonNegativeInt, field_validator

from twin.policies.forecast import ceil_units
from twin.policies.registry import REGISTRY, Hours, PolicyParams
from twin.policies.replenishment import Levels, Sites, level_for, replenish
from twin.state import Decision, NetworkInfo, State


class AudienceEvent(PolicyParams):
    """A livestream known in advance: when, the extra units it needs, and where its audience is."""

    name: str | None = None
    start: Hours
    duration: Annotated[Hours, Field(gt=0)]
    skus: Annotated[dict[str, NonNegativeInt], Field(min_length=1)]
    """Extra units in total (over all warehouses) by SKU."""
    shares: dict[str, NonNegativeFloat] | None = None
    """Share of the audience by warehouse (sum ≤ 1; an unnamed warehouse gets none). When not
    given: proportional to the warehouses' baseline units/h (summed over SKUs)."""

    @field_validator("shares")
    @classmethod
    def _shares_at_most_one(cls, shares: dict[str, float] | None) -> dict[str, float] | None:
        total = sum((shares or {}).values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"add up to {total:g}; they must add up to at most 1")
        return shares

    @property
    def end(self) -> float:
        """When the event goes off air (hours)."""
        return self.start + self.duration


@REGISTRY.register("preposition_by_audience")
class PrepositionByAudience:
    """Base-stock on `sites` whose target rises for known livestreams.

    In [start − lead, start + duration) of an event the target of warehouse w for SKU k is
    base + ⌈extra_k × share_w⌉ (summed over the events whose windows hold now); outside, the base.
    A featured SKU with no base target has base 0 (stocked for the event only).
    """

    class Params(PolicyParams):
        """Which warehouses, their base target, the events and how early to start pushing."""

        sites: Sites = "forward"
        target: Levels
        lead: Hours = 0.0
        """Hours before an event's start from which its extra units are pushed."""
        events: list[AudienceEvent] = Field(default_factory=list)

    def __init__(self, params: Params, network: NetworkInfo) -> None:
        self.params = params
        self.network = network
        self.sites = network.resolve_sites(params.sites)
        self.shares = [self._shares_of(i, e) for i, e in enumerate(params.events)]

    def _shares_of(self, i: int, event: AudienceEvent) -> dict[str, float]:
        """The event's shares by warehouse, checked against the network."""
        for sku in event.skus:
            if sku not in self.network.skus:
                raise ValueError(
                    f"events[{i}].skus names {sku!r}, which is not a SKU of this network "
                    f"(SKUs: {', '.join(self.network.skus)})"
                )
        if event.shares is not None:
            for site in event.shares:
                if site not in self.sites:
                    raise ValueError(
                        f"events[{i}].shares names {site!r}, which is not one of this "
                        f"policy's warehouses ({', '.join(self.sites)})"
                    )
            return dict(event.shares)
        weight = {
            w: sum(self.network.baseline_units_per_hour.get(w, {}).values()) for w in self.sites
        }
        total = sum(weight.values())
        if total <= 0:  # no baseline known: equal shares
            return {w: 1.0 / len(self.sites) for w in self.sites} if self.sites else {}
        return {w: v / total for w, v in weight.items()}

    def active(self, state: State) -> list[int]:
        """Indices of the events whose push window [start − lead, end) holds `state.time`."""
        t, lead = state.time, self.params.lead
        return [i for i, e in enumerate(self.params.events) if e.start - lead <= t < e.end]

    def amounts(self, state: State) -> dict[tuple[str, str], int]:
        """Extra units over the base target, by (warehouse, SKU), for the events in their window.

        Override this to choose the amounts another way (e.g. by optimisation); only positive
        amounts are listed.
        """
        out: dict[tuple[str, str], int] = {}
        for i in self.active(state):
            for sku, extra in self.params.events[i].skus.items():
                for site, share in self.shares[i].items():
                    units = ceil_units(extra * share)
                    if units > 0:
                        out[(site, sku)] = out.get((site, sku), 0) + units
        return out

    def targets(self, state: State) -> dict[tuple[str, str], int]:
        """The order-up-to level of each managed (warehouse, SKU) now: base + amount."""
        extra = self.amounts(state)
        out: dict[tuple[str, str], int] = {}
        for site in self.sites:
            for sku in self.network.skus:
                base = level_for(self.params.target, sku)
                add = extra.get((site, sku), 0)
                if base is not None or add > 0:
                    out[(site, sku)] = (base or 0) + add
        return out

    def decide(self, state: State) -> list[Decision]:
        """One order per (warehouse, SKU) whose position is below its target, for the gap."""
        out: list[Decision] = []
        for (site, sku), target in self.targets(state).items():
            gap = target - state.position(site, sku)
            if gap > 0:
                out.append(replenish(self.network, site, sku, gap))
        return out


class PlannedEvent(PolicyParams):
    """A known livestream and the extra units to hold at each warehouse for it (e.g. optimised)."""

    name: str | None = None
    start: Hours
    duration: Annotated[Hours, Field(gt=0)]
    amounts: dict[str, dict[str, NonNegativeInt]]
    """Extra units over the base target, by warehouse then SKU."""

    @property
    def end(self) -> float:
        """When the event goes off air (hours)."""
        return self.start + self.duration


@REGISTRY.register("preposition_plan")
class PrepositionPlan(PrepositionByAudience):
    """Pre-positioning with the amounts given per warehouse and SKU (`twin plan preposition`).

    The same window and orders as `preposition_by_audience`; only `amounts()` differs: the extra
    units are the plan's, not an audience split.
    """

    class Params(PolicyParams):
        """Which warehouses, their base target, the planned events and how early to push."""

        sites: Sites = "forward"
        target: Levels
        lead: Hours = 0.0
        events: list[PlannedEvent] = Field(default_factory=list)

    def __init__(self, params: Params, network: NetworkInfo) -> None:  # type: ignore[override]
        self.params = params  # type: ignore[assignment]
        self.network = network
        self.sites = network.resolve_sites(params.sites)
        for i, event in enumerate(params.events):
            for site, by_sku in event.amounts.items():
                if site not in self.sites:
                    raise ValueError(
                        f"events[{i}].amounts names {site!r}, which is not one of this "
                        f"policy's warehouses ({', '.join(self.sites)})"
                    )
                for sku in by_sku:
                    if sku not in network.skus:
                        raise ValueError(
                            f"events[{i}].amounts.{site} names {sku!r}, which is not a SKU "
                            f"of this network (SKUs: {', '.join(network.skus)})"
                        )

    def amounts(self, state: State) -> dict[tuple[str, str], int]:
        """The planned extra units of the events whose push window holds now."""
        out: dict[tuple[str, str], int] = {}
        for i in self.active(state):
            for site, by_sku in self.params.events[i].amounts.items():
                for sku, units in by_sku.items():
                    if units > 0:
                        out[(site, sku)] = out.get((site, sku), 0) + units
        return out
