"""Pydantic models of a supplier site (DESIGN §2 "Supplier tier"): terms, capacity, lead time, outages.

A supplier sells one or more components to factories. Capacity is in component units per day over
all its components together; reserved capacity adds to it and is paid for whether used or not.
Durations are hours once parsed; files may write "90min", "36h", "2d".
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from twin.config.base import (
    Duration,
    Id,
    Location,
    Money,
    PositiveUnits,
    Price,
    Rate,
    Strict,
    TimeDist,
    Units,
)
from twin.config.limits import MAX_MULTIPLIER


class ComponentTerms(Strict):
    """The price of one component: `price` for the first `contracted` units, then a surcharge."""

    price: Price
    """Contract price per unit."""
    contracted: Units | None = None
    """Units at the contract price over the whole run; None means every unit is at contract price."""
    topup_surcharge: Annotated[float, Field(ge=0.0, le=MAX_MULTIPLIER)] = 0.0
    """Fraction added to `price` for units beyond `contracted` (0.25 means 25 % dearer), at most
    `MAX_MULTIPLIER`."""


class ReliabilitySpec(Strict):
    """Random outages: onsets a Poisson process during up time, durations from `outage`."""

    mtbf: Annotated[Duration, Field(gt=0)]
    """Mean up time between the end of one outage and the onset of the next."""
    outage: TimeDist
    """Distribution of an outage's duration (its mean is the MTTR)."""


class ReservedCapacitySpec(Strict):
    """Capacity reserved with the supplier on top of its regular capacity, paid for used or not."""

    units_per_day: Rate
    fee_per_unit_day: Money = 0.0


class SupplierSpec(Strict):
    """A supplier site: what it sells at what terms, how fast it makes it and how reliably."""

    kind: Literal["supplier"]
    tier: Literal["strategic", "agile", "backup"]
    location: Location
    components: Annotated[dict[Id, ComponentTerms], Field(min_length=1)]
    capacity_per_day: Rate
    """Component units per day, all components together (reserved capacity comes on top)."""
    reserved: ReservedCapacitySpec | None = None
    lead_time: TimeDist
    """From dispatch at the supplier to arrival at the factory."""
    moq: PositiveUnits = 1
    """Minimum order quantity: a smaller order is raised to it."""
    reliability: ReliabilitySpec | None = None
