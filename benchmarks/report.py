"""Benchmark the run report: what recording traces costs, how big they are, how fast it renders.

Usage: `python benchmarks/report.py [--scenario PATH] [--reps N] [--workers W]` (in `make bench`).

- recording overhead: CPU time of one replication with the sampler on against the same
  replication with it switched off, interleaved in one process (paired ratios, median), plus the
  CPU time of building the `Trace` from the record;
- traces: bytes per replication and for all N, and the peak memory tracemalloc sees while N traces
  are stacked for the report;
- render: CPU time of `run_report.render` over N replications, and the size of the HTML.

Targets (issue 12): recording < 10 % of a replication, render < 5 s CPU for 20 flagship
replications, report < 5 MB, traces of 20 replications < 300 MB. Reported as PASS/MISS, never
as an exit code.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Generator
from pathlib import Path

import simpy

from twin.config import load_scenario
from twin.experiments.runner import replicate
from twin.experiments.trace import trace_of
from twin.model import sampler
from twin.model.world import simulate
from twin.report.results_io import results_of
from twin.report.run_report import render

ROOT = Path(__file__).resolve().parent.parent


def _cpu(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def recording_overhead(scenario, pairs: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Median of paired CPU ratios (sampler on ÷ off) and the trace-building time."""
    original = sampler.Sampler.process

    def silent(self: sampler.Sampler, env: simpy.Environment) -> Generator[simpy.Event, None, None]:
        yield env.timeout(0)

    ratios, on_times, trace_times = [], [], []
    simulate(scenario, 0)  # warm-up: imports, caches
    for _ in range(pairs):
        sampler.Sampler.process = silent  # type: ignore[method-assign]
        try:
            off, _ = _cpu(lambda: simulate(scenario, 0))
        finally:
            sampler.Sampler.process = original  # type: ignore[method-assign]
        on, record = _cpu(lambda: simulate(scenario, 0))
        build, _ = _cpu(lambda: trace_of(record))  # noqa: B023
        ratios.append((on + build) / off)
        on_times.append(on)
        trace_times.append(build)
    return {
        "ratio": statistics.median(ratios),
        "replication_s": statistics.median(on_times),
        "trace_s": statistics.median(trace_times),
    }


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "flagship_live_sale.yaml"))
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)

    over = recording_overhead(scenario, args.pairs)
    result = replicate(scenario, args.reps, workers=args.workers)
    per_rep = result.traces[0].nbytes
    tracemalloc.start()
    results = results_of(result)
    _, stack_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    render(results)  # warm-up: matplotlib's first figure loads fonts
    render_s, html = _cpu(lambda: render(results))
    size = len(str(html).encode())

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    total_mb = per_rep * args.reps / 1e6
    print(f"report benchmark: {scenario.name}, {args.reps} replications")
    print(
        f"  recording     CPU on/off {over['ratio']:.3f} (median of {args.pairs} pairs; "
        f"replication {over['replication_s']:.2f} s, trace {over['trace_s']:.3f} s)  "
        f"target < 1.10  {verdict(over['ratio'] < 1.10)}"
    )
    print(
        f"  traces        {per_rep / 1e3:,.0f} kB per replication, {total_mb:,.1f} MB for "
        f"{args.reps}; stacking peak {stack_peak / 1e6:,.1f} MB  target < 300 MB  "
        f"{verdict(total_mb + stack_peak / 1e6 < 300)}"
    )
    print(
        f"  render        {render_s:.2f} s CPU  target < 5 s  {verdict(render_s < 5.0)}"
    )
    print(f"  report size   {size / 1e6:.2f} MB  target < 5 MB  {verdict(size < 5e6)}")


if __name__ == "__main__":
    main()
