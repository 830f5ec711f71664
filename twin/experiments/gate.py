"""The regression gate (DESIGN §8): fail a CI run when a candidate is significantly worse than a baseline.

Both designs run on replications 0..n-1 (`run_designs`), each with its own seed; with equal seeds
they share their random numbers (common random numbers), so replication i of the baseline and of
the candidate form a pair. For every rule of the rules file, pair i gives an excess over the
tolerance `w_i` (positive: worse than allowed):

| rule               | direction         | w_i                        |
|--------------------|-------------------|----------------------------|
| `max_drop: d`      | higher is better  | (b_i - c_i) - d            |
| `max_drop_pct: p`  | higher is better  | (b_i - c_i) - p/100 * |b_i| |
| `max_rise: d`      | lower is better   | (c_i - b_i) - d            |
| `max_rise_pct: p`  | lower is better   | (c_i - b_i) - p/100 * |b_i| |

H0: E[w] <= 0 (the candidate is not worse beyond the tolerance) against H1: E[w] > 0, by a
one-sided one-sample t-test on the w_i at `level`: the rule FAILS iff p < level. The burden of
proof is on "worse": noise alone fails a rule at the boundary of H0 with probability `level`, and
less often inside it. When every w_i is the same (no variance: e.g. identical designs on common
random numbers) the rule fails iff that value is > 0. A rule with fewer than two replications
where both KPI values are finite cannot be judged and fails (a gate does not pass what it cannot
check).

With different seeds the pairs are still independent across i, so the same paired statistic over
the replication index stays valid; it only loses the variance reduction of common random numbers
(the output says the comparison is unpaired by seed). `level` applies to each rule: with k rules
the chance that some rule fails by noise alone is at most k * level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from twin.config.errors import problem, validation_problems
from twin.config.loader import read_yaml, scenario_from_data
from twin.config.schema import Scenario
from twin.errors import ConfigError, TwinError
from twin.experiments.executors import Executor
from twin.experiments.runner import Progress, kpi_frame, run_designs
from twin.units import plain_number

TOLERANCE_KINDS = ("max_drop", "max_drop_pct", "max_rise", "max_rise_pct")
"""The ways a rule bounds a KPI: a drop for higher-is-better KPIs, a rise for lower-is-better."""

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Tolerance(BaseModel):
    """How much worse a KPI may get: exactly one of the four keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_drop: NonNegative | None = None
    """Absolute drop allowed (KPI units); higher is better."""
    max_drop_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    """Drop allowed in % of the baseline; higher is better."""
    max_rise: NonNegative | None = None
    """Absolute rise allowed (KPI units); lower is better."""
    max_rise_pct: NonNegative | None = None
    """Rise allowed in % of the baseline; lower is better."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Tolerance:
        given = [k for k in TOLERANCE_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            raise ValueError(f"must give exactly one of {', '.join(TOLERANCE_KINDS)} (got {what})")
        return self

    @property
    def kind(self) -> str:
        """Which of the four keys is given."""
        return next(k for k in TOLERANCE_KINDS if getattr(self, k) is not None)

    @property
    def value(self) -> float:
        """The tolerance (KPI units, or % of the baseline for the `_pct` kinds)."""
        return float(getattr(self, self.kind))

    @property
    def higher_is_better(self) -> bool:
        """A drop rule: the KPI is better when higher."""
        return self.kind.startswith("max_drop")

    def describe(self) -> str:
        """`drop <= 0.005`, `rise <= 2 %`."""
        word = "drop" if self.higher_is_better else "rise"
        unit = " %" if self.kind.endswith("_pct") else ""
        return f"{word} <= {self.value:g}{unit}"


class GateRules(BaseModel):
    """A rules file: one-sided `level`, default `reps`, and a tolerance per KPI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: float = Field(0.05, gt=0, lt=1, allow_inf_nan=False)
    reps: int = Field(20, ge=2)
    rules: dict[str, Tolerance] = Field(min_length=1)
    _source: str = PrivateAttr("<rules>")

    @property
    def source(self) -> str:
        """The file the rules came from (what error messages name)."""
        return self._source


def rules_from_data(data: Any, source: str = "<rules>") -> GateRules:
    """Validate parsed rules; every problem named as `source: field.path (=value) what`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with `level`, `reps` and `rules`")
    try:
        rules = GateRules.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(source, exc, GateRules, data)) from None
    rules._source = source
    return rules


def load_rules(path: str | Path) -> GateRules:
    """Read and validate a rules file (`configs/gate.yaml`)."""
    return rules_from_data(read_yaml(path), str(path))


# --- the statistic ------------------------------------------------------------------------------


def excess(baseline: np.ndarray, candidate: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """Per pair, how much worse the candidate is than the tolerance allows (w_i; > 0 is worse)."""
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(candidate, dtype=float)
    v = tolerance.value
    if tolerance.kind == "max_drop":
        return (b - c) - v
    if tolerance.kind == "max_rise":
        return (c - b) - v
    # a percentage of |b|: a negative baseline (profit) must not turn the allowance around
    if tolerance.kind == "max_drop_pct":
        return (b - c) - v / 100 * np.abs(b)
    return (c - b) - v / 100 * np.abs(b)


def judge(
    baseline: np.ndarray, candidate: np.ndarray, tolerance: Tolerance, level: float = 0.05
) -> dict[str, Any]:
    """One rule on paired replications: the one-sided paired t-test of the module docstring.

    Pairs where either value is not finite are dropped. Returns `n`, `excess` (mean w), `t`,
    one-sided `p_value`, and `failed` (p < level; with no variance, mean w > 0; with fewer than
    two pairs, True).
    """
    from scipy import stats  # imported here: scipy costs a second at CLI start-up

    b = np.asarray(baseline, dtype=float)
    c = np.asarray(candidate, dtype=float)
    keep = np.isfinite(b) & np.isfinite(c)
    w = excess(b[keep], c[keep], tolerance)
    n = len(w)
    if n < 2:
        return {"n": n, "excess": math.nan, "t": math.nan, "p_value": math.nan, "failed": True}
    mean = float(w.mean())
    if np.all(w == w[0]):  # no variance: the verdict is the sign of the (exact) excess
        worse = float(w[0]) > 0
        return {
            "n": n,
            "excess": float(w[0]),
            "t": math.inf if worse else -math.inf,
            "p_value": 0.0 if worse else 1.0,
            "failed": worse,
        }
    t = mean / (float(w.std(ddof=1)) / math.sqrt(n))
    p = float(stats.t.sf(t, n - 1))
    return {"n": n, "excess": mean, "t": t, "p_value": p, "failed": p < level}


# --- running the gate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    """The verdict of a gate run.

    - `table`: one row per rule, indexed by KPI: `rule` (`max_drop`...), `tolerance`, `baseline`
      and `candidate` (means), `change` (candidate - baseline), `change_pct` (% of |baseline|),
      `excess` (mean w), `n`, `t`, one-sided `p_value`, `verdict` (`PASS`/`FAIL`).
    - `passed`: no rule failed.
    - `kpis`: one row per (design, replication): `design`, `replication`, `seed`, the KPIs.
    """

    table: pd.DataFrame
    passed: bool
    level: float
    reps: int
    seeds: dict[str, int]
    names: dict[str, str]
    kpis: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def paired_by_seed(self) -> bool:
        """Whether baseline and candidate share a seed (common random numbers)."""
        return self.seeds["baseline"] == self.seeds["candidate"]

    @property
    def failures(self) -> list[str]:
        """The KPIs whose rule failed."""
        return [str(k) for k in self.table.index[self.table["verdict"] == "FAIL"]]


def probe_kpis(scenario: Scenario) -> set[str] | None:
    """The KPI names a replication of `scenario` reports, from a one-hour run (None if it fails).

    Which KPIs exist depends on the scenario only (livestreams, disruptions, routing), not on
    how long it runs, so an hour is enough and costs a fraction of a replication.
    """
    from twin import kpi
    from twin.model.world import simulate

    short = scenario.model_copy(update={"horizon": min(scenario.horizon, 1.0)})
    try:
        return set(kpi.compute(simulate(short, 0)))
    except Exception:  # a probe artefact; the names are checked again after the run
        return None


def check_kpis(
    rules: GateRules,
    known: Mapping[str, set[str] | None],
) -> None:
    """Every rule names a KPI of every design (`known`: design → KPI names, None if unknown)."""
    import difflib

    from twin import kpi

    lines = []
    for name, tolerance in rules.rules.items():
        better = kpi.info(name).better
        if better is not None and (better == "higher") != tolerance.higher_is_better:
            use = "max_drop or max_drop_pct" if better == "higher" else "max_rise or max_rise_pct"
            lines.append(
                problem(
                    rules.source,
                    ("rules", name, tolerance.kind),
                    f"guards the wrong way: {name} is better when {better}; use {use}",
                )
            )
    for name in rules.rules:
        missing = [d for d, names in known.items() if names is not None and name not in names]
        if not missing:
            continue
        every = sorted(set().union(*(n for n in known.values() if n is not None)))
        near = difflib.get_close_matches(name, every, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f" (KPIs: {', '.join(every)})"
        where = "any design" if len(missing) == len(known) else f"the {' or '.join(missing)}"
        lines.append(problem(rules.source, ("rules", name), f"is not a KPI of {where}{hint}"))
    if lines:
        raise ConfigError(lines)


def check_designs(
    baseline: Scenario, candidate: Scenario, rules: GateRules, reps: int | None = None
) -> int:
    """Check everything before a replication runs; the number of replications to run."""
    n = rules.reps if reps is None else reps
    if n < 2:
        raise TwinError(f"--reps (={n}) must be >= 2 (a t-test needs two replications)")
    check_kpis(rules, {"baseline": probe_kpis(baseline), "candidate": probe_kpis(candidate)})
    return n


def gate(
    baseline: Scenario,
    candidate: Scenario,
    rules: GateRules,
    reps: int | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> GateResult:
    """Run baseline and candidate on replications 0..reps-1 and judge every rule.

    `reps` defaults to the rules' `reps`. Rules naming no KPI of the designs are a `ConfigError`,
    raised before anything runs.
    """
    n = check_designs(baseline, candidate, rules, reps)
    by_design, _ = run_designs(
        {"baseline": baseline, "candidate": candidate}, n, executor, progress=progress
    )
    frames = {name: kpi_frame(res) for name, res in by_design.items()}
    check_kpis(rules, {name: set(frame.columns) for name, frame in frames.items()})
    rows = []
    for name, tolerance in rules.rules.items():
        b = frames["baseline"][name].to_numpy(dtype=float)
        c = frames["candidate"][name].to_numpy(dtype=float)
        verdict = judge(b, c, tolerance, rules.level)
        b_mean, c_mean = _finite_mean(b), _finite_mean(c)
        change = c_mean - b_mean
        rows.append(
            {
                "kpi": name,
                "rule": tolerance.kind,
                "tolerance": tolerance.value,
                "baseline": b_mean,
                "candidate": c_mean,
                "change": change,
                "change_pct": 100 * change / abs(b_mean) if b_mean else math.nan,
                "excess": verdict["excess"],
                "n": verdict["n"],
                "t": verdict["t"],
                "p_value": verdict["p_value"],
                "verdict": "FAIL" if verdict["failed"] else "PASS",
            }
        )
    table = pd.DataFrame(rows).set_index("kpi")
    seeds = {"baseline": baseline.seed, "candidate": candidate.seed}
    notes = []
    if seeds["baseline"] != seeds["candidate"]:
        notes.append(
            f"baseline seed {seeds['baseline']} != candidate seed {seeds['candidate']}: the "
            "comparison is unpaired by seed (no common random numbers); pairs are still formed by "
            "replication index, which stays valid but is less sensitive"
        )
    for kpi_name, row in table.iterrows():
        if row["n"] < 2:
            notes.append(
                f"{kpi_name}: fewer than 2 replications with finite values; counted as FAIL"
            )
    kpis = pd.concat(
        [frame.assign(design=name) for name, frame in frames.items()], ignore_index=True
    )
    kpis = kpis[["design", *[c for c in kpis.columns if c != "design"]]]
    return GateResult(
        table=table,
        passed=bool((table["verdict"] == "PASS").all()),
        level=rules.level,
        reps=n,
        seeds=seeds,
        names={"baseline": baseline.name, "candidate": candidate.name},
        kpis=kpis,
        notes=notes,
    )


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


# --- loading designs ----------------------------------------------------------------------------


def load_pair(
    baseline: str | Path,
    candidate: str | Path,
    sets: Mapping[str, Any] | None = None,
    candidate_sets: Mapping[str, Any] | None = None,
) -> tuple[Scenario, Scenario]:
    """Baseline and candidate from files: `sets` apply to both, `candidate_sets` to the candidate.

    A file's own mistakes name the file; a bad override names `--set` or `--set-candidate`.
    A `variants:` map in a file is ignored (the gate compares the files' base designs).
    """
    from twin.experiments.overrides import apply_overrides, split_variants

    def load(path: str | Path, layers: Sequence[tuple[str, Mapping[str, Any] | None]]) -> Scenario:
        data = split_variants(path)[0]
        scenario = scenario_from_data(data, str(path))
        used = [(source, o) for source, o in layers if o]
        for source, overrides in used:
            data = apply_overrides(data, overrides, source)
        if used:
            scenario = scenario_from_data(data, " + ".join(s for s, _ in used) + f" on {path}")
        return scenario

    return (
        load(baseline, [("--set", sets)]),
        load(candidate, [("--set", sets), ("--set-candidate", candidate_sets)]),
    )


# --- reports ------------------------------------------------------------------------------------


def _signed(x: float) -> str:
    if not math.isfinite(x):
        return "nan"
    if x == 0:
        return "0"
    return ("+" if x >= 0 else "-") + plain_number(abs(x))


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _rows(result: GateResult) -> list[list[str]]:
    """The table's cells as text: kpi, rule, baseline, candidate, change, p-value, verdict."""
    out = []
    for name, row in result.table.iterrows():
        tolerance = Tolerance(**{row["rule"]: row["tolerance"]})
        change = _signed(row["change"])
        if row["rule"].endswith("_pct"):
            pct = row["change_pct"]
            change += f" ({pct:+.2f} %)" if math.isfinite(pct) else ""
        out.append(
            [
                str(name),
                tolerance.describe(),
                plain_number(row["baseline"]),
                plain_number(row["candidate"]),
                change,
                _p(row["p_value"]),
                str(row["verdict"]),
            ]
        )
    return out


HEADER = ["kpi", "rule", "baseline", "candidate", "change", "p-value", "verdict"]


def headline(result: GateResult) -> str:
    """What ran: the designs, seeds, replications and level."""
    b, c = result.names["baseline"], result.names["candidate"]
    pairing = "paired on common random numbers" if result.paired_by_seed else "unpaired by seed"
    return (
        f"baseline {b} (seed {result.seeds['baseline']}) vs candidate {c} "
        f"(seed {result.seeds['candidate']}): {result.reps} replications each, {pairing}, "
        f"one-sided level {result.level:g} per rule"
    )


def verdict_line(result: GateResult) -> str:
    """`PASS: 3 rules hold` or `FAIL: 1 of 3 rules failed (fill_rate)`."""
    total = len(result.table)
    if result.passed:
        return f"PASS: all {total} rules hold" if total > 1 else "PASS: the rule holds"
    fails = result.failures
    return f"FAIL: {len(fails)} of {total} rules failed ({', '.join(fails)})"


def format_table(result: GateResult) -> str:
    """The verdict table as plain text, with the headline, notes and verdict line."""
    rows = [HEADER, *_rows(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    left = {0, 1, 6}
    lines = [
        "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]
    notes = [f"note: {n}" for n in result.notes]
    return "\n".join([headline(result), *notes, "", *lines, "", verdict_line(result)])


def to_markdown(result: GateResult) -> str:
    """A Markdown summary (for `$GITHUB_STEP_SUMMARY`): headline, table, verdict line."""
    icon = {"PASS": "✅ PASS", "FAIL": "❌ FAIL"}
    lines = [
        f"### twin gate: {'✅ PASS' if result.passed else '❌ FAIL'}",
        "",
        headline(result) + ".",
        "",
    ]
    lines += [f"> **Note:** {n}" for n in result.notes]
    if result.notes:
        lines.append("")
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---"]) + "|")
    for row in _rows(result):
        cells = [f"`{row[0]}`", *row[1:6], icon[row[6]]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", f"**{verdict_line(result)}**", ""]
    return "\n".join(lines)


def to_junit(result: GateResult) -> str:
    """JUnit XML: one testsuite `twin gate`, one testcase per rule, `<failure>` when it fails."""
    import xml.etree.ElementTree as ET

    table = result.table
    root = ET.Element("testsuites", name="twin gate")
    suite = ET.SubElement(
        root,
        "testsuite",
        name="twin gate",
        tests=str(len(table)),
        failures=str(len(result.failures)),
        errors="0",
        skipped="0",
    )
    props = ET.SubElement(suite, "properties")
    for key, value in {
        "baseline": result.names["baseline"],
        "candidate": result.names["candidate"],
        "baseline_seed": result.seeds["baseline"],
        "candidate_seed": result.seeds["candidate"],
        "paired_by_seed": result.paired_by_seed,
        "replications": result.reps,
        "level": result.level,
    }.items():
        ET.SubElement(props, "property", name=key, value=str(value))
    for (name, row), cells in zip(table.iterrows(), _rows(result), strict=True):
        case = ET.SubElement(suite, "testcase", classname="twin.gate", name=str(name))
        if row["verdict"] == "FAIL":
            message = (
                f"{name}: baseline {cells[2]}, candidate {cells[3]}, change {cells[4]}, "
                f"allowed {cells[1]}, p={cells[5]} < {result.level:g}"
            )
            failure = ET.SubElement(case, "failure", message=message, type="GateFailure")
            failure.text = (
                f"{message}\nmean excess over the tolerance {_signed(row['excess'])} "
                f"over {int(row['n'])} replication pairs (t={row['t']:.3g})"
            )
    out = ET.SubElement(suite, "system-out")
    out.text = format_table(result)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# --- writing files ------------------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` whole (the report's atomic writer), making its folder if needed."""
    from twin.report.html import write_atomic as replace_whole

    path.parent.mkdir(parents=True, exist_ok=True)
    replace_whole(path, text)
