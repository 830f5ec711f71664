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
class CarrierInfo:
    """A carrier's last-mile lane from a warehouse to a region, as a dispatcher knows it."""

    carrier: str
    mean_transit: float
    cost_per_shipment: float
    cost_per_unit: float
    wave_every: float | None = None
    """Hours between the lane's delivery waves as configured; None: orders leave when packed."""

    @property
    def cost(self) -> float:
        """Cost of one shipment of one unit, the figure carriers are compared on."""
        return self.cost_per_shipment + self.cost_per_unit


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
    regions: tuple[str, ...] = ()
    serving: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """For each region, the warehouses with a last-mile lane to it: forward nearest first, then central."""
    last_mile: Mapping[str, Mapping[str, tuple[CarrierInfo, ...]]] = field(default_factory=dict)
    """Carriers from each warehouse to each region it serves, cheapest first (ties by name)."""
    sla: Mapping[str, float] = field(default_factory=dict)
    """Each region's delivery promise in hours after the order."""
    pick_time: Mapping[str, float] = field(default_factory=dict)
    """Mean pick/pack hours of one order at each warehouse."""

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
    pick_wait: Mapping[str, float] = field(default_factory=dict)
    """Hours an order arriving now would queue before pick/pack starts, by warehouse."""
    closed: tuple[str, ...] = ()
    """Warehouses closed now (a disruption): nothing is picked or shipped there."""

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


@dataclass(frozen=True, slots=True)
class SourcingRule:
    """How orders from `region` are sourced until the next rule for it (this or `BatchSourcing`).

    An order goes to the first warehouse in `warehouses` that is open and holds all its lines (and
    owes nothing to earlier orders of those SKUs). With `split`, an order no single warehouse can
    fill ships each line from the first warehouse holding it, when every line has one. Otherwise
    the order waits at the first warehouse of the list.
    """

    region: str
    warehouses: tuple[str, ...]
    split: bool = False


@dataclass(frozen=True, slots=True)
class BatchOption:
    """A warehouse a batch may source a region's orders from, and what serving one costs there."""

    warehouse: str
    cost_per_order: float
    """Last-mile cost of a shipment (the lane's cheapest carrier)."""
    cost_per_unit: float
    hours: float
    """Expected hours from the end of pick/pack queueing to delivery (one pick, then transit)."""


@dataclass(frozen=True, slots=True)
class BatchSourcing:
    """Orders from `region` are held and sourced together every `every` hours, at least cost.

    Until the next rule for the region, its orders wait in a batch that closes at the next
    multiple of `every` hours; then every batch closing at that time (all regions under such a
    rule) is assigned at once by an exact 0-1 MIP (`twin.optimize.allocation.source_batch`): each
    order whole from one open option holding all its lines (and owing nothing to earlier orders
    of those SKUs), at least cost, where serving order o from option w costs
    `w.cost_per_order + units(o) * w.cost_per_unit + late_cost * hours late`, hours late being
    how far the pick/pack queue at w now plus `w.hours` ends after the order's promise, and
    leaving it unserved costs `unserved_penalty * units(o)`. An order the batch leaves unserved
    takes the `SourcingRule` path with `options` as its ranking (and `split`). Promise and
    patience still count from the order's arrival.
    """

    region: str
    options: tuple[BatchOption, ...]
    every: float = 0.25
    unserved_penalty: float = 100.0
    late_cost: float = 1.0
    time_limit: float = 10.0
    """Seconds the solver may take per batch; past it, the best assignment found is used."""
    split: bool = False

    @property
    def warehouses(self) -> tuple[str, ...]:
        """The options' warehouses, in order: the fallback ranking."""
        return tuple(o.warehouse for o in self.options)


@dataclass(frozen=True, slots=True)
class DispatchRule:
    """How orders from `warehouse` to `region` leave, until the next rule for that pair.

    An order takes the first carrier in `carriers` whose mean transit, counted from the time the
    order is packed, meets its promise; if none does, the fastest of them. With `wave_every`,
    the lane's waves leave at that interval from its next departure on; None restores the
    configured interval. Orders already given a wave keep it.
    """

    warehouse: str
    region: str
    carriers: tuple[str, ...]
    wave_every: float | None = None


Decision = (
    Transfer
    | ProductionOrder
    | ElasticActivation
    | PurchaseOrder
    | SourcingRule
    | BatchSourcing
    | DispatchRule
)


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """A decision as JSON-ready data (tuples as lists, nested dataclasses as dicts), typed by name."""
    fields = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(decision).items()}
    return {"type": type(decision).__name__, **fields}
