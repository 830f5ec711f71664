"""Base types of scenario models: the strict model base, durations, and duration distributions.

Kept apart from `schema.py` so that every module of specs (sites, supply, transport) can build on
them without importing one another.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, NonNegativeFloat

from twin import distributions as dist
from twin.units import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Location = tuple[float, float]


class Strict(BaseModel):
    """Base of every scenario model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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
    cv: NonNegativeFloat

    def build(self) -> dist.Distribution:
        """The runtime distribution."""
        return dist.Gamma(self.mean, self.cv)


class LogNormalSpec(Strict):
    """Log-normal with a mean and a coefficient of variation."""

    dist: Literal["lognormal"]
    mean: Annotated[Duration, Field(gt=0)]
    cv: NonNegativeFloat

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
