"""Pydantic models of a supplier site (DESIGN §2 "Supplier tier"): terms, capacity, lead time, outages.

A supplier sells one or more components to factories. Capacity is in component units per day over
all its components together; reserved capacity adds to it and is paid for whether used or not.
Durations are hours once parsed; files may write "90min", "36h", "2d".
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from twin.config.base import Duration, Location, Strict, TimeDist


class ComponentTerms(Strict):
    """The price of one component: `price` for the first `contracted` units, then a surcharge."""

    price: PositiveFloat
    """Contract price per unit."""
    contracted: NonNegativeInt | None = None
    """Units at the contract price over the whole run; None means every unit is at contract price."""
    topup_surcharge: NonNegativeFloat = 0.0
    """Fraction added to `price` for units beyond `contracted` (0.25 means 25 % dearer)."""


class ReliabilitySpec(Strict):
    """Random outages: onsets a Poisson process during up time, durations from `outage`."""

    mtbf: Annotated[Duration, Field(gt=0)]
    """Mean up time between the end of one outage and the onset of the next."""
    outage: TimeDist
    """Distribution of an outage's duration (its mean is the MTTR)."""


class ReservedCapacitySpec(Strict):
    """Capacity reserved with the supplier on top of its regular capacity, paid for used or not."""

    units_per_day: PositiveFloat
    fee_per_unit_day: NonNegativeFloat = 0.0


class SupplierSpec(Strict):
    """A supplier site: what it sells at what terms, how fast it makes it and how reliably."""

    kind: Literal["supplier"]
    tier: Literal["strategic", "agile", "backup"]
    location: Location
    components: Annotated[dict[str, ComponentTerms], Field(min_length=1)]
    capacity_per_day: PositiveFloat
    """Component units per day, all components together (reserved capacity comes on top)."""
    reserved: ReservedCapacitySpec | None = None
    lead_time: TimeDist
    """From dispatch at the supplier to arrival at the factory."""
    moq: PositiveInt = 1
    """Minimum order quantity: a smaller order is raised to it."""
    reliability: ReliabilitySpec | None = None
