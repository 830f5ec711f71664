"""The network as a networkx graph: sites as nodes, lanes as edges.

Checks at load time that the network can work (lanes join known sites of the right kinds, every
region is served, every warehouse is supplied) and answers the static questions the model and
the policies ask: which warehouses serve a region, nearest first; where a warehouse's stock comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from twin.config.schema import LaneSpec, RegionSpec, Scenario
from twin.config.supply import SupplierSpec
from twin.state import CarrierInfo, NetworkInfo

# (origin kind/role, destination kind/role) pairs a lane may join
_ALLOWED = {
    ("factory", "central"),
    ("central", "forward"),
    ("central", "region"),
    ("forward", "region"),
}


def _kind(scenario: Scenario, site_id: str) -> str:
    site = scenario.sites[site_id]
    return getattr(site, "role", site.kind)


@dataclass(frozen=True, slots=True)
class Issue:
    """A cross-field problem: where in the file, the bad value, and what is wrong."""

    path: tuple[str | int, ...]
    message: str
    value: object = ...


def graph(scenario: Scenario) -> nx.DiGraph:
    """Sites as nodes (with their kind), lanes as edges (with their spec and mean transit)."""
    g = nx.DiGraph()
    for sid, site in scenario.sites.items():
        g.add_node(sid, kind=_kind(scenario, sid), location=site.location)
    for lane in scenario.lanes:
        if lane.origin in scenario.sites and lane.destination in scenario.sites:
            hours = mean_transit(scenario, lane)
            if g.has_edge(lane.origin, lane.destination):  # several carriers: keep the fastest
                edge = g.edges[lane.origin, lane.destination]
                edge["lanes"].append(lane)
                edge["hours"] = min(edge["hours"], hours)
            else:
                g.add_edge(lane.origin, lane.destination, lanes=[lane], hours=hours)
    return g


def mean_transit(scenario: Scenario, lane: LaneSpec) -> float:
    """Mean hours in transit: the lane's distribution's mean, or a routed lane's straight drive.

    A routed lane's figure (warehouse to the region's centroid at the fleet's speed) is what the
    planning rules compare carriers and warehouses on; its deliveries follow the routes.
    """
    if lane.transit is not None:
        return lane.transit.build().mean
    assert lane.routing is not None
    (x0, y0) = scenario.sites[lane.origin].location
    (x1, y1) = scenario.sites[lane.destination].location
    return math.hypot(x1 - x0, y1 - y0) / lane.routing.fleet.speed_kmh


def check(scenario: Scenario) -> list[Issue]:
    """Every cross-field problem of the network and of what refers to it."""
    issues: list[Issue] = []
    sites, skus = scenario.sites, scenario.skus
    centrals = scenario.sites_of("warehouse", "central")
    if len(centrals) != 1:
        issues.append(
            Issue(("sites",), f"needs exactly one central warehouse, found {len(centrals)}")
        )
    if not scenario.sites_of("factory"):
        issues.append(Issue(("sites",), "needs at least one factory"))
    if not scenario.sites_of("region"):
        issues.append(Issue(("sites",), "needs at least one region"))
    seen: set[tuple[str, str]] = set()
    for i, lane in enumerate(scenario.lanes):
        ends_known = True
        for key, sid in (("from", lane.origin), ("to", lane.destination)):
            if sid not in sites:
                ends_known = False
                issues.append(Issue(("lanes", i, key), f"is not a site{_suggest(sid, sites)}", sid))
        if not ends_known:
            continue
        pair = (_kind(scenario, lane.origin), _kind(scenario, lane.destination))
        if pair not in _ALLOWED:
            issues.append(
                Issue(
                    ("lanes", i),
                    f"cannot join a {pair[0]} to a {pair[1]} "
                    f"(lanes run factory→central, central→forward, warehouse→region)",
                )
            )
        if (lane.origin, lane.destination, lane.carrier) in seen:
            issues.append(
                Issue(
                    ("lanes", i),
                    f"duplicates lane {lane.origin}→{lane.destination} of carrier {lane.carrier!r}",
                )
            )
        seen.add((lane.origin, lane.destination, lane.carrier))
        if lane.departures is not None and pair[1] == "region":
            issues.append(
                Issue(
                    ("lanes", i, "departures"),
                    "is for line-haul lanes; a lane to a region has `waves`",
                )
            )
        if lane.waves is not None and pair[1] != "region":
            issues.append(
                Issue(
                    ("lanes", i, "waves"),
                    "is for last-mile lanes (to a region); line-haul has `departures`",
                )
            )
    if issues:
        return issues
    g = graph(scenario)
    for sid in sites:
        kind = _kind(scenario, sid)
        feeders = [o for o in g.predecessors(sid)]
        if kind == "region" and not feeders:
            issues.append(Issue(("sites", sid), "is served by no warehouse: add a lane to it"))
        if kind in ("central", "forward") and not feeders:
            upstream = "factory" if kind == "central" else "central warehouse"
            issues.append(Issue(("sites", sid), f"is supplied by no {upstream}: add a lane to it"))
    issues += _check_references(scenario)
    issues += _check_supply(scenario)
    issues += _check_disruptions(scenario)
    issues += _check_routing(scenario)
    for sid, site in sites.items():
        if getattr(site, "kind", "") == "warehouse" and isinstance(site.initial_stock, dict):
            for sku in site.initial_stock:
                if sku not in skus and sku != "default":
                    issues.append(
                        Issue(
                            ("sites", sid, "initial_stock", sku),
                            f"is not a SKU{_suggest(sku, skus)}",
                        )
                    )
        elastic = getattr(site, "elastic", None)
        if (
            elastic is not None
            and elastic.reserved_until is not None
            and (elastic.reserved_until <= elastic.reserved_from)
        ):
            issues.append(
                Issue(
                    ("sites", sid, "elastic", "reserved_until"),
                    "must be after reserved_from",
                    elastic.reserved_until,
                )
            )
    return issues


def _check_references(scenario: Scenario) -> list[Issue]:
    issues: list[Issue] = []
    skus, sites = scenario.skus, scenario.sites
    regions = scenario.sites_of("region")
    for sku in scenario.demand.baseline.sku_mix:
        if sku not in skus:
            issues.append(
                Issue(("demand", "baseline", "sku_mix", sku), f"is not a SKU{_suggest(sku, skus)}")
            )
    for name, event in scenario.demand.livestreams.items():
        base = ("demand", "livestreams", name)
        if event.start >= scenario.horizon:
            issues.append(
                Issue(
                    (*base, "start"),
                    f"is not before the horizon ({scenario.horizon:g}h)",
                    event.start,
                )
            )
        for sku in event.featured:
            if sku not in skus:
                issues.append(Issue((*base, "featured", sku), f"is not a SKU{_suggest(sku, skus)}"))
        for region in event.audience:
            if region not in regions:
                issues.append(
                    Issue((*base, "audience", region), f"is not a region{_suggest(region, sites)}")
                )
    return issues


def _check_supply(scenario: Scenario) -> list[Issue]:
    """Every BOM names SKUs and components someone sells (or the factory holds)."""
    issues: list[Issue] = []
    sold = {
        comp
        for sid in scenario.sites_of("supplier")
        for comp in scenario.sites[sid].components  # type: ignore[union-attr]
    }
    for fid in scenario.sites_of("factory"):
        spec = scenario.sites[fid]
        for sku, needs in spec.bom.items():  # type: ignore[union-attr]
            if sku not in scenario.skus:
                issues.append(
                    Issue(("sites", fid, "bom", sku), f"is not a SKU{_suggest(sku, scenario.skus)}")
                )
            for comp in needs:
                if comp not in sold and comp not in spec.initial_components:  # type: ignore[union-attr]
                    issues.append(
                        Issue(
                            ("sites", fid, "bom", sku, comp),
                            "is sold by no supplier and not in initial_components",
                        )
                    )
    to = scenario.returns.to
    if to is not None and to not in scenario.sites_of("warehouse"):
        issues.append(
            Issue(("returns", "to"), f"is not a warehouse{_suggest(to, scenario.sites)}", to)
        )
    return issues


_TARGET_KIND = {
    "supplier_outage": "supplier",
    "lead_time_spike": "supplier",
    "line_down": "factory",
    "warehouse_closure": "warehouse",
    "carrier_capacity_cut": "lane",
}


def _check_disruptions(scenario: Scenario) -> list[Issue]:
    """Disruptions name targets of the right kind, and severities that make sense."""
    issues: list[Issue] = []
    lanes = {f"{ln.origin}->{ln.destination}" for ln in scenario.lanes}
    entries = [
        ("scheduled", i, d, [d.target]) for i, d in enumerate(scenario.disruptions.scheduled)
    ]
    entries += [("random", i, d, d.targets) for i, d in enumerate(scenario.disruptions.random)]
    for group, i, d, targets in entries:
        base = ("disruptions", group, i)
        want = _TARGET_KIND[d.kind]
        for target in targets:
            key = "target" if group == "scheduled" else "targets"
            if want == "lane":
                if target not in lanes:
                    issues.append(
                        Issue(
                            (*base, key),
                            f"is not a lane 'origin->destination'{_suggest(target, lanes)}",
                            target,
                        )
                    )
            elif target not in scenario.sites_of(want):
                issues.append(
                    Issue(
                        (*base, key), f"is not a {want}{_suggest(target, scenario.sites)}", target
                    )
                )
            elif d.line is not None:
                lines = scenario.sites[target].line_specs()  # type: ignore[union-attr]
                if d.line not in lines:
                    issues.append(Issue((*base, "line"), f"is not a line of {target}", d.line))
        if d.kind == "carrier_capacity_cut" and d.severity > 1:
            issues.append(
                Issue(
                    (*base, "severity"), "is the share of capacity lost: must be <= 1", d.severity
                )
            )
        if d.kind == "lead_time_spike" and d.severity < 1:
            issues.append(
                Issue((*base, "severity"), "is the lead-time factor: must be >= 1", d.severity)
            )
    return issues


def _check_routing(scenario: Scenario) -> list[Issue]:
    """Every station of a routed lane can be served, alone within `max_duration`, by some wave.

    Some wave of the lane's schedule must reach a windowed station inside its window.
    """
    from twin.model.last_mile import next_serving_wave  # the model's own arithmetic

    issues: list[Issue] = []
    for i, lane in enumerate(scenario.lanes):
        region = scenario.sites[lane.destination]
        if lane.routing is None or lane.waves is None or not isinstance(region, RegionSpec):
            continue
        fleet = lane.routing.fleet
        depot = scenario.sites[lane.origin].location
        for j, station in enumerate(region.station_list()):
            drive = math.dist(depot, station.location) / fleet.speed_kmh
            alone = 2 * drive + fleet.service_time
            if fleet.max_duration is not None and alone > fleet.max_duration:
                issues.append(
                    Issue(
                        ("lanes", i, "routing", "fleet", "max_duration"),
                        f"is shorter than a route to station {station.id!r} and back"
                        f" ({alone:.3g} h)",
                        fleet.max_duration,
                    )
                )
                continue
            if station.window is None:
                continue
            wave = next_serving_wave(
                station.window,
                lane.waves.first,
                drive,
                fleet.service_time,
                fleet.max_duration,
                lane.waves.first,
                lane.waves.every,
            )
            if wave is None:
                issues.append(
                    Issue(
                        ("sites", lane.destination, "stations", j, "window"),
                        f"is out of reach of every wave of lane {lane.origin}→{lane.destination}"
                        f" (every {lane.waves.every:g} h, a {drive:.3g} h drive, fleet.max_duration"
                        f" {fleet.max_duration} h): widen it or change the waves",
                        list(station.window),
                    )
                )
    return issues


def _suggest(name: str, known: object) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)  # type: ignore[call-overload]
    return f"; did you mean '{close[0]}'?" if close else ""


def serving_order(scenario: Scenario) -> dict[str, list[str]]:
    """For each region, the warehouses with a lane to it: forward ones nearest first, then central."""
    g = graph(scenario)
    out: dict[str, list[str]] = {}
    for region in scenario.sites_of("region"):
        feeders = list(g.predecessors(region))
        feeders.sort(
            key=lambda w: (_kind(scenario, w) == "central", g.edges[w, region]["hours"], w)
        )
        out[region] = feeders
    return out


def source_of(scenario: Scenario) -> dict[str, str]:
    """Each warehouse's upstream site, the nearest by mean transit where there are several."""
    g = graph(scenario)
    out: dict[str, str] = {}
    for wh in scenario.sites_of("warehouse"):
        feeders = sorted(g.predecessors(wh), key=lambda s: (g.edges[s, wh]["hours"], s))
        out[wh] = feeders[0]
    return out


def lanes(scenario: Scenario, origin: str, destination: str) -> list[LaneSpec]:
    """The lanes (one per carrier) from `origin` to `destination`."""
    return [ln for ln in scenario.lanes if (ln.origin, ln.destination) == (origin, destination)]


def network_info(scenario: Scenario) -> NetworkInfo:
    """The static facts policies see, derived from the scenario."""
    from twin.model.demand import base_rates  # the baseline rates the demand model draws from

    skus = tuple(scenario.skus)
    serving = serving_order(scenario)
    rates = base_rates(scenario)
    sizes = np.array([scenario.skus[k].order_size_mean for k in skus])
    per_wh: dict[str, dict[str, float]] = {
        w: dict.fromkeys(skus, 0.0) for w in scenario.sites_of("warehouse")
    }
    for g, region in enumerate(scenario.sites_of("region")):
        home = serving[region][0]
        for k, sku in enumerate(skus):
            per_wh[home][sku] += float(rates[g, k] * sizes[k])
    sellers: dict[str, list[str]] = {}
    for sid in scenario.sites_of("supplier"):
        spec = scenario.sites[sid]
        assert isinstance(spec, SupplierSpec)
        for comp in spec.components:
            sellers.setdefault(comp, []).append(sid)
    return NetworkInfo(
        skus=skus,
        warehouses=tuple(scenario.sites_of("warehouse")),
        central=tuple(scenario.sites_of("warehouse", "central")),
        forward=tuple(scenario.sites_of("warehouse", "forward")),
        factories=tuple(scenario.sites_of("factory")),
        source_of=source_of(scenario),
        baseline_units_per_hour=per_wh,
        bom={
            fid: {sku: dict(needs) for sku, needs in scenario.sites[fid].bom.items()}  # type: ignore[union-attr]
            for fid in scenario.sites_of("factory")
        },
        sellers={comp: tuple(ids) for comp, ids in sellers.items()},
        regions=tuple(scenario.sites_of("region")),
        serving={r: tuple(ws) for r, ws in serving.items()},
        last_mile=last_mile_info(scenario, serving),
        sla={r: scenario.sites[r].sla for r in scenario.sites_of("region")},  # type: ignore[union-attr]
        pick_time={
            w: 1.0 / scenario.sites[w].pick_pack.rate  # type: ignore[union-attr]
            for w in scenario.sites_of("warehouse")
        },
    )


def last_mile_info(
    scenario: Scenario, serving: dict[str, list[str]]
) -> dict[str, dict[str, tuple[CarrierInfo, ...]]]:
    """Carriers from each warehouse to each region it serves, cheapest first (ties by name)."""
    out: dict[str, dict[str, tuple[CarrierInfo, ...]]] = {}
    for region, warehouses in serving.items():
        for w in warehouses:
            options = [
                CarrierInfo(
                    ln.carrier,
                    mean_transit(scenario, ln),
                    ln.cost_per_shipment,
                    ln.cost_per_unit,
                    None if ln.waves is None else ln.waves.every,
                )
                for ln in lanes(scenario, w, region)
            ]
            options.sort(key=lambda c: (c.cost, c.carrier))
            out.setdefault(w, {})[region] = tuple(options)
    return out
