"""Disruptions (DESIGN §2): scheduled ones from the file and random ones drawn per replication.

A random disruption kind strikes each of its targets at Poisson onsets (mean gap `mtbf` between
the end of one and the start of the next) with durations from its distribution, drawn from the
stream `disruption/<kind>/<target>` so that designs compared on one seed share them.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.config.schema import Scenario
from twin.rng import Streams


@dataclass(frozen=True, slots=True)
class Disruption:
    """One disruption window [start, end) on a target."""

    kind: str
    target: str
    start: float
    end: float
    severity: float = 1.0
    line: str | None = None


def draw(scenario: Scenario, streams: Streams) -> list[Disruption]:
    """Every disruption of a replication, scheduled and random, sorted by start."""
    out = [
        Disruption(d.kind, d.target, d.start, d.start + d.duration, d.severity, d.line)
        for d in scenario.disruptions.scheduled
    ]
    for spec in scenario.disruptions.random:
        duration = spec.duration.build()
        for target in spec.targets:
            rng = streams.get(f"disruption/{spec.kind}/{target}")
            t = 0.0
            while True:
                start = t + float(rng.exponential(spec.mtbf))
                if start >= scenario.horizon:
                    break
                length = float(duration.sample(rng, 1)[0])
                out.append(
                    Disruption(spec.kind, target, start, start + length, spec.severity, spec.line)
                )
                t = start + length
    return sorted(out, key=lambda d: (d.start, d.kind, d.target))
