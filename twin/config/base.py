"""Base types of scenario models: the strict model base, durations, and duration distributions.

Kept apart from `schema.py` so that every module of specs (sites, supply, transport) can build on
them without importing one another.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from twin import distributions as dist
from twin.config.limits import (
    MAX_COORDINATE,
    MAX_CV,
    MAX_HOURS,
    MAX_ID_CHARS,
    MAX_MONEY,
    MAX_RATE,
    MAX_STRING_CHARS,
    MAX_UNITS,
    MAX_WEIGHT,
)
from twin.config.reader import text_problem
from twin.units import parse_duration

# --- bounded field types: every number finite (see `Strict`) and within a sane ceiling ----------


def hours(value: object) -> float:
    """`parse_duration`, with a whole number too large for a float (10**400) refused plainly."""
    try:
        return parse_duration(value)
    except OverflowError:
        raise ValueError(f"must be at most {MAX_HOURS:g} hours") from None


Duration = Annotated[float, BeforeValidator(hours), Field(le=MAX_HOURS)]
"""Hours (a number, or text such as "90min", "36h", "2d"), at most `MAX_HOURS` (~114 years)."""
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Coordinate = Annotated[float, Field(ge=-MAX_COORDINATE, le=MAX_COORDINATE)]
"""One coordinate of a location (km on the planar map), within ±`MAX_COORDINATE`."""
Location = tuple[Coordinate, Coordinate]
Money = Annotated[float, Field(ge=0.0, le=MAX_MONEY)]
"""A cost, fee or rate of money, 0 to `MAX_MONEY`."""
Price = Annotated[float, Field(gt=0.0, le=MAX_MONEY)]
"""A price or unit cost, above 0 and at most `MAX_MONEY`."""
Weight = Annotated[float, Field(gt=0.0, le=MAX_WEIGHT)]
"""A relative weight, above 0 and at most `MAX_WEIGHT` (weights are summed and divided)."""
Share = Annotated[float, Field(ge=0.0, le=MAX_WEIGHT)]
"""A relative weight that may be 0, at most `MAX_WEIGHT`."""
Rate = Annotated[float, Field(gt=0.0, le=MAX_RATE)]
"""Units or orders per hour (per day for a supplier), above 0 and at most `MAX_RATE`."""
Units = Annotated[int, Field(ge=0, le=MAX_UNITS)]
"""A count of units, 0 to `MAX_UNITS`."""
PositiveUnits = Annotated[int, Field(gt=0, le=MAX_UNITS)]
"""A count of units, 1 to `MAX_UNITS`."""
Cv = Annotated[float, Field(ge=0.0, le=MAX_CV)]
"""A coefficient of variation, 0 to `MAX_CV`."""


def _valid_id(text: str) -> str:
    reason = text_problem(text, MAX_ID_CHARS, key=True)
    if reason:
        raise ValueError(reason)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _valid_text(text: str) -> str:
    reason = text_problem(text, MAX_STRING_CHARS, key=False)
    if reason:
        raise ValueError(reason)
    return text


Id = Annotated[str, AfterValidator(_valid_id)]
"""A name of a SKU, site, policy, line ... : valid Unicode (it is hashed as UTF-8 to seed random
streams), no control characters, at most `MAX_ID_CHARS` characters."""
Text = Annotated[str, AfterValidator(_valid_text)]
"""Free text: valid Unicode, no control characters but tab and newline, at most `MAX_STRING_CHARS`."""


class Strict(BaseModel):
    """Base of every scenario model: unknown keys are errors, values are immutable, numbers finite.

    `allow_inf_nan=False`: `inf` or `nan` (also written as text) is an error on every float field,
    rather than a value the run crashes on.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


# --- distributions of durations -------------------------------------------------------------


class ConstantSpec(Strict):
    """Always the same duration."""

    dist: Literal["constant"]
    value: Duration

    def build(self) -> dist.Distribution:
        """The runtime distribution."""
        return dist.Constant(self.value)


class ExponentialSpec(Strict):
    """Exponential with a mean."""

    dist: Literal["exponential"]
    mean: Annotated[Duration, Field(gt=0)]

    def build(self) -> dist.Distribution:
        """The runtime distribution."""
        return dist.Exponential(self.mean)


class GammaSpec(Strict):
    """Gamma with a mean and a coefficient of variation."""

    dist: Literal["gamma"]
    mean: Annotated[Duration, Field(gt=0)]
    cv: Cv

    def build(self) -> dist.Distribution:
        """The runtime distribution."""
        return dist.Gamma(self.mean, self.cv)


class LogNormalSpec(Strict):
    """Log-normal with a mean and a coefficient of variation."""

    dist: Literal["lognormal"]
    mean: Annotated[Duration, Field(gt=0)]
    cv: Cv

    def build(self) -> dist.Distribution:
        """The runtime distribution."""
        return dist.LogNormal(self.mean, self.cv)


class EmpiricalSpec(Strict):
    """Resampling of observed durations."""

    dist: Literal["empirical"]
    values: Annotated[list[Duration], Field(min_length=1)]

    def build(self) -> dist.Distribution:
        """The runtime distribution."""
        return dist.Empirical(tuple(self.values))


DurationDist = Annotated[
    ConstantSpec | ExponentialSpec | GammaSpec | LogNormalSpec | EmpiricalSpec,
    Field(discriminator="dist"),
]


def _constant_shorthand(value: object) -> object:
    """A bare duration ("6h", 6) means a constant distribution."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return {"dist": "constant", "value": value}
    return value


TimeDist = Annotated[DurationDist, BeforeValidator(_constant_shorthand)]
