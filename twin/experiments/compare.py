"""Paired comparison of designs (DESIGN §8): every design on the same seeds, differences per KPI.

Designs that share a seed draw the same random numbers for every named entity they share
(`twin.rng`), so `design − baseline` replication by replication cancels most of the noise: the
paired interval of a difference is much narrower than the two designs' own intervals suggest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from twin.config.schema import Scenario
from twin.errors import TwinError
from twin.experiments.executors import Executor
from twin.experiments.runner import Precision, Progress, kpi_frame, run_designs
from twin.experiments.stats import paired_difference, summarise


@dataclass(frozen=True)
class CompareResult:
    """Designs compared on common random numbers; the first design is the baseline.

    - `kpis`: one row per (design, replication): `design`, `replication`, `seed`, then the KPIs.
    - `summary`: index (`design`, `kpi`): `mean`, `std`, `n`, `half_width`, `ci_low`, `ci_high`.
    - `differences`: index (`design`, `kpi`) for every design but the baseline: `baseline` and
      `value` (the two means), `diff` (design − baseline), its paired `half_width`, `ci_low`,
      `ci_high`, two-sided `p_value`, and `unpaired_half_width` (what independent runs would give).
    """

    designs: list[str]
    kpis: pd.DataFrame
    summary: pd.DataFrame
    differences: pd.DataFrame
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def baseline(self) -> str:
        """The design the others are compared with."""
        return self.designs[0]


def compare(
    designs: Mapping[str, Scenario],
    reps: int = 10,
    executor: Executor | None = None,
    precision: Precision | None = None,
    progress: Progress | None = None,
    level: float = 0.95,
) -> CompareResult:
    """Run every design on replications 0..n-1 and compare each with the first (the baseline)."""
    if len(designs) < 2:
        raise TwinError(f"compare needs at least two designs (got {len(designs)})")
    by_design, meta = run_designs(designs, reps, executor, precision, progress)
    seeds = {name: s.seed for name, s in designs.items()}
    meta = {**meta, "seeds": seeds, "paired": len(set(seeds.values())) == 1}
    frames = {name: kpi_frame(res) for name, res in by_design.items()}
    kpis = pd.concat(
        [frame.assign(design=name) for name, frame in frames.items()], ignore_index=True
    )
    kpis = kpis[["design", *[c for c in kpis.columns if c != "design"]]]
    summary = pd.concat(
        {name: summarise(frame, level) for name, frame in frames.items()}, names=["design", "kpi"]
    )
    names = list(designs)
    base = frames[names[0]]
    rows = []
    for name in names[1:]:
        other = frames[name]
        for kpi in summary.loc[names[0]].index:
            if kpi not in other.columns:
                continue
            stats = paired_difference(base[kpi].to_numpy(), other[kpi].to_numpy(), level)
            rows.append(
                {
                    "design": name,
                    "kpi": kpi,
                    **stats,
                }
            )
    differences = pd.DataFrame(rows).set_index(["design", "kpi"])
    return CompareResult(
        designs=names,
        kpis=kpis,
        summary=summary,
        differences=differences,
        meta=meta,
    )
