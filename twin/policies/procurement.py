"""Procurement: when to buy components for a factory's bill of materials, and from which tier.

`components_s_S` follows a fixed tier preference; `components_by_urgency` picks the tier by how
soon the factory would run out.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from pydantic import NonNegativeFloat, model_validator

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
        for factory, comp, high, position in due(state, self.network, self.params):
            supplier = self.supplier_for(comp, state)
            if supplier is not None:
                out.append(PurchaseOrder(supplier, comp, high - position, factory))
        return out


def due(state: State, network: NetworkInfo, params: Any) -> Iterator[tuple[str, str, int, int]]:
    """(factory, component, S, position) for every component whose position is at or below s.

    The position is on hand + on order; `params` has the `s` and `S` levels.
    """
    for factory in network.factories:
        for comp in network.components_of(factory):
            low, high = level_for(params.s, comp), level_for(params.S, comp)
            if low is None or high is None:
                continue
            position = state.level(state.components, factory, comp) + state.level(
                state.components_on_order, factory, comp
            )
            if position <= low:
                yield factory, comp, high, position


Rates = NonNegativeFloat | dict[str, NonNegativeFloat]
"""One rate for every component, or rates by component with an optional `default`."""


def rate_for(rates: Rates, key: str) -> float | None:
    """The rate for `key`; `None` when a mapping names neither it nor a `default`."""
    if isinstance(rates, int | float):
        return float(rates)
    value = rates.get(key, rates.get("default"))
    return None if value is None else float(value)


def served_by(network: NetworkInfo, factory: str) -> list[str]:
    """The warehouses whose chain of sources ends at `factory` (its central ones and theirs)."""
    out = []
    for w in network.warehouses:
        site, seen = w, set()
        while site in network.source_of and site not in seen:
            seen.add(site)
            site = network.source_of[site]
        if site == factory:
            out.append(w)
    return out


@REGISTRY.register("components_by_urgency")
class ComponentsByUrgency:
    """(s, S) on each component's position, the supplier tier chosen by urgency, orders ≥ MOQ.

    At position (on hand + on order) ≤ s, buy max(S − position, MOQ of the chosen supplier).
    The projected stock-out is T = on hand ÷ usage per hour (∞ when usage is 0). A tier *arrives
    in time* when one of its up sellers has a mean lead time ≤ T. Strategic when it arrives in
    time; else agile when it does; else (both short: each of strategic and agile is down, sells
    nothing here, or would arrive after the stock-out) backup, or with `late: fastest` the fastest
    up seller of any tier (the stock-out is then unavoidable: backup is cheapest, fastest is
    shortest). Within a tier the up seller with the shortest lead time (then the lowest id) is
    chosen. When the chosen tier has no up seller, the fastest up seller of any tier; when none is
    up, the first strategic/agile/backup seller by id.
    """

    class Params(PolicyParams):
        """Reorder point s and order-up-to S per component, and optional usage rates."""

        s: Levels
        S: Levels
        usage_per_hour: Rates | None = None
        """Component units used per hour; when not given (or no entry for a component):
        bill of materials × baseline units/h of the warehouses this factory supplies."""
        late: Literal["backup", "fastest"] = "backup"
        """Whom to buy from when neither strategic nor agile arrives before the stock-out."""

        @model_validator(mode="after")
        def _s_below_big_s(self) -> ComponentsByUrgency.Params:
            check_s_below_big_s(self.s, self.S)
            return self

    ORDER: ClassVar[tuple[Tier, ...]] = ("strategic", "agile", "backup")

    def __init__(self, params: Params, network: NetworkInfo) -> None:
        self.params = params
        self.network = network

    def usage(self, factory: str, component: str) -> float:
        """Units of `component` used per hour at `factory`."""
        if self.params.usage_per_hour is not None:
            given = rate_for(self.params.usage_per_hour, component)
            if given is not None:
                return given
        warehouses = served_by(self.network, factory)
        total = 0.0
        for sku, needs in self.network.bom.get(factory, {}).items():
            per_unit = needs.get(component, 0)
            if per_unit:
                demand = sum(
                    self.network.baseline_units_per_hour.get(w, {}).get(sku, 0.0)
                    for w in warehouses
                )
                total += per_unit * demand
        return total

    def stockout_in(self, state: State, factory: str, component: str) -> float:
        """Hours until the component's stock on hand runs out at the current usage."""
        rate = self.usage(factory, component)
        on_hand = state.level(state.components, factory, component)
        return math.inf if rate <= 0 else on_hand / rate

    def supplier_for(self, component: str, state: State, stockout: float) -> str | None:
        """The supplier to buy from now given the hours to stock-out (see the class docstring)."""
        known = [
            sid
            for sid in self.network.sellers.get(component, ())
            if sid in state.suppliers and state.suppliers[sid].tier in self.ORDER
        ]
        if not known:
            return None
        info = state.suppliers
        up = sorted(
            (sid for sid in known if info[sid].status == "up"),
            key=lambda sid: (info[sid].lead_time_mean, sid),
        )
        for tier in ("strategic", "agile"):
            fastest = next((sid for sid in up if info[sid].tier == tier), None)
            if fastest is not None and info[fastest].lead_time_mean <= stockout:
                return fastest
        backup = next((sid for sid in up if info[sid].tier == "backup"), None)
        if backup is not None and self.params.late == "backup":
            return backup
        if up:
            return up[0]
        rank = {tier: i for i, tier in enumerate(self.ORDER)}
        return min(known, key=lambda sid: (rank[info[sid].tier], sid))

    def decide(self, state: State) -> list[Decision]:
        """One purchase order per (factory, component) at or below s."""
        out: list[Decision] = []
        for factory, comp, high, position in due(state, self.network, self.params):
            supplier = self.supplier_for(comp, state, self.stockout_in(state, factory, comp))
            if supplier is not None:
                quantity = max(high - position, state.suppliers[supplier].moq)
                out.append(PurchaseOrder(supplier, comp, quantity, factory))
        return out
