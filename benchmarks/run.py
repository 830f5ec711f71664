"""Benchmark one replication of a scenario: where the time goes, orders/s, memory and scaling.

Usage: `python benchmarks/run.py [--scenario PATH] [--reps N] [--quick]` (or `make bench`).
Prints an aligned table and writes every figure to `benchmarks/results/latest.json`. Targets are
reported as PASS/MISS but never change the exit code; only an error (bad scenario, model bug) does.
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import simpy
from results_file import write_results

import twin.model.world as world_module
from twin import kpi
from twin.config import load_scenario
from twin.config.schema import Scenario
from twin.errors import TwinError
from twin.model.world import World

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "flagship_live_sale.yaml"

TARGET_RATIO = 0.10
"""Orders/s of a whole replication ÷ SimPy timeouts/s on the same machine, at least."""
TARGET_ORDERS_PER_S = 100_000
"""Orders/s of a whole replication (build + run + KPIs), at least."""

SIMPY_TIMEOUTS = 500_000
SIMPY_REPEATS = 3
SCALES = (0.25, 0.5, 1.0, 2.0)
REPLICATION = 0
"""Every timed run uses the same replication index, so the N runs do identical work."""


# -- measurements -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """Wall times (seconds) of the phases of one replication."""

    orders: int
    demand: float
    setup: float
    run: float
    kpi: float

    @property
    def build(self) -> float:
        """The `World(...)` constructor: demand draw plus network setup."""
        return self.demand + self.setup

    @property
    def total(self) -> float:
        """Build + run + KPIs: what one replication of `twin run` costs."""
        return self.demand + self.setup + self.run + self.kpi


@dataclass(frozen=True, slots=True)
class Summary:
    """Medians over N samples of one scenario (at one demand scale)."""

    scale: float
    orders: int
    demand: float
    setup: float
    run: float
    kpi: float
    total: float
    samples: list[Sample]
    reference: float = float("nan")
    """SimPy timeouts/s: mean of the rates measured just before and just after these runs."""

    @property
    def build(self) -> float:
        """Median demand + median setup."""
        return self.demand + self.setup

    @property
    def orders_per_s(self) -> float:
        """Orders per second of wall time over the whole replication."""
        return self.orders / self.total

    @property
    def run_orders_per_s(self) -> float:
        """Orders per second of `world.run()` alone."""
        return self.orders / self.run

    @property
    def ratio(self) -> float:
        """Whole-replication orders/s ÷ SimPy timeouts/s."""
        return self.orders_per_s / self.reference

    @property
    def run_ratio(self) -> float:
        """`run()`-only orders/s ÷ SimPy timeouts/s."""
        return self.run_orders_per_s / self.reference


@contextmanager
def demand_clock() -> Iterator[list[float]]:
    """Time the demand draw inside `World.__init__` by wrapping the names world.py calls."""
    spent: list[float] = []
    originals = {name: getattr(world_module, name) for name in ("draw_demand",)}

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - t0)

        return wrapper

    for name, fn in originals.items():
        setattr(world_module, name, timed(fn))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(world_module, name, fn)


def time_replication(scenario: Scenario, replication: int = REPLICATION) -> Sample:
    """Run one replication as `run_replication` does, timing each phase."""
    gc.collect()
    with demand_clock() as spent:
        t0 = time.perf_counter()
        world = World(scenario, replication)
        t1 = time.perf_counter()
    record = world.run()
    t2 = time.perf_counter()
    kpi.compute(record)
    t3 = time.perf_counter()
    demand = sum(spent)
    return Sample(len(world.book), demand, (t1 - t0) - demand, t2 - t1, t3 - t2)


def summarise(scale: float, samples: list[Sample]) -> Summary:
    """Per-phase medians (the total is the median of per-run totals, not a sum of medians)."""
    med = statistics.median
    return Summary(
        scale=scale,
        orders=samples[0].orders,
        demand=med(s.demand for s in samples),
        setup=med(s.setup for s in samples),
        run=med(s.run for s in samples),
        kpi=med(s.kpi for s in samples),
        total=med(s.total for s in samples),
        samples=samples,
    )


def _ticker(env: simpy.Environment, n: int) -> Generator[simpy.Event, None, None]:
    for _ in range(n):
        yield env.timeout(1)


def simpy_rate(n: int = SIMPY_TIMEOUTS, repeats: int = SIMPY_REPEATS) -> tuple[float, list[float]]:
    """Raw SimPy speed: timeouts/s of one process yielding `env.timeout(1)` n times (median)."""
    rates = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        env = simpy.Environment()
        env.process(_ticker(env, n))
        env.run()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), rates


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """Copy `scenario` with baseline orders/hour (hence every livestream pulse) × factor."""
    if factor == 1.0:
        return scenario
    demand = scenario.demand
    baseline = demand.baseline.model_copy(
        update={"orders_per_hour": demand.baseline.orders_per_hour * factor}
    )
    return scenario.model_copy(update={"demand": demand.model_copy(update={"baseline": baseline})})


# -- memory, each in a fresh interpreter --------------------------------------------------------


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _current_rss_bytes() -> int:
    """Resident set size now (Linux /proc; -1 where unavailable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return -1


def child_measure(path: str, mode: str) -> dict[str, float]:
    """In a fresh process: the memory one replication (build, run, KPIs) needs."""
    scenario = load_scenario(path)
    gc.collect()
    if mode == "rss":
        before, current = _maxrss_bytes(), _current_rss_bytes()
        world = World(scenario, REPLICATION)
        kpi.compute(world.run())
        return {
            "orders": len(world.book),
            "rss_before": before,
            "rss_current_before": current,
            "rss_growth": _maxrss_bytes() - before,
        }
    tracemalloc.start()
    world = World(scenario, REPLICATION)
    record = world.run()
    kpi.compute(record)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"orders": len(world.book), "tracemalloc_peak": peak, "tracemalloc_retained": retained}


def measure_memory(path: Path, mode: str) -> dict[str, float]:
    """Run `child_measure` in a subprocess and return what it printed."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--scenario", str(path), "--child", mode]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise TwinError(f"memory subprocess ({mode}) failed:\n{out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- output -------------------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    """Seconds as ms below one second, else as s."""
    return f"{seconds * 1e3:8.1f} ms" if seconds < 1.0 else f"{seconds:8.3f} s "


def fmt_bytes(n: float) -> str:
    """Bytes in MiB."""
    return f"{n / 2**20:8.1f} MiB"


def verdict(value: float, target: float) -> str:
    """PASS or MISS."""
    return "PASS" if value >= target else "MISS"


def print_report(res: dict[str, Any], main: Summary, curve: list[Summary]) -> None:
    """Print the compact table."""
    sim = res["simpy"]
    ref = sim["reference"]
    p = print
    p(f"twin benchmark · {res['scenario']['name']} ({res['scenario']['path']})")
    p(
        f"{res['reps']} timed runs of replication {REPLICATION} · python {res['env']['python']} · "
        f"simpy {res['env']['simpy']} · numpy {res['env']['numpy']} · {res['env']['machine']} · "
        f"{res['env']['cpus']} CPUs"
    )
    p("")
    p(f"one replication, median of {res['reps']}    {'time':>11}  {'share':>5}  {'orders/s':>11}")
    rows = [
        ("  demand  draw_demand         ", main.demand, None),
        ("  setup   rest of World()", main.setup, None),
        ("  run     world.run()", main.run, main.run_orders_per_s),
        ("  kpi     kpi.compute()", main.kpi, None),
        ("  total   one replication", main.total, main.orders_per_s),
    ]
    for label, t, rate in rows:
        r = f"{rate:11,.0f}" if rate else ""
        p(f"{label:<34}{fmt_time(t)}  {t / main.total:5.0%}  {r}")
    p(f"  orders  len(world.book)        {main.orders:>13,}")
    p("")
    p(f"SimPy timeout loop, {SIMPY_TIMEOUTS:,} × env.timeout(1), median of {SIMPY_REPEATS}")
    p(f"  before                         {sim['before']:>13,.0f} /s")
    p(f"  after                          {sim['after']:>13,.0f} /s   drift {sim['drift']:+.1%}")
    p(f"  reference (mean)               {ref:>13,.0f} /s")
    p("")
    t = res["targets"]
    p("headline                           value        target  verdict")
    p(
        f"  ratio, whole replication   {t['ratio']['value']:>11.3f}   ≥ {TARGET_RATIO:>8.2f}"
        f"     {t['ratio']['verdict']}"
    )
    p(f"  ratio, run() alone         {main.run_ratio:>11.3f}")
    p(
        f"  orders/s, whole replication{t['orders_per_s']['value']:>11,.0f}   ≥ "
        f"{TARGET_ORDERS_PER_S:>8,}     {t['orders_per_s']['verdict']}"
    )
    p("")
    mem = res["memory"]
    p("memory of one replication, fresh subprocess       per order")
    p(
        f"  peak RSS growth (ru_maxrss)   {fmt_bytes(mem['rss_growth'])}"
        f"  {mem['rss_growth'] / main.orders:8,.0f} B"
    )
    inflated = mem["rss_before"] - mem["rss_current_before"]
    if mem["rss_current_before"] > 0 and inflated > 8 * 2**20:
        p(
            f"  (baseline high-water mark was {fmt_bytes(inflated).strip()} above the RSS then: "
            "growth is understated)"
        )
    if "tracemalloc_peak" in mem:
        p(
            f"  tracemalloc peak              {fmt_bytes(mem['tracemalloc_peak'])}"
            f"  {mem['tracemalloc_peak'] / main.orders:8,.0f} B"
        )
        p(
            f"  tracemalloc retained at end   {fmt_bytes(mem['tracemalloc_retained'])}"
            f"  {mem['tracemalloc_retained'] / main.orders:8,.0f} B"
        )
    else:
        p("  tracemalloc                   skipped (--quick)")
    if not curve:
        p("")
        p("scale curve                     skipped (--quick)")
        return
    p("")
    p(f"scale curve: orders_per_hour × s, median of {res['reps']}; SimPy/s bracketing each row")
    p(
        f"  {'scale':>6} {'orders':>10} {'wall':>11} {'run()':>11} {'orders/s':>10} "
        f"{'µs/order':>9} {'SimPy/s':>10} {'ratio':>6}"
    )
    for s in curve:
        p(
            f"  ×{s.scale:<5g} {s.orders:>10,} {fmt_time(s.total)} {fmt_time(s.run)} "
            f"{s.orders_per_s:>10,.0f} {s.total / s.orders * 1e6:>9.2f} {s.reference:>10,.0f} "
            f"{s.ratio:>6.3f}"
        )


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--scenario",
        type=Path,
        default=DEFAULT_SCENARIO,
        help="scenario YAML (default: scenarios/flagship_live_sale.yaml)",
    )
    ap.add_argument("--reps", type=int, default=3, help="timed runs per measurement (median)")
    ap.add_argument("--quick", action="store_true", help="skip the scale curve and tracemalloc")
    ap.add_argument("--child", choices=("rss", "tracemalloc"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    return args


def benchmark(path: Path, reps: int, quick: bool) -> dict[str, Any]:
    """Every measurement, printed as a table and returned as a JSON-able dict."""
    scenario = load_scenario(path)
    # Memory first: a child inherits its parent's ru_maxrss high-water mark (fork + exec), so
    # the parent must not have run anything big yet or the child's baseline is inflated.
    memory = measure_memory(path, "rss")
    if not quick:
        memory |= measure_memory(path, "tracemalloc")
    time_replication(scaled(scenario, 0.25))  # warm-up: imports, first-call costs (untimed)
    before, before_all = simpy_rate()
    main = summarise(1.0, [time_replication(scenario) for _ in range(reps)])
    after, after_all = simpy_rate()
    ref = (before + after) / 2
    main = replace(main, reference=ref)
    ratio = main.ratio
    # Each curve row gets its own SimPy bracket, so drift between rows does not skew its ratio.
    curve: list[Summary] = []
    previous = after
    for factor in () if quick else SCALES:
        if factor == 1.0:
            curve.append(main)
            continue
        sc = scaled(scenario, factor)
        row = summarise(factor, [time_replication(sc) for _ in range(reps)])
        following, _ = simpy_rate()
        curve.append(replace(row, reference=(previous + following) / 2))
        previous = following

    def summary_json(s: Summary) -> dict[str, Any]:
        return {
            "scale": s.scale,
            "orders": s.orders,
            "demand_s": s.demand,
            "setup_s": s.setup,
            "build_s": s.build,
            "run_s": s.run,
            "kpi_s": s.kpi,
            "total_s": s.total,
            "orders_per_s": s.orders_per_s,
            "run_orders_per_s": s.run_orders_per_s,
            "simpy_reference": s.reference,
            "ratio": s.ratio,
            "run_ratio": s.run_ratio,
            "samples": [asdict(x) for x in s.samples],
        }

    res: dict[str, Any] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scenario": {"name": scenario.name, "path": os.path.relpath(path, ROOT)},
        "reps": reps,
        "quick": quick,
        "replication": REPLICATION,
        "env": {
            "python": platform.python_version(),
            "simpy": simpy.__version__,
            "numpy": np.__version__,
            "machine": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(),
        },
        "replication_timing": summary_json(main),
        "simpy": {
            "timeouts": SIMPY_TIMEOUTS,
            "before": before,
            "after": after,
            "reference": ref,
            "drift": after / before - 1.0,
            "before_samples": before_all,
            "after_samples": after_all,
        },
        "targets": {
            "ratio": {
                "value": ratio,
                "target": TARGET_RATIO,
                "verdict": verdict(ratio, TARGET_RATIO),
            },
            "orders_per_s": {
                "value": main.orders_per_s,
                "target": TARGET_ORDERS_PER_S,
                "verdict": verdict(main.orders_per_s, TARGET_ORDERS_PER_S),
            },
        },
        "memory": memory
        | {
            "rss_bytes_per_order": memory["rss_growth"] / main.orders,
            **(
                {"tracemalloc_peak_bytes_per_order": memory["tracemalloc_peak"] / main.orders}
                if "tracemalloc_peak" in memory
                else {}
            ),
        },
        "scale_curve": [summary_json(s) for s in curve],
    }
    print_report(res, main, curve)
    return res


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 whatever the verdicts, 2 if the scenario or model fails."""
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child_measure(str(args.scenario), args.child)))
        return 0
    try:
        res = benchmark(args.scenario, args.reps, args.quick)
    except TwinError as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        if args.scenario == DEFAULT_SCENARIO and not DEFAULT_SCENARIO.exists():
            print("(no flagship yet? try --scenario scenarios/tiny.yaml)", file=sys.stderr)
        return 2
    write_results("latest", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
