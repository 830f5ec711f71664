"""Pydantic models of a scenario file: what a planner may write, validated on load.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting.
Durations are hours (floats) once parsed; files may write "90min", "36h", "2d".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from twin.config.base import (
    ConstantSpec,
    Duration,
    Id,
    Location,
    Money,
    PositiveUnits,
    Price,
    Probability,
    Rate,
    Share,
    Strict,
    Text,
    TimeDist,
    Units,
    Weight,
)
from twin.config.limits import (
    MAX_MONEY,
    MAX_MULTIPLIER,
    MAX_ORDER_SIZE,
    MAX_RATE_KMH,
    MAX_SEED,
    MAX_SERVERS,
    MAX_SOLVER_SECONDS,
    MAX_VEHICLES,
)
from twin.config.supply import SupplierSpec
from twin.config.transport import DepartureSpec, WaveSpec

# --- SKUs and sites ----------------------------------------------------------------------------


class SkuSpec(Strict):
    """A product."""

    unit_cost: Price
    price: Price
    family: Id = "default"
    order_size_mean: Annotated[float, Field(ge=1.0, le=MAX_ORDER_SIZE)] = 1.0
    """Mean units per order line, 1 to `MAX_ORDER_SIZE`."""


class PickPackSpec(Strict):
    """Pick/pack capacity: `workers` servers each packing `rate` orders per hour, FCFS."""

    workers: Annotated[int, Field(gt=0, le=MAX_SERVERS)]
    """Parallel packers, at most `MAX_SERVERS` (each is a simulated server)."""
    rate: Rate
    service_cv: Annotated[float, Field(ge=0.0, le=3.0)] = 1.0


class InspectionSpec(Strict):
    """Inspection of returned units: `inspectors` in parallel, `time` per return, then restock or scrap."""

    time: Duration = 2.0
    inspectors: Annotated[int, Field(gt=0, le=MAX_SERVERS)] | None = None
    """Returns inspected at once, at most `MAX_SERVERS`; None for no limit."""
    restock_fraction: Probability = 0.8


StockLevels = Units | dict[Id, Units]
"""Units for every SKU, or units by SKU with an optional `default` for the others."""


class FleetSpec(Strict):
    """A carrier's last-mile vehicles at one warehouse: each wave sends out up to `vehicles`."""

    vehicles: Annotated[int, Field(gt=0, le=MAX_VEHICLES)]
    """Vehicles per wave, at most `MAX_VEHICLES` (the router models each one)."""
    capacity: PositiveUnits
    """Units one vehicle carries."""
    speed_kmh: Annotated[float, Field(gt=0.0, le=MAX_RATE_KMH)]
    """Average speed, at most `MAX_RATE_KMH` (distances over it must give a positive time)."""
    cost_per_km: Money = 0.0
    cost_per_vehicle: Money = 0.0
    """Booked for each vehicle a wave sends out."""
    service_time: Duration = 0.0
    """Hours spent at each station."""
    max_duration: Annotated[Duration, Field(gt=0)] | None = None
    """Longest route (hours from leaving the warehouse to coming back)."""


class RoutingSpec(Strict):
    """Route each wave's deliveries as a vehicle routing problem (OR-Tools or PyVRP)."""

    fleet: FleetSpec
    backend: Literal["ortools", "pyvrp", "nearest"] = "ortools"
    time_limit: Annotated[float, Field(gt=0, le=MAX_SOLVER_SECONDS)] = 0.2
    """Seconds of solver time per wave at most (itself at most `MAX_SOLVER_SECONDS`)."""
    first_solution: Id = "PATH_CHEAPEST_ARC"
    local_search: Id = "AUTOMATIC"
    """OR-Tools metaheuristic; `AUTOMATIC` stops at a local optimum, `GUIDED_LOCAL_SEARCH` uses
    the whole time limit."""


class WarehouseSpec(Strict):
    """A central or forward warehouse."""

    kind: Literal["warehouse"]
    role: Literal["central", "forward"]
    location: Location
    initial_stock: StockLevels = 0
    pick_pack: PickPackSpec
    inbound_handling: Duration = 0.0
    inspection: InspectionSpec = InspectionSpec()
    fixed_cost: Money = 0.0
    """Cost of keeping the warehouse open over the horizon (what `twin plan network` weighs)."""
    milk_runs: RoutingSpec | None = None
    """Send one review's transfers out of here to several warehouses as one routed trip, when
    that costs less than a truck on each lane."""

    def initial(self, sku: str) -> int:
        """Initial units of `sku` (a number for all, or by SKU with an optional `default`)."""
        init = self.initial_stock
        return init if isinstance(init, int) else init.get(sku, init.get("default", 0))


class ElasticSpec(Strict):
    """Reserved elastic capacity: paid per unit-hour reserved, dearer per unit when used."""

    capacity: Rate
    reservation_fee: Money = 0.0
    premium_per_unit: Money = 0.0
    activation_delay: Duration = 0.0
    reserved_from: Duration = 0.0
    reserved_until: Duration | None = None


Rates = Rate | dict[Id, Rate]
"""Units per hour for every SKU family, or by family with an optional `default`."""


class LineSpec(Strict):
    """A production line: its rate by SKU family (a family it has no rate for, it cannot make)."""

    capacity: Rates
    changeover: Duration | None = None
    """Time lost when the line switches SKU; the factory's `changeover` when not given."""


class FactorySpec(Strict):
    """A factory: production lines (or one line of `capacity`), elastic capacity, BOM, yield."""

    kind: Literal["factory"]
    location: Location
    capacity: Rates | None = None
    """Shorthand for a single line called `main`."""
    lines: dict[Id, LineSpec] = {}
    changeover: Duration = 0.0
    yield_: Annotated[float, Field(gt=0.0, le=1.0, alias="yield")] = 1.0
    """Fraction of started units that come out good; the rest are scrapped and made again."""
    bom: dict[Id, dict[Id, PositiveUnits]] = {}
    """Component units per unit of each SKU; a SKU not listed needs no components."""
    initial_components: dict[Id, Units] = {}
    elastic: ElasticSpec | None = None

    @model_validator(mode="after")
    def _one_way_to_give_lines(self) -> FactorySpec:
        if (self.capacity is None) == (not self.lines):
            raise ValueError("give either `capacity` (one line) or `lines`, not both or neither")
        return self

    def line_specs(self) -> dict[str, LineSpec]:
        """The factory's lines, the `capacity` shorthand expanded."""
        if self.lines:
            return dict(self.lines)
        assert self.capacity is not None
        return {"main": LineSpec(capacity=self.capacity)}


class StationSpec(Strict):
    """A delivery station of a region (parcel locker, pick-up point): where last-mile routes stop."""

    id: Id
    location: Location
    weight: Weight = 1.0
    """Share of the region's orders collected here, relative to the other stations."""
    window: tuple[Duration, Duration] | None = None
    """Daily hours `[open, close]` in which a routed van may begin service here; None: always."""

    @field_validator("window")
    @classmethod
    def _daily(cls, window: tuple[float, float] | None) -> tuple[float, float] | None:
        """A window is a stretch of one day: it opens before it closes, and closes by 24 h.

        `[0h, 24h]` is open all day, which is no window: it becomes None, so the station routes
        as a plain CVRP stop rather than carrying a 24-hour window that wraps into the next day.
        """
        if window is not None:
            opens, closes = window
            if not opens < closes:
                raise ValueError(f"must open (={opens:g} h) before it closes (={closes:g} h)")
            if closes > 24.0:
                raise ValueError(f"is daily hours: it must close (={closes:g} h) by 24 h")
            if closes - opens >= 24.0:
                return None
        return window


class RegionSpec(Strict):
    """A customer area: its share of baseline demand, its delivery promise and its patience."""

    kind: Literal["region"]
    location: Location
    weight: Weight = 1.0
    """Share of baseline demand relative to the other regions, at most `MAX_WEIGHT`."""
    sla: Annotated[Duration, Field(gt=0)]
    patience: Annotated[Duration, Field(gt=0)]
    stations: list[StationSpec] = []
    """Where routed deliveries stop; none: one station at the region's location."""

    def station_list(self) -> list[StationSpec]:
        """The stations, or one at the region's centroid when none are given."""
        return self.stations or [StationSpec(id="centroid", location=self.location)]


Site = Annotated[
    WarehouseSpec | FactorySpec | RegionSpec | SupplierSpec, Field(discriminator="kind")
]


class LaneSpec(Strict):
    """A transport link from one site to another for one carrier."""

    origin: Id = Field(alias="from")
    destination: Id = Field(alias="to")
    transit: TimeDist | None = None
    """Transit time; a routed lane has none (its deliveries follow the routes)."""
    carrier: Id = "default"
    cost_per_shipment: Money = 0.0
    cost_per_unit: Money = 0.0
    departures: DepartureSpec | None = None
    """Line-haul schedule with capacity per departure; None: each shipment leaves at once."""
    waves: WaveSpec | None = None
    """Last-mile waves with capacity (orders per wave); None: each order leaves when packed."""
    routing: RoutingSpec | None = None
    """Route each wave's vehicles to the stations of the region (needs `waves`)."""

    @model_validator(mode="after")
    def _transit_or_routing(self) -> LaneSpec:
        if self.routing is None and self.transit is None:
            raise ValueError("needs `transit` (or `routing`, for a last-mile lane with waves)")
        if self.routing is not None:
            if self.transit is not None:
                raise ValueError(
                    "a routed lane takes no `transit`: its deliveries follow the routes"
                )
            if self.waves is None:
                raise ValueError("`routing` routes each wave: the lane needs `waves`")
        return self


# --- demand ------------------------------------------------------------------------------------


class UpliftSpec(Strict):
    """A planner's view of a livestream's peak multiplier: median and 90th percentile."""

    p50: Annotated[float, Field(ge=1.0, le=MAX_MULTIPLIER)]
    p90: Annotated[float, Field(ge=1.0, le=MAX_MULTIPLIER)]
    """Both at most `MAX_MULTIPLIER`: the peak rate is baseline × uplift."""

    @model_validator(mode="after")
    def _ordered(self) -> UpliftSpec:
        if self.p90 < self.p50:
            raise ValueError(f"p90 (={self.p90:g}) must be >= p50 (={self.p50:g})")
        return self


class LivestreamSpec(Strict):
    """A livestream event (DESIGN §4): a multiplicative pulse decaying from its start."""

    start: Duration
    duration: Annotated[Duration, Field(gt=0)]
    decay: Annotated[Duration, Field(gt=0)]
    uplift: UpliftSpec
    featured: Annotated[dict[Id, Probability], Field(min_length=1)]
    audience: dict[Id, Share] = {}
    presale: PresaleSpec | None = None
    replay: ReplaySpec | None = None


class PresaleSpec(Strict):
    """Pre-orders (C2M): a share of the event's orders placed before it, promised for later."""

    share: Annotated[float, Field(ge=0.0, lt=1.0)]
    opens: Annotated[Duration, Field(gt=0)]
    """How long before the event start pre-orders open (they arrive evenly over that window)."""
    promise: Annotated[Duration, Field(gt=0)]
    """Promised delivery, counted from the event start."""


class ReplaySpec(Strict):
    """A second, smaller pulse: a replay of the stream or a flash price drop."""

    after: Annotated[Duration, Field(gt=0)]
    """From the event start to the replay start."""
    uplift_fraction: Annotated[float, Field(gt=0.0, le=1.0)]
    """The replay's (M − 1) as a fraction of the event's."""
    duration: Annotated[Duration, Field(gt=0)]
    decay: Annotated[Duration, Field(gt=0)]


class SeasonalitySpec(Strict):
    """Hour-of-day and day-of-week multipliers, rescaled to mean 1."""

    hour_of_day: Annotated[list[Share], Field(min_length=24, max_length=24)] | None = None
    """Multipliers, each at most `MAX_WEIGHT` (they are rescaled to mean 1)."""
    day_of_week: Annotated[list[Share], Field(min_length=7, max_length=7)] | None = None
    start_weekday: Annotated[int, Field(ge=0, le=6)] = 0


class BaselineSpec(Strict):
    """Baseline orders per hour over all regions and SKUs, split by region weight and SKU mix."""

    orders_per_hour: Rate
    """Above 0 and at most `MAX_RATE`; the work of a whole run is checked apart."""
    sku_mix: dict[Id, Weight] = {}


class BasketSpec(Strict):
    """Multi-line orders: extra lines per order ~ Poisson(mean), SKUs by the baseline mix."""

    extra_lines_mean: Annotated[float, Field(ge=0.0, le=5.0)] = 0.0


class DemandSpec(Strict):
    """Baseline demand plus livestream pulses."""

    baseline: BaselineSpec
    basket: BasketSpec = BasketSpec()
    seasonality: SeasonalitySpec = SeasonalitySpec()
    livestreams: dict[Id, LivestreamSpec] = {}


class ReturnChannelSpec(Strict):
    """Return behaviour of one channel: probability a delivered unit comes back, and when."""

    probability: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    lag: TimeDist = ConstantSpec(dist="constant", value=120.0)


class ReturnsSpec(Strict):
    """Returns of baseline, livestream and pre-sale orders, and where they go."""

    baseline: ReturnChannelSpec = ReturnChannelSpec()
    live: ReturnChannelSpec = ReturnChannelSpec()
    presale: ReturnChannelSpec | None = None
    """Pre-orders' returns; the `live` channel's when not given."""
    to: Id | None = None
    """The warehouse all returns go to; None: back to the warehouse that shipped the order."""
    shipping_cost_per_unit: Money = 0.0


# --- costs and policies ------------------------------------------------------------------------


Severity = Annotated[float, Field(ge=0.0, le=MAX_MULTIPLIER)]
"""Capacity lost (0–1) or a lead-time factor, at most `MAX_MULTIPLIER`."""

DisruptionKind = Literal[
    "supplier_outage", "line_down", "warehouse_closure", "carrier_capacity_cut", "lead_time_spike"
]


class DisruptionSpec(Strict):
    """A scheduled disruption.

    `target` is a supplier (`supplier_outage`, `lead_time_spike`), a factory (`line_down`, with
    `line`; all lines when not given), a warehouse (`warehouse_closure`) or a lane written
    `origin->destination` (`carrier_capacity_cut`). `severity` is the capacity lost (0–1) for a cut,
    the lead-time factor (> 1) for a spike, and unused otherwise.
    """

    kind: DisruptionKind
    target: Text
    line: Id | None = None
    start: Duration
    duration: Annotated[Duration, Field(gt=0)]
    severity: Severity = 1.0


class RandomDisruptionSpec(Strict):
    """Disruptions drawn per replication: Poisson onsets (mean gap `mtbf`) for each target."""

    kind: DisruptionKind
    targets: Annotated[list[Text], Field(min_length=1)]
    line: Id | None = None
    mtbf: Annotated[Duration, Field(gt=0)]
    duration: TimeDist
    severity: Severity = 1.0


class DisruptionsSpec(Strict):
    """Scheduled and random disruptions."""

    scheduled: list[DisruptionSpec] = []
    random: list[RandomDisruptionSpec] = []


class CostsSpec(Strict):
    """Cost rates not owned by a site or lane."""

    holding_rate_per_year: Annotated[float, Field(ge=0.0, le=MAX_MULTIPLIER)] = 0.25
    """Fraction of unit cost per year, at most `MAX_MULTIPLIER`."""
    returns_handling_per_unit: Money = 0.0
    lost_sale_penalty: Money = 0.0


class PolicySpec(BaseModel):
    """A policy by registered kind (or dotted path), its review period and its own parameters.

    The parameters are validated by the policy kind's own model once the kind is known.
    """

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    kind: Text
    review: Annotated[Duration, Field(gt=0)] = 24.0
    on_events: bool = False
    """Also decide when a livestream starts and when a disruption begins."""

    @property
    def params(self) -> dict[str, object]:
        """The kind-specific parameters (every key but `kind` and `review`)."""
        return dict(self.model_extra or {})


class TargetSpec(Strict):
    """A planner's target on one KPI: exactly one of `min` (at least) or `max` (at most).

    `chance` is the share of replications that must meet it for the plan to pass (default 0.9):
    the report gives the probability each target is met and says whether it reaches `chance`.
    """

    min: Annotated[float, Field(allow_inf_nan=False, ge=-MAX_MONEY, le=MAX_MONEY)] | None = None
    max: Annotated[float, Field(allow_inf_nan=False, ge=-MAX_MONEY, le=MAX_MONEY)] | None = None
    chance: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9

    @model_validator(mode="after")
    def _one_bound(self) -> TargetSpec:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of 'min' (at least) or 'max' (at most)")
        return self

    @property
    def bound(self) -> float:
        """The threshold."""
        return float(self.min if self.min is not None else self.max)  # type: ignore[arg-type]

    def met(self, value: float) -> bool:
        """Whether one replication's value meets the target (NaN never does)."""
        if self.min is not None:
            return value >= self.min
        return value <= self.bound

    def describe(self) -> str:
        """`≥ 0.95` or `≤ 3500000`."""
        return f"≥ {self.min:g}" if self.min is not None else f"≤ {self.bound:g}"


class Scenario(Strict):
    """A whole scenario: the network, its demand and the policies that run it."""

    name: Text
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    """At most `MAX_SEED` (seeds are stored as signed 64-bit integers)."""
    horizon: Annotated[Duration, Field(gt=0)]
    skus: Annotated[dict[Id, SkuSpec], Field(min_length=1)]
    sites: Annotated[dict[Id, Site], Field(min_length=1)]
    lanes: list[LaneSpec]
    demand: DemandSpec
    returns: ReturnsSpec = ReturnsSpec()
    costs: CostsSpec = CostsSpec()
    disruptions: DisruptionsSpec = DisruptionsSpec()
    policies: dict[Id, PolicySpec] = {}
    targets: dict[Id, TargetSpec] = {}
    """What the plan must achieve, per KPI (the report's verdict)."""
    currency: Annotated[Text, Field(max_length=8)] = ""
    """Shown before money amounts in reports, e.g. `¥` or `CNY `."""
    start: AwareDatetime | None = None
    """Calendar time of hour 0 with its time zone (e.g. `2026-11-01T00:00:00+08:00`): reports
    label the time axis with dates; without it they count hours and days from the start."""

    @model_validator(mode="after")
    def _start_matches_weekday(self) -> Scenario:
        if self.start is None:
            return self
        if (self.start.hour, self.start.minute, self.start.second) != (0, 0, 0):
            raise ValueError(
                f"start ({self.start.isoformat()}) must be at 00:00 local time: hour 0 of the run "
                "is midnight for the hour-of-day seasonality"
            )
        season = self.demand.seasonality
        if (
            "start_weekday" in season.model_fields_set
            and self.start.weekday() != season.start_weekday
        ):
            raise ValueError(
                f"start ({self.start:%A}) is weekday {self.start.weekday()} but "
                f"demand.seasonality.start_weekday is {season.start_weekday}; make them agree "
                "or drop start_weekday (it follows start)"
            )
        return self

    def clock(self, hours: float) -> datetime | None:
        """The calendar time `hours` after the start, when the scenario has a `start`."""
        if self.start is None:
            return None
        from datetime import timedelta

        return self.start + timedelta(hours=hours)

    def sites_of(self, kind: str, role: str | None = None) -> list[str]:
        """Site ids of one kind (and warehouse role), in file order."""
        return [
            sid
            for sid, site in self.sites.items()
            if site.kind == kind and (role is None or getattr(site, "role", None) == role)
        ]
