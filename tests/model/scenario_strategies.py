"""Hypothesis strategies for scenario pieces, shared by the conservation property tests.

Importable from the tests of this folder (pytest puts `tests/model` on the path: see pyproject).
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

CVS = st.one_of(st.just(0.0), st.floats(0.0, 2.0))
"""Coefficients of variation, including 0 (deterministic)."""
often = st.integers(0, 3).map(bool)  # True three times in four


@st.composite
def durations(draw: st.DrawFn, low: float = 0.0, high: float = 24.0) -> Any:
    """A duration as a file may write it: a number of hours or a string with a unit.

    Whole hours come often, so that events of different kinds fall on the same instant.
    """
    h = draw(
        st.one_of(
            st.integers(math.ceil(low), math.floor(high)).map(float),
            st.floats(low, high, allow_nan=False, allow_infinity=False),
        )
    )
    form = draw(st.sampled_from(["number", "h", "min", "d"]))
    if form == "number":
        return round(h, 3)
    if form == "h":
        return f"{h:.3f}h"
    if form == "min":
        return f"{h * 60:.1f}min"
    return f"{h / 24:.5f}d"


def positive(high: float = 24.0, low: float = 0.05) -> st.SearchStrategy[Any]:
    """A duration above zero."""
    return durations(low, high)


@st.composite
def distributions(draw: st.DrawFn, high: float = 24.0, cvs: st.SearchStrategy[float] = CVS) -> Any:
    """Any kind of duration distribution, including the bare-duration shorthand."""
    kind = draw(
        st.sampled_from(["shorthand", "constant", "exponential", "gamma", "lognormal", "empirical"])
    )
    if kind == "shorthand":
        return draw(durations(0.0, high))
    if kind == "constant":
        return {"dist": "constant", "value": draw(durations(0.0, high))}
    if kind == "exponential":
        return {"dist": "exponential", "mean": draw(positive(high))}
    if kind in ("gamma", "lognormal"):
        return {"dist": kind, "mean": draw(positive(high)), "cv": draw(cvs)}
    return {
        "dist": "empirical",
        "values": draw(st.lists(durations(0.0, high), min_size=1, max_size=4)),
    }


def stock_levels(keys: list[str], high: int) -> st.SearchStrategy[Any]:
    """One level for all, or a mapping by key (possibly leaving some out, maybe a `default`)."""
    return st.one_of(
        st.integers(0, high),
        st.dictionaries(st.sampled_from([*keys, "default"]), st.integers(0, high)),
    )


@st.composite
def levels_pair(draw: st.DrawFn, keys: list[str], high: int = 150) -> tuple[Any, Any]:
    """(s, S) with s < S for every key they name (and for `default`)."""
    if draw(st.booleans()):
        s = draw(st.integers(0, high))
        return s, s + draw(st.integers(1, 2 * high))
    chosen = draw(st.lists(st.sampled_from([*keys, "default"]), min_size=1, unique=True))
    low_map, high_map = {}, {}
    for name in chosen:
        low_map[name] = draw(st.integers(0, high))
        high_map[name] = low_map[name] + draw(st.integers(1, 2 * high))
    return low_map, high_map


@st.composite
def replenishment(
    draw: st.DrawFn,
    sites: Any,
    skus: list[str],
    high: int = 150,
    review: st.SearchStrategy[Any] | None = None,
) -> dict[str, Any]:
    """A base-stock or (s, S) policy on `sites`."""
    every = draw(review if review is not None else positive(12.0, 0.5))
    if draw(st.booleans()):
        target = draw(stock_levels(skus, high))
        return {"kind": "base_stock", "review": every, "sites": sites, "target": target}
    low, big = draw(levels_pair(skus, high))
    return {"kind": "s_S", "review": every, "sites": sites, "s": low, "S": big}
