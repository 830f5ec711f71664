"""Grid sweeps (DESIGN §8): one scenario, a cartesian grid of field values, common random numbers.

A grid maps scenario field paths (as `twin.experiments.overrides` reads them:
`policies.forward_replenishment.target`, `lanes[3].capacity`, ...) to the values to try. Its
points are the cartesian product **in the order the paths are given, the first path varying
slowest, each path's values in the order given**; point `i` is named `p000`, `p001`, ... (zero
padded to at least three digits). Every point is the base scenario (after `overrides`, i.e.
`--set`) with the point's values set by `override_scenario`, and every point is validated before
anything runs. All points run on the same replication indices and the same seed, so their
differences are paired (common random numbers): e.g. every point sees the same demand.

`SweepResult` holds tidy DataFrames (`points`, `kpis`, `summary`) and the `pareto` table of cost
against service; `write_sweep` writes them as CSV and Parquet next to a single-file HTML report.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from twin.config.errors import format_path
from twin.config.loader import scenario_from_data
from twin.config.schema import Scenario
from twin.errors import ConfigError, TwinError
from twin.experiments.executors import Executor
from twin.experiments.overrides import (
    apply_overrides,
    override_scenario,
    parse_path,
    parse_value,
    split_variants,
)
from twin.experiments.runner import Progress, kpi_frame, run_designs
from twin.experiments.stats import SIGNIFICANCE, paired_difference, summarise

DEFAULT_COST = "cost_total"
"""The Pareto front's cost KPI unless the caller chooses another (lower is better)."""

DEFAULT_SERVICE = "fill_rate"
"""The Pareto front's service KPI unless the caller chooses another (higher is better)."""

MAIN_KPIS = ("fill_rate", "otd", "cost_total")
"""The KPIs the command line prints per point and the report plots by default."""

SUMMARY_COLUMNS = ("mean", "std", "n", "half_width", "ci_low", "ci_high")

RESERVED_COLUMNS = frozenset(
    {
        "point", "replication", "seed", "kpi", "pareto", "paired_front", "dominated_by",
        *SUMMARY_COLUMNS,
    }
)  # fmt: skip
"""Column names of the result tables, which a grid path may not take."""

Grid = Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class SweepResult:
    """A grid of designs run on common random numbers.

    - `grid`: each path with its values, in the order given (the order of the points).
    - `points`: one row per point, in point order: `point` (`p000`, ...), then one column per grid
      path (named by the path as given) holding the point's value.
    - `kpis`: one row per (point, replication): `point`, the grid columns, `replication`, `seed`,
      then one column per KPI.
    - `summary`: one row per (point, KPI): `point`, the grid columns, `kpi`, `mean`, `std`, `n`,
      `half_width` (95 % Student t), `ci_low`, `ci_high`.
    - `pareto`: one row per point with its KPI means: `point`, the grid columns, the `cost` and
      `service` means, `pareto` (True on the front of the *means* of cost, lower better, against
      service, higher better), `paired_front` (True when no point significantly dominates it by
      paired t-tests over the replications, see `significant_dominance`), `dominated_by` (the
      points that do, comma separated), then the other KPI means; sorted by cost, then service.
    - `designs`: the validated scenario of each point (`designs["p003"]` is that point).
    """

    scenario: str
    grid: dict[str, list[Any]]
    points: pd.DataFrame
    kpis: pd.DataFrame
    summary: pd.DataFrame
    pareto: pd.DataFrame
    cost: str = DEFAULT_COST
    service: str = DEFAULT_SERVICE
    designs: dict[str, Scenario] = field(default_factory=dict, repr=False)
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def paths(self) -> list[str]:
        """The grid paths, in the order given."""
        return list(self.grid)

    def means(self) -> pd.DataFrame:
        """One row per point (point order): `point`, the grid columns, then each KPI's mean."""
        return mean_table(self.points, self.summary)

    def pareto_for(self, cost: str, service: str) -> pd.DataFrame:
        """The `pareto` table for another pair of KPIs (cost: lower better; service: higher)."""
        table = pareto_table(self.means(), self.paths, cost, service)
        return with_paired_front(table, self.kpis, cost, service)

    @property
    def front(self) -> list[str]:
        """The points on the Pareto front of the means, cheapest first."""
        return self.pareto.loc[self.pareto["pareto"], "point"].tolist()

    @property
    def paired_front(self) -> list[str]:
        """The points no other point significantly dominates (paired t-tests), cheapest first."""
        if "paired_front" not in self.pareto.columns:
            return self.front
        return self.pareto.loc[self.pareto["paired_front"], "point"].tolist()

    @property
    def reference(self) -> str:
        """The point others are compared with: the base scenario's own point, else the first.

        The base point is the one whose scenario equals the swept scenario (after `--set`); when
        the grid does not contain the scenario's own values, the first point stands in.
        """
        base = self.meta.get("base_point")
        return str(base) if base else str(self.points["point"].iloc[0])

    def differences(
        self, kpis: Sequence[str], reference: str | None = None, level: float = 0.95
    ) -> pd.DataFrame:
        """Paired differences `point − reference` per KPI, replication by replication.

        Index (`point`, `kpi`) for every point but the reference; columns as
        `twin.experiments.stats.paired_difference` (`baseline`, `value`, `diff`, `half_width`,
        `ci_low`, `ci_high`, `p_value`, `unpaired_half_width`, `n_pairs`). Pairing holds because
        every point runs the same replications on the same seed.
        """
        return point_differences(self.kpis, kpis, reference or self.reference, level)


@dataclass(frozen=True)
class SweepPlan:
    """A validated grid, ready to run: scenario name, source, grid and each point's scenario."""

    scenario: str
    source: str
    grid: dict[str, list[Any]]
    designs: dict[str, Scenario]
    base_point: str | None = None

    @property
    def points(self) -> pd.DataFrame:
        """One row per point: `point`, then each path's value (the `points` of the result)."""
        return points_frame(self.grid)


def plan_sweep(
    data_or_path: str | Path | Mapping[str, Any] | Scenario,
    grid: Grid,
    overrides: Mapping[str, Any] | None = None,
) -> SweepPlan:
    """Build and validate every point of `grid` without running anything.

    `data_or_path` is a scenario file, scenario data as read from YAML, or a `Scenario` (dumped
    and validated again); a `variants:` map is set aside. `overrides` (`--set`) apply to the base
    first. A path that names no field, or a value its field does not take, is a `ConfigError`
    naming `--grid`, the path and the value; all problems of all points are reported together.
    """
    base, source, base_scenario = _base_data(data_or_path, overrides)
    checked = check_grid(grid, overrides)
    designs = build_designs(base, checked, source)
    name = str(base.get("name", next(iter(designs.values())).name))
    return SweepPlan(
        scenario=name,
        source=source,
        grid=checked,
        designs=designs,
        base_point=base_point(base_scenario, designs),
    )


def base_point(base: Scenario, designs: Mapping[str, Scenario]) -> str | None:
    """The first point whose scenario is the base scenario itself, or None when none is.

    Compared as validated data, so `12h` and `720min` or `250` and `250.0` are the same value:
    the point where the grid leaves the scenario as it is, i.e. what a planner does today.
    """
    want = base.model_dump(mode="json")
    for name, design in designs.items():
        if design.model_dump(mode="json") == want:
            return name
    return None


def run_sweep(
    plan: SweepPlan,
    reps: int = 10,
    executor: Executor | None = None,
    *,
    progress: Progress | None = None,
    cost: str = DEFAULT_COST,
    service: str = DEFAULT_SERVICE,
) -> SweepResult:
    """Run a planned sweep: every point on replications 0..reps-1 of the same seed."""
    check_kpi_names([cost], "cost KPI")
    check_kpi_names([service], "service KPI")
    if cost == service:
        raise TwinError(f"the Pareto front needs two different KPIs (got {cost!r} twice)")
    by_point, meta = run_designs(plan.designs, reps, executor, None, progress)
    return _assemble(plan, by_point, meta, cost, service)


def sweep(
    data_or_path: str | Path | Mapping[str, Any] | Scenario,
    grid: Grid,
    reps: int = 10,
    executor: Executor | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    progress: Progress | None = None,
    cost: str = DEFAULT_COST,
    service: str = DEFAULT_SERVICE,
) -> SweepResult:
    """Run every point of `grid` on replications 0..reps-1 of the same seed (DESIGN §8).

    `data_or_path` is a scenario file, scenario data as read from YAML, or a `Scenario`; `grid`
    maps field paths to the values to try (Python values: `250`, `"12h"`; the command line reads
    its text with `parse_value`); `overrides` (`--set`) apply to the base before the grid. Every
    point is built and validated before anything runs (`plan_sweep`). `cost` (lower better) and
    `service` (higher better) are the two KPIs of the Pareto front. Without an executor the
    replications run in this process.
    """
    plan = plan_sweep(data_or_path, grid, overrides)
    return run_sweep(plan, reps, executor, progress=progress, cost=cost, service=service)


def grid_points(grid: Grid) -> list[dict[str, Any]]:
    """The points of a grid in the documented order: the product, the first path slowest."""
    paths = list(grid)
    return [dict(zip(paths, values, strict=True)) for values in itertools.product(*grid.values())]


def point_names(count: int) -> list[str]:
    """`p000`, `p001`, ...: zero padded to at least three digits, so names sort as points do."""
    width = max(3, len(str(max(count - 1, 0))))
    return [f"p{i:0{width}d}" for i in range(count)]


def parse_grid_option(text: str) -> tuple[str, list[Any]]:
    """`path=v1,v2,...` → (path, parsed values); commas inside `[...]`, `{...}` or quotes stay.

    Each value is read by `parse_value` (YAML scalars: `250`, `0.5`, `12h`, `true`, `[9h, 21h]`).
    """
    path, sep, rest = text.partition("=")
    if not sep or not path.strip():
        raise ConfigError(f"--grid {text!r}: expected PATH=V1,V2,..., e.g. seed=1,2,3")
    path = path.strip()
    _grid_path(path)  # a malformed path is reported here, before any scenario is read
    items = _split_values(rest)
    if not rest.strip():
        raise ConfigError(f"--grid {path}: no values (expected {path}=V1,V2,...)")
    if any(not item.strip() for item in items):
        raise ConfigError(f"--grid {path}={rest}: an empty value between commas")
    return path, [parse_value(item.strip()) for item in items]


def parse_grid_options(texts: Sequence[str]) -> dict[str, list[Any]]:
    """Several `--grid` options as one grid, in the order given (a repeated path is an error)."""
    grid: dict[str, list[Any]] = {}
    for text in texts:
        path, values = parse_grid_option(text)
        if path in grid:
            raise ConfigError(f"--grid {path}: given twice; list all its values in one --grid")
        grid[path] = values
    return grid


def check_grid(grid: Grid, overrides: Mapping[str, Any] | None = None) -> dict[str, list[Any]]:
    """The grid as a dict of lists, or a `ConfigError` on anything that cannot make a grid.

    At least one path; every path well formed, none repeated (`lanes[3].x` is `lanes.3.x`), none
    inside another, none also in `overrides`; every path with at least one value, none repeated.
    """
    if not grid:
        raise ConfigError("--grid: no grid given (e.g. --grid policies.p.target=100,200)")
    out: dict[str, list[Any]] = {}
    seen: dict[tuple[Any, ...], str] = {}
    fixed = {parse_path(p): p for p in overrides or {}}
    for text, raw in grid.items():
        path = _grid_path(text)
        if format_path(path) in RESERVED_COLUMNS or path == ("seed",):
            raise ConfigError(
                f"--grid {text}: cannot be swept (every point runs on the same seed and "
                "replications; use --reps for more of them)"
                if path == ("seed",)
                else f"--grid {text}: is the name of a result column; it cannot be swept"
            )
        for option, taken in (("--grid", seen), ("--set", fixed)):
            for other, other_text in taken.items():
                short, long = sorted((path, other), key=len)
                if long[: len(short)] == short:
                    same = "names the same field as" if path == other else "overlaps"
                    raise ConfigError(f"--grid {text}: {same} {option} {other_text}")
        seen[path] = text
        if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
            raise ConfigError(f"--grid {text}: expected a list of values, got {raw!r}")
        values = list(raw)
        if not values:
            raise ConfigError(f"--grid {text}: no values")
        for i, value in enumerate(values):
            if any(_same_value(value, earlier) for earlier in values[:i]):
                raise ConfigError(f"--grid {text}: value {_text(value)} is given twice")
        out[text] = values
    return out


def build_designs(
    base: Mapping[str, Any], grid: Mapping[str, list[Any]], source: str = "--grid"
) -> dict[str, Scenario]:
    """Every point's validated scenario, keyed by point name; all problems are raised at once.

    A problem found at several points is reported once; one that names no grid path (say a
    policy that cannot be built) says at which point it was first found.
    """
    points = grid_points(grid)
    names = point_names(len(points))
    paths_shown = [format_path(parse_path(p)) for p in grid]
    problems: dict[str, list[str]] = {}
    designs: dict[str, Scenario] = {}
    for name, point in zip(names, points, strict=True):
        try:
            designs[name] = override_scenario(base, point, source="--grid")
        except ConfigError as exc:
            for line in exc.problems:
                problems.setdefault(line, []).append(f"{name} ({_describe(point)})")
    if problems:
        lines = []
        for line, where in problems.items():
            names_path = any(shown in line for shown in paths_shown)
            more = f" and {len(where) - 1} more" if len(where) > 1 else ""
            line = "--grid " + line.removeprefix("--grid: ")  # `--grid <path> (=value) ...`
            lines.append(line if names_path else f"{line} [at point {where[0]}{more}]")
        raise ConfigError([*lines, f"(in {source}; no point was run)"])
    return designs


def points_frame(grid: Mapping[str, list[Any]]) -> pd.DataFrame:
    """One row per point: `point`, then each path's value (numbers stay numbers, else text)."""
    points = grid_points(grid)
    columns = {"point": point_names(len(points))}
    for path, values in grid.items():
        columns[path] = _column([p[path] for p in points], values)
    return pd.DataFrame(columns)


def mean_table(points: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """One row per point (point order): `point`, the grid columns, then each KPI's mean."""
    kpis = list(dict.fromkeys(summary["kpi"]))
    wide = summary.pivot(index="point", columns="kpi", values="mean")
    wide = wide.reindex(index=points["point"], columns=kpis)
    wide.columns.name = None
    return pd.concat([points.reset_index(drop=True), wide.reset_index(drop=True)], axis=1)


def pareto_mask(cost: Sequence[float], service: Sequence[float]) -> np.ndarray:
    """Which entries are on the Pareto front of cost (lower better) against service (higher).

    An entry is on the front when no other is at least as good on both and better on one.
    Entries with the same cost and service are all on the front (neither dominates the others);
    an entry whose cost or service is not finite is never on it. O(n log n): entries sorted by
    cost, an entry is on the front when its service is the best at its cost and better than the
    best service at any lower cost.
    """
    c = np.asarray(cost, dtype=float)
    s = np.asarray(service, dtype=float)
    if c.shape != s.shape or c.ndim != 1:
        raise ValueError("cost and service must be 1-D and of the same length")
    mask = np.zeros(len(c), dtype=bool)
    ok = np.flatnonzero(np.isfinite(c) & np.isfinite(s))
    order = ok[np.lexsort((-s[ok], c[ok]))]  # cost ascending, then service descending
    best_below = -math.inf  # the best service at any strictly lower cost
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and c[order[j]] == c[order[i]]:
            j += 1
        group = order[i:j]
        top = s[group[0]]  # the best service at this cost (descending within the group)
        if top > best_below:
            mask[group[s[group] == top]] = True
        best_below = max(best_below, top)
        i = j
    return mask


def pareto_table(
    means: pd.DataFrame, paths: Sequence[str], cost: str, service: str
) -> pd.DataFrame:
    """`means` with a boolean `pareto` column, sorted by cost then service (best first)."""
    for kpi, role in ((cost, "cost"), (service, "service")):
        if kpi not in means.columns:
            known = ", ".join(c for c in means.columns if c not in ("point", *paths))
            raise TwinError(
                f"{role} KPI {kpi!r} is not a KPI of this sweep; choose one of: {known}"
            )
    if cost == service:
        raise TwinError(f"the Pareto front needs two different KPIs (got {cost!r} twice)")
    table = means.copy()
    table["pareto"] = pareto_mask(table[cost].to_numpy(), table[service].to_numpy())
    rest = [c for c in table.columns if c not in ("point", *paths, cost, service, "pareto")]
    table = table[["point", *paths, cost, service, "pareto", *rest]]
    keys = pd.DataFrame({"c": table[cost], "s": -table[service]})
    order = keys.sort_values(["c", "s"], kind="stable", na_position="last").index
    return table.loc[order].reset_index(drop=True)


def point_differences(
    kpis: pd.DataFrame, names: Sequence[str], reference: str, level: float = 0.95
) -> pd.DataFrame:
    """Paired differences `point − reference` of each KPI in `names`, index (`point`, `kpi`).

    `kpis` is a sweep's per-replication table; values are paired by `replication`.
    """
    wide = {p: part.set_index("replication") for p, part in kpis.groupby("point", sort=False)}
    if reference not in wide:
        raise TwinError(f"reference point {reference!r} is not a point of this sweep")
    base = wide[reference]
    rows = []
    for point, part in wide.items():
        if point == reference:
            continue
        common = base.index.intersection(part.index)
        for name in names:
            if name not in part.columns or name not in base.columns:
                continue
            stats = paired_difference(
                base.loc[common, name].to_numpy(dtype=float),
                part.loc[common, name].to_numpy(dtype=float),
                level,
            )
            rows.append({"point": point, "kpi": name, **stats})
    columns = ["point", "kpi", "baseline", "value", "diff", "n_pairs", "half_width", "ci_low",
               "ci_high", "p_value", "unpaired_half_width"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).set_index(["point", "kpi"])


def differences_table(result: SweepResult, kpis: Sequence[str] | None = None) -> pd.DataFrame:
    """Tidy paired differences against the reference: one row per (point, KPI) but the reference.

    Columns: `point`, the grid columns, `kpi`, `reference`, then those of `SweepResult.differences`
    (`baseline` is the reference's mean over the pairs, `value` the point's). All KPIs by default.
    """
    names = list(dict.fromkeys(result.summary["kpi"])) if kpis is None else list(kpis)
    diffs = result.differences(names).reset_index()
    diffs.insert(2, "reference", result.reference)
    grid = result.points.set_index("point")
    for i, path in enumerate(result.paths):
        diffs.insert(1 + i, path, grid.loc[diffs["point"], path].to_numpy())
    return diffs


def significant_dominance(
    kpis: pd.DataFrame, cost: str, service: str, alpha: float = SIGNIFICANCE
) -> dict[str, list[str]]:
    """For every point, the points that significantly dominate it (paired over replications).

    Point A significantly dominates B when A is significantly better on both KPIs: its cost is
    lower and its service higher, each by a two-sided paired t-test at level `alpha` on the
    replication-by-replication differences A − B (the points share seeds, so most noise cancels).
    Comparing means alone would call a point dominated by noise; this asks the data to show it.
    Pairs with a missing value are dropped; a difference with no spread is significant when it
    is not zero (every replication agrees).
    """
    wide = {p: part.set_index("replication") for p, part in kpis.groupby("point", sort=False)}
    names = list(wide)
    out: dict[str, list[str]] = {p: [] for p in names}
    for b in names:
        for a in names:
            if a == b:
                continue
            common = wide[a].index.intersection(wide[b].index)
            better = True
            for kpi, sign in ((cost, -1.0), (service, 1.0)):
                stats = paired_difference(
                    wide[b].loc[common, kpi].to_numpy(dtype=float),
                    wide[a].loc[common, kpi].to_numpy(dtype=float),
                )
                p, diff = stats["p_value"], stats["diff"]
                if not (math.isfinite(p) and p < alpha and sign * diff > 0):
                    better = False
                    break
            if better:
                out[b].append(a)
    return out


def with_paired_front(
    table: pd.DataFrame, kpis: pd.DataFrame, cost: str, service: str, alpha: float = SIGNIFICANCE
) -> pd.DataFrame:
    """`table` (a `pareto_table`) with `paired_front` and `dominated_by` after `pareto`.

    `paired_front` is True for the points no point significantly dominates
    (`significant_dominance`); a point without finite cost and service is never on it.
    """
    dominated = significant_dominance(kpis, cost, service, alpha)
    out = table.copy()
    finite = np.isfinite(out[cost].to_numpy(dtype=float)) & np.isfinite(
        out[service].to_numpy(dtype=float)
    )
    by = [", ".join(dominated.get(str(p), [])) for p in out["point"]]
    out.insert(
        out.columns.get_loc("pareto") + 1, "paired_front", np.array([not b for b in by]) & finite
    )
    out.insert(out.columns.get_loc("paired_front") + 1, "dominated_by", by)
    return out


def check_kpi_names(names: Sequence[str], option: str) -> None:
    """Raise `TwinError` for a name that is no KPI twin computes (before anything runs)."""
    from twin.kpi import unknown_kpi

    for name in names:
        reason = unknown_kpi(name)
        if reason:
            raise TwinError(f"{option} {name!r} {reason}")


def write_sweep(
    result: SweepResult, out: str | Path, kpis: Sequence[str] = MAIN_KPIS
) -> dict[str, Path]:
    """Write the sweep into `out`, each file replaced whole (temp file, then rename).

    `sweep.csv` / `sweep.parquet` (the tidy `summary`), `sweep_kpis.csv` / `sweep_kpis.parquet`
    (one row per point and replication), `sweep_differences.csv` (`differences_table`: every
    point − the reference point per KPI, paired) and `report.html` (`twin.report.sweep`,
    plotting `kpis`).
    """
    from twin.report.sweep import render_sweep_report

    missing = [k for k in kpis if k not in set(result.summary["kpi"])]
    if missing:
        known = ", ".join(dict.fromkeys(result.summary["kpi"]))
        raise TwinError(f"--kpi {missing[0]!r} is not a KPI of this sweep; choose from: {known}")
    document = render_sweep_report(result, kpis)
    from twin.report.html import write_atomic

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary_csv": folder / "sweep.csv",
        "summary_parquet": folder / "sweep.parquet",
        "kpis_csv": folder / "sweep_kpis.csv",
        "kpis_parquet": folder / "sweep_kpis.parquet",
        "differences_csv": folder / "sweep_differences.csv",
        "report": folder / "report.html",
    }
    for frame, stem in ((result.summary, "summary"), (result.kpis, "kpis")):
        write_atomic(paths[f"{stem}_csv"], frame.to_csv(index=False, float_format="%.17g"))
        write_atomic(paths[f"{stem}_parquet"], frame.to_parquet(index=False))
    differences = differences_table(result)
    write_atomic(paths["differences_csv"], differences.to_csv(index=False, float_format="%.17g"))
    write_atomic(paths["report"], document)
    return paths


def _assemble(
    plan: SweepPlan,
    by_point: Mapping[str, list[Any]],
    meta: dict[str, object],
    cost: str,
    service: str,
) -> SweepResult:
    grid, designs = plan.grid, plan.designs
    paths = list(grid)
    points = plan.points
    by_name = points.set_index("point")
    kpi_parts, summary_parts = [], []
    for name in points["point"]:
        frame = kpi_frame(by_point[name])
        summary = summarise(frame).reset_index()
        for part, rows in ((frame, len(frame)), (summary, len(summary))):
            for i, path in enumerate(paths):
                part.insert(i, path, [by_name.at[name, path]] * rows)
            part.insert(0, "point", name)
        kpi_parts.append(frame)
        summary_parts.append(summary)
    kpis = pd.concat(kpi_parts, ignore_index=True)
    summary = pd.concat(summary_parts, ignore_index=True)
    for path in paths:  # concat of single-value columns may lose the dtype `points` chose
        kpis[path] = kpis[path].astype(points[path].dtype)
        summary[path] = summary[path].astype(points[path].dtype)
    seeds = sorted({s.seed for s in designs.values()})
    meta = {
        **meta,
        "base_point": plan.base_point,
        "points": len(points),
        "seed": seeds[0] if len(seeds) == 1 else seeds,
        "paired": len(seeds) == 1,
        "order": "cartesian product in the order of the grid paths, the first varying slowest",
    }
    return SweepResult(
        scenario=plan.scenario,
        grid=grid,
        points=points,
        kpis=kpis,
        summary=summary,
        pareto=with_paired_front(
            pareto_table(mean_table(points, summary), paths, cost, service), kpis, cost, service
        ),
        cost=cost,
        service=service,
        designs=designs,
        meta=meta,
    )


def _base_data(
    data_or_path: str | Path | Mapping[str, Any] | Scenario, overrides: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str, Scenario]:
    """The base scenario's data (after `overrides`), a name for it in messages, and it validated."""
    if isinstance(data_or_path, Scenario):
        data: Any = data_or_path.model_dump(by_alias=True, exclude_unset=True)
        source = f"scenario {data_or_path.name}"
    elif isinstance(data_or_path, Mapping):
        data, source = copy.deepcopy(dict(data_or_path)), "<scenario>"
    else:
        data, source = split_variants(data_or_path)[0], str(data_or_path)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of scenario keys at the top level")
    data = {key: value for key, value in data.items() if key != "variants"}
    if overrides:
        data = apply_overrides(data, overrides, "--set")
    scenario = scenario_from_data(data, source)  # the base alone first: its mistakes name the file
    return data, source, scenario


def _grid_path(text: str) -> tuple[Any, ...]:
    """`parse_path`, its error saying it came from `--grid`."""
    try:
        return parse_path(text)
    except ConfigError as exc:
        raise ConfigError(f"--grid {exc}") from None


def _split_values(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes."""
    items, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _same_value(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _text(value: Any) -> str:
    """A value as one would write it on the command line (`12h`, `[9h, 21h]`, `true`)."""
    if isinstance(value, str):
        return value
    return (
        yaml.safe_dump(value, default_flow_style=True, width=1_000_000)
        .strip()
        .removesuffix("\n...")
    )


def _describe(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{path}={_text(value)}" for path, value in point.items())


def _column(column: list[Any], values: list[Any]) -> pd.Series:
    """A grid column: int or float when every value is a number, bool when all are, else text."""
    if all(_is_number(v) for v in values):
        if all(isinstance(v, int | np.integer) for v in values):
            return pd.Series(column, dtype="int64")
        return pd.Series(column, dtype="float64")
    if all(isinstance(v, bool | np.bool_) for v in values):
        return pd.Series(column, dtype="bool")
    return pd.Series([_text(v) for v in column], dtype=object)
