"""Confidence intervals across replications (Student t, DESIGN §5)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from twin import kpi


def is_rate(name: str) -> bool:
    """Whether a KPI is a share in [0, 1] (from the KPI registry)."""
    return kpi.info(name).is_rate


def kpi_range(name: str) -> tuple[float, float]:
    """The values a KPI can take (from the KPI registry)."""
    entry = kpi.info(name)
    return entry.low, entry.high


def t_half_width(values: np.ndarray, level: float = 0.95) -> float:
    """Half-width of the Student t interval of the mean (NaN with fewer than two values)."""
    from scipy import stats  # imported here: scipy costs a second at CLI start-up

    values = values[np.isfinite(values)]
    n = len(values)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))


def relative_half_width(values: np.ndarray, level: float = 0.95) -> float:
    """The t half-width over |mean| (inf when the mean is 0 and the values vary, 0 if they don't)."""
    hw = t_half_width(values, level)
    finite = values[np.isfinite(values)]
    if not math.isfinite(hw):
        return math.inf
    mean = abs(float(finite.mean()))
    if mean == 0:
        return 0.0 if hw == 0 else math.inf
    return hw / mean


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


def paired_difference(base: np.ndarray, other: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """`other − base` replication by replication: mean, t interval, two-sided p-value.

    Also the Welch (unpaired) half-width of the same difference, so a reader sees what common
    random numbers bought. Pairs where either value is not finite are dropped, and `baseline` and
    `value` are the means over the pairs kept, so `value - baseline == diff`.
    """
    from scipy import stats

    base, other = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    keep = np.isfinite(base) & np.isfinite(other)
    a, b = base[keep], other[keep]
    d = b - a
    n = len(d)
    out = {
        "baseline": float(a.mean()) if n else math.nan,
        "value": float(b.mean()) if n else math.nan,
        "diff": float(d.mean()) if n else math.nan,
        "n_pairs": float(n),
    }
    hw = t_half_width(d, level)
    out.update(half_width=hw, ci_low=out["diff"] - hw, ci_high=out["diff"] + hw)
    if n < 2:
        out.update(p_value=math.nan, unpaired_half_width=math.nan)
        return out
    sd = d.std(ddof=1)
    if sd == 0:
        out["p_value"] = 1.0 if out["diff"] == 0 else 0.0
    else:
        t = out["diff"] / (sd / math.sqrt(n))
        out["p_value"] = float(2 * stats.t.sf(abs(t), n - 1))
    va, vb = a.var(ddof=1) / n, b.var(ddof=1) / n
    se = math.sqrt(va + vb)
    if se == 0:
        out["unpaired_half_width"] = 0.0
    else:
        dof = se**4 / (va**2 / (n - 1) + vb**2 / (n - 1))
        out["unpaired_half_width"] = float(stats.t.ppf(0.5 + level / 2, dof) * se)
    return out
