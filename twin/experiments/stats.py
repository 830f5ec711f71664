"""Confidence intervals across replications (Student t, DESIGN §5)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

RATE_KPIS = frozenset({"fill_rate", "immediate_fill_rate", "otd", "return_rate"})
RATE_PREFIXES = ("utilisation", "otd_", "fill_rate_")
"""Every KPI named with one of these prefixes is a rate too (e.g. `otd_disrupted`)."""


def is_rate(name: str) -> bool:
    """Whether a KPI is a share in [0, 1]: the one rule the summary and the report both use."""
    return name in RATE_KPIS or name.startswith(RATE_PREFIXES)


def kpi_range(name: str) -> tuple[float, float]:
    """The values a KPI can take: rates in [0, 1], profit anything, the rest ≥ 0."""
    if is_rate(name):
        return 0.0, 1.0
    if name == "profit" or name == "revenue":
        return -math.inf, math.inf
    return 0.0, math.inf


def t_half_width(values: np.ndarray, level: float = 0.95) -> float:
    """Half-width of the Student t interval of the mean (NaN with fewer than two values)."""
    from scipy import stats  # imported here: scipy costs a second at CLI start-up

    values = values[np.isfinite(values)]
    n = len(values)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))


def summarise(kpis: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per KPI column: mean, std, n, half_width and the interval clipped to the KPI's range.

    `half_width` is the plain t value; `ci_low`/`ci_high` are intersected with the KPI's range so
    that a fill-rate interval never reads above 100 % (the intersection keeps its coverage).
    """
    rows = []
    for name in kpis.columns:
        if name in ("replication", "seed"):
            continue
        values = kpis[name].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        mean = float(finite.mean()) if len(finite) else math.nan
        hw = t_half_width(values, level)
        low, high = kpi_range(name)
        rows.append(
            {
                "kpi": name,
                "mean": mean,
                "std": float(finite.std(ddof=1)) if len(finite) > 1 else math.nan,
                "n": len(finite),
                "half_width": hw,
                "ci_low": max(low, mean - hw) if math.isfinite(hw) else math.nan,
                "ci_high": min(high, mean + hw) if math.isfinite(hw) else math.nan,
            }
        )
    return pd.DataFrame(rows).set_index("kpi")
