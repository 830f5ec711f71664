"""`twin plan preposition`: how much to push to each forward warehouse before a livestream.

The two-stage stochastic program of `twin.optimize.preposition`, fed from the scenario itself:
demand scenarios are the units each forward warehouse's regions order in the event's window
(its start to its end plus `window` hours), one scenario per replication of the scenario's own
demand model (same seeds as `twin run`). Per unit: holding at the forward warehouse over the window,
the cheapest line-haul from its source, the recourse of serving from the central warehouse instead
(its last mile plus a `late_penalty`), and a lost sale at the SKU's price when the central has none
left. The central's initial stock is what can be pushed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.config.schema import Scenario, WarehouseSpec
from twin.errors import ConfigError
from twin.model.demand import draw_demand
from twin.network import lanes, serving_order, source_of
from twin.optimize.preposition import PrepositionPlan, PrepositionProblem, solve_preposition
from twin.policies.replenishment import level_for
from twin.rng import Streams

HOURS_PER_YEAR = 24 * 365


@dataclass(frozen=True, slots=True)
class PrepositionInputs:
    """The problem and where its numbers came from."""

    problem: PrepositionProblem
    start: float
    duration: float


def preposition_inputs(
    scenario: Scenario,
    event: str,
    reps: int = 100,
    window: float = 24.0,
    late_penalty: float = 2.0,
    budget: float | None = None,
) -> PrepositionInputs:
    """Demand scenarios and unit costs for pre-positioning before `event`."""
    if event not in scenario.demand.livestreams:
        known = ", ".join(scenario.demand.livestreams) or "none"
        raise ConfigError(f"--event {event!r} is not a livestream of the scenario (known: {known})")
    forward = tuple(scenario.sites_of("warehouse", "forward"))
    central = scenario.sites_of("warehouse", "central")
    if not forward or not central:
        raise ConfigError("pre-positioning needs a central and at least one forward warehouse")
    skus = tuple(scenario.skus)
    regions = scenario.sites_of("region")
    serving = serving_order(scenario)
    home = np.array(
        [forward.index(serving[r][0]) if serving[r][0] in forward else -1 for r in regions]
    )
    demand = np.zeros((reps, len(forward), len(skus)))
    start = duration = 0.0
    for rep in range(reps):
        pulses, book = draw_demand(scenario, Streams.for_replication(scenario.seed, rep))
        pulse = next(p for p in pulses if p.name == event and not p.replay)
        start, duration = pulse.start, pulse.duration
        owner, line_sku, qty, _ = book.lines()
        t = book.created[owner]
        w = home[book.region[owner]]
        mine = (t >= pulse.start) & (t < pulse.end + window) & (w >= 0)
        np.add.at(demand[rep], (w[mine], line_sku[mine]), qty[mine])
    hub = central[0]
    sources = source_of(scenario)
    transfer = [min(ln.cost_per_unit for ln in lanes(scenario, sources[w], w)) for w in forward]
    recourse = []
    for w in forward:
        mine = [r for r in regions if serving[r][0] == w]
        options = [
            min(ln.cost_per_unit for ln in lanes(scenario, hub, r))
            for r in mine
            if lanes(scenario, hub, r)
        ]
        recourse.append((float(np.mean(options)) if options else 0.0) + late_penalty)
    rate = scenario.costs.holding_rate_per_year / HOURS_PER_YEAR * (duration + window)
    holding = [scenario.skus[k].unit_cost * rate for k in skus]
    spec = scenario.sites[hub]
    assert isinstance(spec, WarehouseSpec)
    available = [spec.initial(k) for k in skus]
    problem = PrepositionProblem(
        skus=skus,
        forward=forward,
        scenarios=demand,
        available=np.array(available, float),
        holding=np.array(holding),
        transfer=np.array(transfer),
        recourse=np.array(recourse),
        lost=np.array([scenario.skus[k].price for k in skus], float),
        budget=budget,
    )
    return PrepositionInputs(problem, start, duration)


def plan_preposition(inputs: PrepositionInputs) -> PrepositionPlan:
    """Solve the sample-average LP; the plan rounds it to whole units within every limit."""
    return solve_preposition(inputs.problem, integer=False)


def format_plan(inputs: PrepositionInputs, plan: PrepositionPlan) -> str:
    """Units to push per warehouse and SKU, with the mean demand they face and the expected cost."""
    p = inputs.problem
    mean = p.scenarios.mean(axis=0)
    lines = [f"{'warehouse':<12} {'sku':<16} {'push':>8} {'mean demand':>12}"]
    for i, w in enumerate(p.forward):
        for j, k in enumerate(p.skus):
            q = plan.quantities.get((w, k), 0)
            if q or mean[i, j] >= 1:
                lines.append(f"{w:<12} {k:<16} {q:>8,} {mean[i, j]:>12,.1f}")
    parts = ", ".join(f"{k} {v:,.0f}" for k, v in plan.cost_breakdown.items())
    lines.append(
        f"expected cost {plan.expected_cost:,.0f} ({parts}) over {plan.n_scenarios} scenarios"
    )
    return "\n".join(lines)


def variant(
    raw: dict[str, Any], inputs: PrepositionInputs, plan: PrepositionPlan, lead: float
) -> dict[str, Any]:
    """The scenario with its forward base-stock policy turned into a `preposition_plan`.

    Its base target stays; during [start − lead, end) each forward warehouse holds the planned
    units (the plan's quantity above the base target, never below it).
    """
    out = copy.deepcopy(raw)
    policies = out.get("policies") or {}
    name = next(
        (
            n
            for n, p in policies.items()
            if p.get("kind") == "base_stock" and p.get("sites", "forward") == "forward"
        ),
        None,
    )
    if name is None:
        raise ConfigError(
            "the scenario has no `base_stock` policy on the forward warehouses to extend"
        )
    base = policies[name]
    target = base["target"]
    amounts: dict[str, dict[str, int]] = {}
    for (w, k), q in plan.quantities.items():
        level = level_for(target, k) or 0
        if q > level:
            amounts.setdefault(w, {})[k] = int(q - level)
    policies[name] = {
        **{key: v for key, v in base.items() if key != "kind"},
        "kind": "preposition_plan",
        "lead": lead,
        "events": [{"start": inputs.start, "duration": inputs.duration, "amounts": amounts}],
    }
    out["name"] = f"{raw.get('name', 'scenario')}_preposition"
    return out
