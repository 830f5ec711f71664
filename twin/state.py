"""`State` and `Decision`: the one contract between the model, the policies and operating mode.

A `State` is what a planner can know at time t, never the future. A `Decision` is a plain frozen
dataclass a policy returns; the model (or operating mode) carries it out. Both serialise to JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

SiteSku = Mapping[str, Mapping[str, int]]
"""Units by site id, then SKU id."""


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    """The static facts of a network that policies may use: known before the run starts."""

    skus: tuple[str, ...]
    warehouses: tuple[str, ...]
    central: tuple[str, ...]
    forward: tuple[str, ...]
    factories: tuple[str, ...]
    source_of: Mapping[str, str]
    """Each warehouse's upstream site: a central warehouse for a forward one, a factory for a central."""
    baseline_units_per_hour: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Expected baseline demand in units/h by warehouse (of its nearest regions) and SKU."""
    bom: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    """Component units per SKU unit, by factory then SKU then component."""
    sellers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The suppliers that sell each component."""

    def components_of(self, factory: str) -> list[str]:
        """Every component a factory's bill of materials uses, sorted."""
        return sorted({c for needs in self.bom.get(factory, {}).values() for c in needs})

    def resolve_sites(self, selector: str | list[str]) -> tuple[str, ...]:
        """`'forward'`, `'central'`, `'all'` or an explicit list of warehouse ids."""
        if isinstance(selector, list):
            return tuple(selector)
        return {"forward": self.forward, "central": self.central, "all": self.warehouses}[selector]


@dataclass(frozen=True, slots=True)
class SupplierInfo:
    """What a buyer knows of a supplier now."""

    tier: str
    status: str
    """`up` or `down` (an outage)."""
    lead_time_mean: float
    moq: int
    components: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class State:
    """A snapshot of the network at `time` (hours since the start of the run)."""

    time: float
    on_hand: SiteSku
    inbound: SiteSku
    """Units ordered for a site and not yet put away there (in production, in transit, at the dock)."""
    backorders: SiteSku
    """Units of customer orders waiting at a site for stock."""
    production_queue: SiteSku = field(default_factory=dict)
    """Units ordered from each factory and not yet produced."""
    elastic: Mapping[str, str] = field(default_factory=dict)
    """Each factory's elastic capacity: `off`, `pending` (activating), `on` or `unavailable`."""
    live_events: tuple[str, ...] = ()
    """Livestream events on air now."""
    order_rate: Mapping[str, float] = field(default_factory=dict)
    """Units ordered per hour over the last hour, by SKU (a live-sale signal)."""
    presale_open: Mapping[str, int] = field(default_factory=dict)
    """Units pre-ordered and not yet released to fulfilment, by SKU."""
    components: SiteSku = field(default_factory=dict)
    """Component units on hand, by factory then component."""
    components_on_order: SiteSku = field(default_factory=dict)
    """Component units bought and not yet arrived, by factory then component."""
    suppliers: Mapping[str, SupplierInfo] = field(default_factory=dict)

    def level(self, table: SiteSku, site: str, sku: str) -> int:
        """`table[site][sku]`, zero when absent."""
        return table.get(site, {}).get(sku, 0)

    def position(self, site: str, sku: str) -> int:
        """Inventory position: on hand + inbound − backorders."""
        return (
            self.level(self.on_hand, site, sku)
            + self.level(self.inbound, site, sku)
            - self.level(self.backorders, site, sku)
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move `quantity` units of `sku` from one warehouse to another."""

    origin: str
    destination: str
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ProductionOrder:
    """Produce `quantity` units of `sku` at `factory` for the warehouse `destination`."""

    factory: str
    sku: str
    quantity: int
    destination: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class ElasticActivation:
    """Switch a factory's reserved elastic capacity on (after its activation delay) or off."""

    factory: str
    active: bool


@dataclass(frozen=True, slots=True)
class PurchaseOrder:
    """Buy `quantity` units of `component` from `supplier`, delivered to `factory`."""

    supplier: str
    component: str
    quantity: int
    factory: str


Decision = Transfer | ProductionOrder | ElasticActivation | PurchaseOrder


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """A decision as JSON-ready data, tagged with its type name."""
    return {"type": type(decision).__name__, **asdict(decision)}
