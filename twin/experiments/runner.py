"""Replications of one or several designs on an executor, gathered in replication order.

Each replication depends only on (scenario, index), so results are the same whatever the executor
and the number of workers. Designs run on the same indices and, sharing a seed, on the same random
numbers (DESIGN §8), which is what makes their differences paired. With a `Precision` target,
replications are added in rounds until the chosen KPI's interval is narrow enough.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from twin.config.schema import Scenario
from twin.errors import TwinError
from twin.experiments.executors import Executor, LocalExecutor
from twin.experiments.replication import run_replication
from twin.experiments.results import ReplicationResult, RunResult
from twin.experiments.stats import relative_half_width, summarise

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Task:
    """One replication to run: what crosses to a worker (a scenario and an index, nothing more)."""

    scenario: Scenario
    replication: int
    trace: bool = False


def run_task(task: Task) -> ReplicationResult:
    """Run one task (a module-level function, so process pools and dask can ship it)."""
    return run_replication(task.scenario, task.replication, task.trace)


@dataclass(frozen=True)
class Precision:
    """Sequential stopping: add replications until `kpi`'s relative CI half-width ≤ `target`.

    The relative half-width is the 95 % half-width over |mean|. Rounds grow to the number the
    current variance says is needed, never past `max_reps`; a run that stops at the cap says so.
    """

    target: float
    kpi: str = "fill_rate"
    max_reps: int = 200

    def __post_init__(self) -> None:
        if not self.target > 0:
            raise TwinError(f"--precision (={self.target}) must be > 0 (e.g. 0.02 for ±2 %)")
        if self.max_reps < 2:
            raise TwinError(f"--max-reps (={self.max_reps}) must be >= 2")
        from twin.kpi import unknown_kpi

        reason = unknown_kpi(self.kpi)
        if reason:  # refused now, not after the first round of replications
            raise TwinError(f"--kpi (={self.kpi!r}) {reason}")


def run_designs(
    designs: Mapping[str, Scenario],
    reps: int,
    executor: Executor | None = None,
    precision: Precision | None = None,
    progress: Progress | None = None,
    trace: bool = False,
) -> tuple[dict[str, list[ReplicationResult]], dict[str, object]]:
    """Replications 0..n-1 of every design, each with its `Trace` if `trace`.

    A trace is some hundred kilobytes on the flagship, so only a caller that reports it asks.

    Returns the results per design, in replication order, and what the stopping rule did
    (`replications`, and with a precision target `precision_reached` and `relative_half_width`).
    """
    if reps < 1:
        raise TwinError(f"--reps (={reps}) must be >= 1")
    if not designs:
        raise TwinError("no design to run")
    from twin.experiments.budget import check_designs

    # the work budget, before any replication is submitted (lifted inside `allowing_large()`)
    check_designs(designs, reps, precision.max_reps if precision else None)
    results: dict[str, list[ReplicationResult]] = {name: [] for name in designs}
    n = max(reps, 2) if precision else reps
    if precision:
        n = min(n, precision.max_reps)
    own = executor is None
    ex: Executor = executor if executor is not None else LocalExecutor(1)
    meta: dict[str, object] = {}
    try:
        done = 0
        while True:
            tasks = [
                Task(scenario, r, trace)
                for scenario in designs.values()
                for r in range(done, n)
            ]
            out = iter(ex.map(run_task, tasks, progress))
            for name in designs:
                results[name] += [next(out) for _ in range(done, n)]
            done = n
            if precision is None:
                break
            widths = {name: _relative_width(res, precision.kpi) for name, res in results.items()}
            worst = max(widths.values())
            meta.update(relative_half_width=worst, precision_target=precision.target)
            if worst <= precision.target or n >= precision.max_reps:
                meta["precision_reached"] = worst <= precision.target
                break
            needed = _needed(n, worst, precision.target)
            n = min(precision.max_reps, max(needed, n + 2))  # not by workers: same n anywhere
    finally:
        if own:
            ex.close()
    meta["replications"] = done
    return results, meta


def _needed(n: int, width: float, target: float) -> int:
    """Replications the variance seen in `n` says reach relative half-width `target`.

    Projected from the standard error, not the width: the width carries the t quantile of n − 1
    degrees of freedom (4.30 at n = 3), which a larger run no longer pays, so scaling the width
    itself would overshoot by (t/z)² (×4.8 from 3 replications). The normal quantile makes the
    estimate a slight undershoot at most, which the next round corrects.
    """
    if not math.isfinite(width):
        return 2 * n
    from scipy import stats  # imported here: scipy costs a second at CLI start-up

    standard_error = width / float(stats.t.ppf(0.975, n - 1))
    return math.ceil(n * (standard_error * float(stats.norm.ppf(0.975)) / target) ** 2)


def _relative_width(results: list[ReplicationResult], kpi: str) -> float:
    if kpi not in results[0].kpis:
        known = ", ".join(sorted(results[0].kpis))
        raise TwinError(f"--kpi (={kpi!r}) is not a KPI of this scenario; choose one of: {known}")
    return relative_half_width(np.array([r.kpis[kpi] for r in results], dtype=float))


def kpi_frame(results: list[ReplicationResult]) -> pd.DataFrame:
    """One row per replication: `replication`, `seed`, then one column per KPI."""
    return pd.DataFrame(
        [{"replication": res.replication, "seed": res.seed, **res.kpis} for res in results]
    )


def replicate(
    scenario: Scenario,
    reps: int,
    workers: int = 1,
    progress: Progress | None = None,
    *,
    executor: Executor | None = None,
    precision: Precision | None = None,
) -> RunResult:
    """Run `reps` replications (or, with `precision`, as many as it needs) of one scenario."""
    ex = executor if executor is not None else LocalExecutor(workers)
    with nullcontext() if executor is not None else _closing(ex):
        by_design, meta = run_designs(
            {scenario.name: scenario}, reps, ex, precision, progress, trace=True
        )
    results = by_design[scenario.name]
    kpis = kpi_frame(results)
    return RunResult(
        scenario=scenario.name,
        kpis=kpis,
        summary=summarise(kpis, targets=dict(scenario.targets)),
        meta={"horizon_h": scenario.horizon, "seed": scenario.seed, **meta},
        traces=[r.trace for r in results if r.trace is not None],
        axes=results[0].axes,
        report=report_settings(scenario),
    )


def report_settings(scenario: Scenario) -> dict[str, object]:
    """What the report reads of the scenario beyond KPIs, as JSON-able data (kept with results)."""
    return {
        "targets": {
            name: {"min": t.min, "max": t.max, "chance": t.chance}
            for name, t in scenario.targets.items()
        },
        "currency": scenario.currency,
        "start": None if scenario.start is None else scenario.start.isoformat(),
        "locations": {sid: list(site.location) for sid, site in scenario.sites.items()},
        "kinds": {sid: site.kind for sid, site in scenario.sites.items()},
        "featured": {
            name: list(live.featured) for name, live in scenario.demand.livestreams.items()
        },
    }


@contextmanager
def _closing(executor: Executor) -> Iterator[Executor]:
    try:
        yield executor
    finally:
        executor.close()


def write_outputs(
    result: RunResult, out: Path, extra: Mapping[str, Path] | None = None
) -> dict[str, Path]:
    """Write the results folder (`twin.report.results_io`) as `out`, all files at once.

    Every file is rendered in memory, written into a new folder beside `out` and the folder
    swapped in (`write_folder`): readers see the previous run's results or this one's, never a
    mix. `extra` moves ready entries in too (name in the folder → a file or folder to move,
    e.g. `twin run --snapshot-at`'s snapshot), so they appear with the rest.
    """
    from twin.report.html import write_atomic
    from twin.report.results_io import FILES, encode, results_of
    from twin.report.run_report import render

    results = results_of(result)
    files = encode(results, render(results))

    def fill(folder: Path) -> dict[str, Path]:
        for name, data in files.items():
            write_atomic(folder / name, data)
        for name, source in (extra or {}).items():
            shutil.move(source, folder / name)  # from another file system, too
        return {name.split(".")[0]: folder / name for name in files}

    return write_folder(out, fill, owned=(*FILES, "snapshot"))


def write_folder(
    out: Path, fill: Callable[[Path], Mapping[str, Path]], owned: Iterable[str] = ()
) -> dict[str, Path]:
    """Make `out` the folder `fill` writes, whole; the paths `fill` returns, moved to `out`.

    `fill(stage)` writes into a new folder beside `out`, which then takes `out`'s place.
    Swapping: the old folder is renamed aside, the new one renamed in, the old one removed; the
    previous results stay readable until the swap, which takes two renames. A failure or an
    interruption while filling leaves `out` as it was and no staging folder behind.

    A folder is only swapped out when it holds nothing but results (the names `fill` wrote, or
    `owned`, and the temporary files of an interrupted write): a folder holding anything else
    (`--out .`, or notes kept beside the results) is never moved or removed; the new entries
    are then moved into it one by one instead, each whole, report last. So they are when the
    folder exists in one we may not write (the staging folder is then made inside it).
    """
    out = Path(out)
    target = Path(os.path.abspath(out))
    target.parent.mkdir(parents=True, exist_ok=True)
    _clear_stale(target)
    stage = target.parent / _sibling(target, "new")
    try:
        stage.mkdir()
    except PermissionError:  # an existing folder in a read-only one: stage inside, move across
        if not target.is_dir():
            raise
        stage = target / _sibling(target, "new")
        stage.mkdir()
    try:
        paths = fill(stage)
        made = {entry.name for entry in stage.iterdir()}
        if stage.parent == target.parent and _results_only(target, made | set(owned)):
            _swap(stage, target)
        else:
            for name in sorted(made, key=lambda n: (n == "report.html", n)):
                _replace(stage / name, target / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {key: out / Path(path).relative_to(stage) for key, path in paths.items()}


STALE_STAGE_S = 600.0
"""A staging folder untouched this long was left by a killed run (filling one takes seconds)."""


def _clear_stale(target: Path) -> None:
    """Remove staging and swapped-aside folders of `target` that a killed run left behind."""
    pattern = re.compile(rf"\.{re.escape(target.name[:40])}\.[0-9a-f]{{12}}\.(new|old)")
    now = time.time()
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return
    for entry in siblings:
        try:
            stale = pattern.fullmatch(entry.name) and now - entry.stat().st_mtime > STALE_STAGE_S
        except OSError:
            continue
        if stale and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def _sibling(target: Path, role: str) -> str:
    """A hidden, unique name beside `target` (kept short whatever the target's name length)."""
    return f".{target.name[:40]}.{uuid.uuid4().hex[:12]}.{role}"


def _results_only(target: Path, names: set[str]) -> bool:
    """Whether `target` may be swapped out whole: missing, or holding results and nothing else.

    Never the working folder or one above it (renaming those pulls the ground from under the
    user), nor one holding anything `names` does not cover (but for temporary `.*.tmp` files).
    """
    if not target.exists():
        return True
    if not target.is_dir() or Path.cwd().resolve().is_relative_to(target.resolve()):
        return False
    return all(
        e.name in names or (e.name.startswith(".") and e.name.endswith(".tmp"))
        for e in target.iterdir()
    )


def _swap(stage: Path, target: Path) -> None:
    """Rename `target` aside, `stage` in its place, then remove the old one."""
    if not target.exists():
        os.rename(stage, target)
        return
    aside = target.parent / _sibling(target, "old")
    os.rename(target, aside)
    try:
        os.rename(stage, target)
    except BaseException:
        os.rename(aside, target)  # the new one could not go in: the old one comes back
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _replace(source: Path, target: Path) -> None:
    """Move one entry in whole: a file by `os.replace`, a folder by a swap of its own."""
    if source.is_dir() and target.is_dir():
        _swap(source, target)
    else:
        os.replace(source, target)


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Progress | None]:
    """Progress of `total` replications: a bar on a terminal, a few plain lines in a log.

    On a TTY, a rich bar that vanishes when done. Otherwise (CI logs, pipes) a bar would be
    escape codes and nothing else for minutes, so `_PlainProgress` writes one line per completed
    chunk to stderr (stdout stays the command's result, e.g. `twin run --json`).
    """
    if not sys.stderr.isatty():
        plain = _PlainProgress(total, label)
        yield plain
        plain.finish()
        return
    from rich.progress import Progress as RichProgress

    with RichProgress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


class _PlainProgress:
    """Replications done as plain stderr lines: `flagship: replications 6/20 done (12 s)`.

    A line when another 10 % of `total` is done, or when `every` seconds passed since the last
    line (slow replications still show life), never more than `most` lines in all: a log stays
    readable whatever the run's length. With a precision target more than `total` replications
    may run; the count goes on and `finish` reports the last one even when the cap was reached.
    """

    def __init__(self, total: int, label: str, every: float = 10.0, most: int = 20) -> None:
        self.total, self.label, self.every, self.most = max(total, 1), label, every, most
        self.done = self.shown = self.lines = 0
        self.start = self.last = time.monotonic()
        self.lock = threading.Lock()  # executors may report from a callback thread

    def __call__(self, n: int) -> None:
        with self.lock:
            self.done += n
            now = time.monotonic()
            # the first 10 % mark above the count last shown: ceil(scale * k / 10), where the
            # scale doubles past `total` (more rounds for a precision target stay a few lines)
            scale = self.total
            while scale <= self.shown:
                scale *= 2
            mark = -(-scale * (self.shown * 10 // scale + 1) // 10)
            due = self.done >= mark or now - self.last >= self.every
            if due and self.lines < self.most - 1:  # one line kept for `finish`
                self._line(now)

    def finish(self) -> None:
        """The final count, unless the last line already said it."""
        with self.lock:
            if self.done != self.shown:
                self._line(time.monotonic())

    def _line(self, now: float) -> None:
        seconds = round(now - self.start)
        took = f"{seconds} s" if seconds < 120 else f"{seconds // 60} min {seconds % 60:02d} s"
        if self.done <= self.total:
            text = f"{self.label} {self.done}/{self.total} done ({took})"
        else:
            text = f"{self.label} {self.done} done ({took}; {self.total} planned, more needed)"
        print(text, file=sys.stderr, flush=True)
        self.shown, self.last, self.lines = self.done, now, self.lines + 1
