"""Confidence intervals across replications (Student t, DESIGN §5)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from twin import kpi


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


SIGNIFICANCE = 0.05
"""The two-sided level at which a paired difference counts as significant (compare's judgements,
the sweep's dominance test)."""

BOOTSTRAP_RESAMPLES = 4999
BOOTSTRAP_SEED = 20261111
"""Bootstrap resampling uses its own fixed seed, so a summary is the same bits every time."""


def bootstrap_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Bootstrap percentile interval of the mean (NaN, NaN with fewer than two values).

    For lopsided or bounded KPIs (many runs lose nothing, a few lose a lot) the t interval is
    symmetric around the mean and can leave the possible range; the percentile interval follows
    the skew and stays inside the values seen.
    """
    from scipy import stats

    finite = values[np.isfinite(values)]
    if len(finite) < 2:
        return math.nan, math.nan
    if np.all(finite == finite[0]):
        return float(finite[0]), float(finite[0])
    res = stats.bootstrap(
        (finite,),
        np.mean,
        confidence_level=level,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def share_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a share k/n (e.g. the probability a target is met)."""
    from scipy import stats

    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def summarise(
    kpis: pd.DataFrame, level: float = 0.95, targets: dict[str, object] | None = None
) -> pd.DataFrame:
    """One row per KPI column: mean, std, n, t interval, quantiles, bootstrap interval, targets.

    `half_width` is the plain t value; `ci_low`/`ci_high` are intersected with the KPI's range so
    that a fill-rate interval never reads above 100 % (the intersection keeps its coverage).
    `p10`/`p50`/`p90` are quantiles across replications; `boot_low`/`boot_high` the bootstrap
    percentile interval of the mean; `ci_method` names the interval the report leads with
    (`bootstrap` for KPIs the registry marks skewed or bounded, else `t`). With `targets`
    (KPI → an object with `met(value)`), `p_target` is the share of replications meeting the
    KPI's target and `p_target_low`/`p_target_high` its Wilson interval.
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
                **_spread(name, finite, level),
                **_target(finite, (targets or {}).get(name), level),
            }
        )
    return pd.DataFrame(rows).set_index("kpi")


def _spread(name: str, finite: np.ndarray, level: float) -> dict[str, object]:
    """Quantiles across replications and the bootstrap interval of the mean."""
    if len(finite):
        p10, p50, p90 = (float(q) for q in np.percentile(finite, [10, 50, 90]))
    else:
        p10 = p50 = p90 = math.nan
    boot_low, boot_high = bootstrap_interval(finite, level)
    return {
        "p10": p10,
        "p50": p50,
        "p90": p90,
        "boot_low": boot_low,
        "boot_high": boot_high,
        "ci_method": "bootstrap" if kpi.info(name).skewed else "t",
    }


def _target(finite: np.ndarray, target: object, level: float) -> dict[str, float]:
    """Share of replications meeting `target` with its Wilson interval (NaN without a target)."""
    if target is None:
        return {"p_target": math.nan, "p_target_low": math.nan, "p_target_high": math.nan}
    met = int(sum(bool(target.met(float(v))) for v in finite))  # type: ignore[attr-defined]
    low, high = share_interval(met, len(finite), level)
    share = met / len(finite) if len(finite) else math.nan
    return {"p_target": share, "p_target_low": low, "p_target_high": high}


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
