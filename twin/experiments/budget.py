"""A work budget checked before anything runs: what one replication of a scenario will cost.

Every field of a scenario can be sane on its own (the config layer bounds each one) while their
product is not: `orders_per_hour: 1e5` over a one-year horizon is 876 M orders, tens of gigabytes
and hours of one replication; a policy reviewed every nanosecond never finishes; a fleet of a
million vans aborts the routing solver in C++. This module estimates the work of one replication
from a validated `Scenario` (expected orders, policy rounds, schedule ticks, disruption onsets,
sampled state values, routed vehicle-waves and the stops of one wave) and refuses a run over the
budget with a `ConfigError` naming the fields and the estimate, before any replication is
submitted.

Two kinds of limit:
- the budget (`MAX_*`): what a replication, or a run, may cost without asking; an explicit
  `--allow-large` (`allowing_large()`, or `allow_large=True` in the Python API) lifts it;
- hard limits (`HARD_*`): what crashes or hangs whatever the machine (a fleet the solver aborts
  on, a review period that makes no sense, replication counts whose task list alone fills memory);
  no flag lifts those.

The estimates are expectations (a livestream counted at its uplift's P90), cheap to compute
(no random draws) and meant to be within a small factor of the truth: the budget is there to stop
runs that are orders of magnitude too large, not to tune the last 10 %.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from twin.config.limits import MAX_VEHICLES
from twin.config.schema import Scenario
from twin.errors import ConfigError, TwinError
from twin.model.sampler import FINE_AFTER_H, FINE_BEFORE_H, FINE_STEP_H

# --- the budget (lifted by --allow-large) -------------------------------------------------------

MAX_ORDERS = 10_000_000
"""Expected orders of one replication. Measured: ~470 bytes and ~8 µs of model time per order
(tiny.yaml over 60 000 h: 1.2 M orders, 0.78 GB, 11 s), so 10 M orders is ~5 GB and minutes per
replication, per worker; a one-year flagship (440 orders/h: ~4 M orders) still fits."""
MAX_POLICY_ROUNDS = 1_000_000
"""Policy decisions of one replication: horizon ÷ each policy's review period (and ÷ any
`*every` period a policy kind takes, e.g. `live_wave_every`)."""
MAX_TICKS = 1_000_000
"""Line-haul departures and last-mile waves of one replication: horizon ÷ each lane's `every`."""
MAX_DISRUPTIONS = 100_000
"""Random disruption onsets of one replication: horizon ÷ mtbf, for each target."""
MAX_SAMPLES = 20_000_000
"""State values the sampler keeps for one replication (float32: 80 MB), kept for every
replication of a run for its report: sample times × (3 × warehouses × SKUs + resources + ...)."""
MAX_VEHICLE_WAVES = 1_000_000
"""Routed waves × fleet vehicles over one replication: the routing solver's work."""
MAX_WAVE_STOPS = 2_000
"""Stops of one routed wave at most (stations, plus one more per vehicle for split loads): the
solver's problem size, whose distance matrix grows with its square."""
MAX_REPS = 100_000
"""Replications of one design (`--reps`, or `--max-reps` with a precision target)."""
MAX_TASKS = 1_000_000
"""Replications of a whole run: designs × replications."""
WORKERS_PER_CPU = 4
"""Local worker processes per CPU at most (each holds a replication in memory)."""

# --- hard limits (never lifted) -----------------------------------------------------------------

HARD_MAX_VEHICLES = MAX_VEHICLES
"""Vehicles of one routed fleet: OR-Tools aborts the whole process (SIGABRT, no message) on fleets
of around a million, and models any size up to this one."""
HARD_MIN_REVIEW_H = 1.0 / 60.0
"""The shortest policy review period (1 min): a policy is a planner's rule, not a control loop."""
HARD_MAX_REPS = 10_000_000
"""Replications of one design whatever the flag: the task list alone would fill memory."""

_ALLOW_LARGE: ContextVar[bool] = ContextVar("twin_allow_large", default=False)


@contextmanager
def allowing_large(allow: bool = True) -> Iterator[None]:
    """Within the block, the budget is lifted (hard limits stay): what `--allow-large` sets.

    A context rather than a parameter, so the flag reaches `run_designs` through `compare`,
    `sweep` and `gate` without every layer in between passing it on.
    """
    token = _ALLOW_LARGE.set(allow or _ALLOW_LARGE.get())  # an inner False keeps an outer True
    try:
        yield
    finally:
        _ALLOW_LARGE.reset(token)


def large_allowed() -> bool:
    """Whether the budget is lifted here (inside `allowing_large()`)."""
    return _ALLOW_LARGE.get()


@dataclass(frozen=True)
class Estimate:
    """One kind of work of a replication: its size, what it is counted in, and where it comes from.

    `terms` are the contributions as text naming their fields (`demand.baseline.orders_per_hour
    (=1e+05) × horizon (=8760 h)`), each with its size, in the scenario's order; a message
    names those of at least 1 % of the estimate.
    """

    kind: str
    unit: str
    value: float
    budget: float
    terms: tuple[tuple[str, float], ...]

    @property
    def over(self) -> bool:
        """Whether the estimate exceeds the budget (a NaN or infinite one does)."""
        return not self.value <= self.budget

    def describe(self) -> str:
        """`<terms> ≈ 876 M orders per replication, over the budget of 10 M`."""
        shown = [text for text, size in self.terms if size >= 0.01 * self.value] or [
            text for text, _ in self.terms[:1]
        ]
        if len(self.terms) > len(shown):
            shown.append(f"{len(self.terms) - len(shown)} smaller terms")
        return (
            f"{' + '.join(shown)} ≈ {amount(self.value)} {self.unit} per replication, over the "
            f"budget of {amount(self.budget)}"
        )


def amount(x: float) -> str:
    """A count for a message: `876 M`, `1.2 k`, `20`, `3.5e+15`."""
    if not math.isfinite(x):
        return str(x)
    for scale, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= scale:
            if abs(x) >= 1000 * 1e12:
                return f"{x:.2g}"
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def _num(x: float) -> str:
    """A field's value for a message: `20`, `0.25`, `1e+05`."""
    return f"{x:.3g}" if abs(x) >= 1e5 or 0 < abs(x) < 1e-3 else f"{x:.4g}"


def _hours(x: float) -> str:
    return f"{_num(x)} h"


def estimate_orders(scenario: Scenario) -> Estimate:
    """Expected orders: baseline rate × horizon, plus each livestream's (and replay's) pulse.

    A pulse multiplies demand by up to M (its uplift, counted at P90) and decays over `decay`
    while it lasts `duration`: at most M × rate × (duration + decay) orders, clipped to the part
    of the pulse inside the horizon. Seasonality has mean 1, pre-sales move orders in time, and
    both leave the count as it is.
    """
    demand = scenario.demand
    rate, horizon = demand.baseline.orders_per_hour, scenario.horizon
    terms = [
        (
            f"demand.baseline.orders_per_hour (={_num(rate)}) × horizon (={_hours(horizon)})",
            rate * horizon,
        )
    ]
    for name, live in demand.livestreams.items():
        pulses = [(live.start, live.duration, live.decay, live.uplift.p90, "")]
        if live.replay is not None:
            r = live.replay
            uplift = 1.0 + r.uplift_fraction * (live.uplift.p90 - 1.0)
            pulses.append((live.start + r.after, r.duration, r.decay, uplift, " replay"))
        for start, duration, decay, uplift, label in pulses:
            inside = max(0.0, min(duration + decay, horizon - start))
            if inside > 0.0:
                terms.append(
                    (
                        f"demand.livestreams.{name}{label}: uplift.p90 (={_num(live.uplift.p90)}) × "
                        f"orders_per_hour × (duration + decay) (={_hours(inside)})",
                        uplift * rate * inside,
                    )
                )
    return _estimate("orders", "orders", MAX_ORDERS, terms)


def estimate_policy_rounds(scenario: Scenario) -> Estimate:
    """Policy decisions: horizon ÷ each policy's review period and ÷ any `*every` it takes."""
    horizon = scenario.horizon
    terms = []
    for name, policy in scenario.policies.items():
        terms.append(
            (
                f"horizon (={_hours(horizon)}) ÷ policies.{name}.review (={_hours(policy.review)})",
                horizon / policy.review,
            )
        )
        for key, period in _policy_periods(policy.params).items():
            terms.append(
                (
                    f"horizon (={_hours(horizon)}) ÷ policies.{name}.{key} (={_hours(period)})",
                    horizon / period,
                )
            )
    return _estimate("policy_rounds", "policy rounds", MAX_POLICY_ROUNDS, terms)


def estimate_ticks(scenario: Scenario) -> Estimate:
    """Line-haul departures and last-mile waves: horizon ÷ `every`, for each lane that has them."""
    horizon = scenario.horizon
    terms = []
    for i, lane in enumerate(scenario.lanes):
        for label, schedule in (("departures", lane.departures), ("waves", lane.waves)):
            if schedule is not None:
                terms.append(
                    (
                        f"horizon (={_hours(horizon)}) ÷ lanes[{i}].{label}.every "
                        f"(={_hours(schedule.every)})",
                        max(0.0, horizon - schedule.first) / schedule.every,
                    )
                )
    return _estimate("ticks", "departures and waves", MAX_TICKS, terms)


def estimate_disruptions(scenario: Scenario) -> Estimate:
    """Random disruption onsets: horizon ÷ mtbf for each of a random disruption's targets."""
    horizon = scenario.horizon
    terms = [
        (
            f"horizon (={_hours(horizon)}) ÷ disruptions.random[{i}].mtbf (={_hours(d.mtbf)}) "
            f"× {len(d.targets)} targets",
            horizon / d.mtbf * len(d.targets),
        )
        for i, d in enumerate(scenario.disruptions.random)
    ]
    return _estimate("disruptions", "disruption onsets", MAX_DISRUPTIONS, terms)


def estimate_samples(scenario: Scenario) -> Estimate:
    """Values the sampler keeps (`twin.model.sampler`): its grid times × values per time.

    The grid is hourly, and every 15 minutes from 1 h before each pulse to 6 h after it; each
    time holds stock, backlog and inbound per (warehouse, SKU), plus a few per warehouse, factory
    and SKU.
    """
    horizon = scenario.horizon
    times = math.ceil(horizon)
    for live in scenario.demand.livestreams.values():
        spans = [(live.start, live.duration)]
        if live.replay is not None:
            spans.append((live.start + live.replay.after, live.replay.duration))
        for start, duration in spans:
            lo = max(0.0, start - FINE_BEFORE_H)
            hi = min(horizon, start + duration + FINE_AFTER_H)
            times += max(0.0, hi - lo) / FINE_STEP_H
    w = len(scenario.sites_of("warehouse"))
    f = len(scenario.sites_of("factory"))
    k = len(scenario.skus)
    per_time = 3 * w * k + 3 * w + 2 * f + 2 * k
    text = (
        f"horizon (={_hours(horizon)}) → {amount(times)} sample times × {per_time} values "
        f"({w} warehouses × {k} SKUs)"
    )
    return _estimate("samples", "sampled values", MAX_SAMPLES, [(text, times * per_time)])


def estimate_routing(scenario: Scenario) -> tuple[Estimate, Estimate]:
    """Routed vehicle-waves over the horizon, and the stops of the largest routed wave.

    A wave's loads are cut per station into pieces no larger than a van, and what the fleet
    cannot carry waits: a wave routes at most stations + vehicles stops.
    """
    horizon = scenario.horizon
    waves_terms, stop_terms = [], []
    for i, lane in enumerate(scenario.lanes):
        if lane.routing is None or lane.waves is None:
            continue
        vehicles = lane.routing.fleet.vehicles
        waves = max(0.0, horizon - lane.waves.first) / lane.waves.every
        waves_terms.append(
            (
                f"horizon (={_hours(horizon)}) ÷ lanes[{i}].waves.every "
                f"(={_hours(lane.waves.every)}) × lanes[{i}].routing.fleet.vehicles (={vehicles})",
                waves * vehicles,
            )
        )
        region = scenario.sites.get(lane.destination)
        stations = len(region.station_list()) if hasattr(region, "station_list") else 1
        stop_terms.append(
            (
                f"lanes[{i}]: {stations} stations of {lane.destination} + "
                f"routing.fleet.vehicles (={vehicles})",
                float(stations + vehicles),
            )
        )
    stop_terms.sort(key=lambda t: -t[1])
    most = stop_terms[:1]
    return (
        _estimate("vehicle_waves", "routed vehicle-waves", MAX_VEHICLE_WAVES, waves_terms),
        Estimate(
            "wave_stops",
            "stops in one wave",
            most[0][1] if most else 0.0,
            MAX_WAVE_STOPS,
            tuple(most),
        ),
    )


def estimates(scenario: Scenario) -> list[Estimate]:
    """Every estimate of one replication's work, in the order problems are reported."""
    vehicle_waves, wave_stops = estimate_routing(scenario)
    return [
        estimate_orders(scenario),
        estimate_policy_rounds(scenario),
        estimate_ticks(scenario),
        estimate_disruptions(scenario),
        estimate_samples(scenario),
        vehicle_waves,
        wave_stops,
    ]


def hard_problems(scenario: Scenario) -> list[str]:
    """What no flag lets through: fleets the solver aborts on, sub-minute policy reviews."""
    problems = []
    for i, lane in enumerate(scenario.lanes):
        if lane.routing is not None and lane.routing.fleet.vehicles > HARD_MAX_VEHICLES:
            problems.append(
                f"lanes[{i}].routing.fleet.vehicles (={lane.routing.fleet.vehicles}) is over the "
                f"limit of {HARD_MAX_VEHICLES} vehicles the routing solver takes "
                "(--allow-large does not lift it)"
            )
    for sid, site in scenario.sites.items():
        milk = getattr(site, "milk_runs", None)
        if milk is not None and milk.fleet.vehicles > HARD_MAX_VEHICLES:
            problems.append(
                f"sites.{sid}.milk_runs.fleet.vehicles (={milk.fleet.vehicles}) is over the "
                f"limit of {HARD_MAX_VEHICLES} vehicles the routing solver takes "
                "(--allow-large does not lift it)"
            )
    for name, policy in scenario.policies.items():
        periods = {"review": policy.review, **_policy_periods(policy.params)}
        for key, period in periods.items():
            if period < HARD_MIN_REVIEW_H:
                problems.append(
                    f"policies.{name}.{key} (={_hours(period)}) is shorter than the shortest "
                    "period of 1 min a policy may take (--allow-large does not lift it)"
                )
    return problems


def scenario_problems(scenario: Scenario, allow_large: bool = False) -> list[str]:
    """What is wrong with one replication's work: hard limits always, the budget unless lifted."""
    problems = hard_problems(scenario)
    if not allow_large and not problems:  # a hard problem's field is over the budget too: once
        problems += [
            f"{e.describe()}; lower them or pass --allow-large"
            for e in estimates(scenario)
            if e.over
        ]
    return problems


def check_designs(
    designs: Mapping[str, Scenario],
    reps: int,
    max_reps: int | None = None,
    sources: Mapping[str, str] | None = None,
    allow_large: bool | None = None,
) -> None:
    """Refuse a run whose replications, or whose designs' work, exceed the limits.

    `reps` is the first round, `max_reps` the cap of a precision target (either may be the
    larger). A problem names the design's file (`sources`, by design name; the design name when
    unknown) and, for a file with several designs, the design. `allow_large` None: as the
    enclosing `allowing_large()` says.
    """
    allow = large_allowed() if allow_large is None else allow_large
    check_reps(reps, "--reps", allow)
    if max_reps is not None:
        check_reps(max_reps, "--max-reps", allow)
    most = max(reps, max_reps or 0)
    if not allow and len(designs) * most > MAX_TASKS:
        raise TwinError(
            f"{len(designs)} designs × {most} replications ≈ {amount(len(designs) * most)} "
            f"replications, over the budget of {amount(MAX_TASKS)}; lower --reps or the number of "
            "designs, or pass --allow-large"
        )
    sources = sources or {}
    per_file: dict[str, int] = {}
    for name in designs:
        per_file[sources.get(name, "")] = per_file.get(sources.get(name, ""), 0) + 1
    problems: list[str] = []
    for name, scenario in designs.items():
        source = sources.get(name)
        where = (
            f"design {name!r}"
            if source is None
            else source
            if per_file[source] == 1
            else f"{source} (design {name!r})"
        )
        found = scenario_problems(scenario, allow)
        problems += [f"{where}: {p}" for p in found]
    if problems:
        shown = list(dict.fromkeys(problems))
        if len(shown) > 12:  # a sweep's points often share one problem: name a few
            shown = [*shown[:12], f"… and {len(shown) - 12} more"]
        raise ConfigError(shown)


def check_reps(reps: int, option: str = "--reps", allow_large: bool | None = None) -> None:
    """Refuse a replication count below 1, over the budget (unless lifted) or the hard limit."""
    allow = large_allowed() if allow_large is None else allow_large
    if reps < 1:
        raise TwinError(f"{option} (={reps}) must be >= 1")
    if reps > HARD_MAX_REPS:
        raise TwinError(
            f"{option} (={reps}) is over the limit of {amount(HARD_MAX_REPS)} replications "
            "(--allow-large does not lift it)"
        )
    if reps > MAX_REPS and not allow:
        raise TwinError(
            f"{option} (={reps}) is over the budget of {amount(MAX_REPS)} replications; "
            "lower it or pass --allow-large"
        )


def cpu_count() -> int:
    """CPUs this process may run on (its affinity, where the system says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def check_workers(workers: int, allow_large: bool | None = None) -> None:
    """Refuse local worker processes below 1, or above `WORKERS_PER_CPU` × CPUs unless lifted."""
    allow = large_allowed() if allow_large is None else allow_large
    if workers < 1:
        raise TwinError(f"--workers (={workers}) must be >= 1")
    most = WORKERS_PER_CPU * cpu_count()
    if workers > most and not allow:
        raise TwinError(
            f"--workers (={workers}) is over {WORKERS_PER_CPU} × the {cpu_count()} CPUs of this "
            f"machine (={most}): each worker holds a replication in memory and more only wait; "
            "lower it or pass --allow-large"
        )


def _policy_periods(params: Mapping[str, object]) -> dict[str, float]:
    """A policy kind's own periods (`every`, `live_wave_every`, ...) in hours, where readable."""
    from twin.units import parse_duration

    out = {}
    for key, value in params.items():
        if key == "every" or key.endswith("_every"):
            try:
                hours = parse_duration(value)
            except (TypeError, ValueError):
                continue  # the policy kind's own model reports it
            if hours > 0:
                out[key] = hours
    return out


def _estimate(kind: str, unit: str, budget: float, terms: list[tuple[str, float]]) -> Estimate:
    return Estimate(kind, unit, float(sum(size for _, size in terms)), budget, tuple(terms))
