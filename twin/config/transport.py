"""Pydantic models of transport schedules: line-haul departures and last-mile delivery waves.

Both are periodic: the k-th departure (or wave) leaves at `first + k * every` hours. A capacity of
None means unlimited.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from twin.config.base import Duration, Money, PositiveUnits, Strict

Period = Annotated[Duration, Field(gt=0)]
Offset = Annotated[Duration, Field(ge=0)]


class DepartureSpec(Strict):
    """A line-haul departure schedule: at `first`, `first + every`, ...; `capacity` units each."""

    every: Period
    first: Offset = 0.0
    capacity: PositiveUnits | None = None


class WaveSpec(Strict):
    """Last-mile delivery waves: at `first`, `first + every`, ...; `capacity` orders each."""

    every: Period
    first: Offset = 0.0
    capacity: PositiveUnits | None = None
    cost_per_wave: Money = 0.0
    """Booked for each wave that leaves with at least one order (a vehicle sent out)."""
