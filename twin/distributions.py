"""Random variables as small objects with `sample`, `mean` and `variance` (as in Ciw).

Knowing the moments lets tests compare simulated behaviour against theory. Every `sample`
takes an explicit `numpy.random.Generator`: there is no global random state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

TINY_CV = 1e-6
"""Coefficients of variation below this are drawn as constants (1/cv² would overflow)."""


class Distribution(Protocol):
    """A non-negative random variable (durations in hours, or dimensionless)."""

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw `size` independent values."""
        ...

    @property
    def mean(self) -> float:
        """The expected value."""
        ...

    @property
    def variance(self) -> float:
        """The variance."""
        ...


@dataclass(frozen=True, slots=True)
class Constant:
    """Always `value`."""

    value: float

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Return `size` copies of the value (no draw, so streams are not consumed)."""
        return np.full(size, self.value)

    @property
    def mean(self) -> float:
        """The value itself."""
        return self.value

    @property
    def variance(self) -> float:
        """Zero."""
        return 0.0


@dataclass(frozen=True, slots=True)
class Exponential:
    """Exponential with the given mean."""

    mean_value: float

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw by inversion-free numpy sampling."""
        return rng.exponential(self.mean_value, size)

    @property
    def mean(self) -> float:
        """The configured mean."""
        return self.mean_value

    @property
    def variance(self) -> float:
        """mean²."""
        return self.mean_value**2


class _MeanCv:
    """Moments of a distribution set by its mean and coefficient of variation."""

    __slots__ = ()
    mean_value: float
    cv: float

    @property
    def mean(self) -> float:
        """The configured mean."""
        return self.mean_value

    @property
    def variance(self) -> float:
        """(cv·mean)²."""
        return (self.cv * self.mean_value) ** 2


@dataclass(frozen=True, slots=True)
class Gamma(_MeanCv):
    """Gamma parametrised by mean and coefficient of variation (cv = 1 is exponential)."""

    mean_value: float
    cv: float

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Shape 1/cv², scale mean·cv²; a cv below `TINY_CV` is the constant mean."""
        if self.cv < TINY_CV:
            return np.full(size, self.mean_value)
        shape = 1.0 / self.cv**2
        return rng.gamma(shape, self.mean_value / shape, size)


@dataclass(frozen=True, slots=True)
class LogNormal(_MeanCv):
    """Log-normal parametrised by mean and coefficient of variation."""

    mean_value: float
    cv: float

    @property
    def sigma(self) -> float:
        """σ of the underlying normal."""
        return math.sqrt(math.log1p(self.cv**2))

    @property
    def mu(self) -> float:
        """μ of the underlying normal."""
        return math.log(self.mean_value) - 0.5 * self.sigma**2

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw exp(N(μ, σ²)); a cv below `TINY_CV` is the constant mean."""
        if self.cv < TINY_CV:
            return np.full(size, self.mean_value)
        return rng.lognormal(self.mu, self.sigma, size)

    @classmethod
    def from_quantiles(cls, p50: float, p90: float) -> LogNormal:
        """Fit to a median and a 90th percentile, as planners state an uplift (DESIGN §4)."""
        sigma = math.log(p90 / p50) / Z90
        mean = p50 * math.exp(0.5 * sigma**2)
        return cls(mean, math.sqrt(math.expm1(sigma**2)))


@dataclass(frozen=True, slots=True)
class Empirical:
    """Uniform resampling of observed values."""

    values: tuple[float, ...]

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Pick observed values with replacement."""
        return rng.choice(np.asarray(self.values, dtype=float), size)

    @property
    def mean(self) -> float:
        """The sample mean."""
        return float(np.mean(self.values))

    @property
    def variance(self) -> float:
        """The population variance of the values."""
        return float(np.var(self.values))


Z90 = 1.2815515655446004
"""The standard normal's 90th percentile."""


class DrawBuffer:
    """Serves one draw at a time from pre-sampled blocks: keeps numpy's per-call cost off the hot path."""

    __slots__ = ("_block", "_buffer", "_dist", "_index", "_rng")

    def __init__(self, dist: Distribution, rng: np.random.Generator, block: int = 1024) -> None:
        self._dist = dist
        self._rng = rng
        self._buffer: list[float] = []
        self._index = 0
        self._block = block

    def next(self) -> float:
        """The next draw."""
        if self._index >= len(self._buffer):
            self._buffer = self._dist.sample(self._rng, self._block).tolist()
            self._index = 0
        value = self._buffer[self._index]
        self._index += 1
        return value
