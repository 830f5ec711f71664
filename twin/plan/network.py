"""`twin plan network`: which warehouses to keep open, as a facility-location MIP (DESIGN §6).

Inputs come from the scenario: each region's demand in units over the horizon (the mean of a few
replications of the scenario's own demand model, same seeds), a per-unit cost for every warehouse
that can serve a region (its cheapest last-mile carrier, with the shipment charge spread over a mean
order, plus the cheapest per-unit line-haul into the warehouse), each warehouse's `fixed_cost`, and
its pick/pack capacity over the horizon. Central warehouses stay open. The chosen design is written
as a scenario variant (closed warehouses, their lanes and the disruptions aimed at them removed)
for `twin run` or `twin compare` to test by simulation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.config.schema import Scenario, WarehouseSpec
from twin.model.demand import draw_demand
from twin.network import lanes, serving_order, source_of
from twin.optimize.network_design import NetworkDesign, design_network
from twin.rng import Streams


@dataclass(frozen=True, slots=True)
class DesignInputs:
    """The MIP's data, named."""

    candidates: tuple[str, ...]
    regions: tuple[str, ...]
    demand: np.ndarray
    cost: np.ndarray
    fixed: np.ndarray
    capacity: np.ndarray
    must_open: tuple[str, ...]
    units_per_order: float


def design_inputs(scenario: Scenario, reps: int = 5) -> DesignInputs:
    """Demand, costs, fixed costs and capacities of the scenario's warehouses and regions."""
    regions = tuple(scenario.sites_of("region"))
    warehouses = tuple(scenario.sites_of("warehouse"))
    demand = np.zeros(len(regions))
    orders = units = 0
    for r in range(reps):
        _, book = draw_demand(scenario, Streams.for_replication(scenario.seed, r))
        owner, _, qty, _ = book.lines()
        demand += np.bincount(book.region[owner], weights=qty, minlength=len(regions))
        orders += len(book)
        units += int(qty.sum())
    demand /= reps
    per_order = units / max(orders, 1)
    sources = source_of(scenario)
    cost = np.full((len(regions), len(warehouses)), np.inf)
    serving = serving_order(scenario)
    for g, region in enumerate(regions):
        for w in serving[region]:
            last = min(
                ln.cost_per_shipment / per_order + ln.cost_per_unit
                for ln in lanes(scenario, w, region)
            )
            inbound = min(ln.cost_per_unit for ln in lanes(scenario, sources[w], w))
            cost[g, warehouses.index(w)] = last + inbound
    fixed, capacity = [], []
    for w in warehouses:
        spec = scenario.sites[w]
        assert isinstance(spec, WarehouseSpec)
        fixed.append(spec.fixed_cost)
        capacity.append(spec.pick_pack.workers * spec.pick_pack.rate * scenario.horizon * per_order)
    return DesignInputs(
        warehouses,
        regions,
        demand,
        cost,
        np.array(fixed),
        np.array(capacity),
        tuple(scenario.sites_of("warehouse", "central")),
        per_order,
    )


def plan_network(
    scenario: Scenario, reps: int = 5, max_open: int | None = None
) -> tuple[DesignInputs, NetworkDesign]:
    """The cheapest set of warehouses to keep open, and the data it was chosen on."""
    data = design_inputs(scenario, reps)
    design = design_network(
        data.candidates,
        data.regions,
        data.demand,
        data.cost,
        data.fixed,
        data.capacity,
        must_open=data.must_open,
        max_open=max_open,
    )
    return data, design


def variant(raw: dict[str, Any], closed: set[str]) -> dict[str, Any]:
    """The scenario data with the `closed` warehouses, their lanes and their disruptions removed."""
    out = copy.deepcopy(raw)
    out["name"] = f"{raw.get('name', 'scenario')}_design"
    for site in closed:
        out["sites"].pop(site, None)
    out["lanes"] = [
        ln for ln in out["lanes"] if ln["from"] not in closed and ln["to"] not in closed
    ]
    disruptions = out.get("disruptions") or {}
    disruptions["scheduled"] = [
        d for d in disruptions.get("scheduled", []) if d.get("target") not in closed
    ]
    for d in disruptions.get("random", []):
        d["targets"] = [t for t in d.get("targets", []) if t not in closed]
    disruptions["random"] = [d for d in disruptions.get("random", []) if d["targets"]]
    if "disruptions" in out:
        out["disruptions"] = disruptions
    return out


def format_design(data: DesignInputs, design: NetworkDesign) -> str:
    """The design as plain text: open and closed warehouses, costs, and who serves each region."""
    closed = [w for w in data.candidates if w not in design.opened]
    lines = [
        f"open:   {', '.join(design.opened)}",
        f"closed: {', '.join(closed) or '-'}",
        f"cost:   fixed {design.fixed_cost:,.0f} + variable {design.variable_cost:,.0f}"
        f" = {design.total_cost:,.0f}" + ("" if design.optimal else " (not proven optimal)"),
        f"{'region':<12} {'units':>10}  served from",
    ]
    for g, region in enumerate(data.regions):
        parts = [
            f"{w} {units:,.0f}" for (r, w), units in sorted(design.flows.items()) if r == region
        ]
        lines.append(f"{region:<12} {data.demand[g]:>10,.0f}  {', '.join(parts)}")
    return "\n".join(lines)
