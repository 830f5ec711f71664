"""Snapshot ingest at scale: time and peak memory of `twin operate ingest` on a 1 M-row file.

Issue 13 asks for a 1 M-row snapshot to ingest in < 300 MB: ingest streams the file, checks each
row and inserts in batches in one transaction, with key uniqueness checked by the database, so
memory should not grow with the file. This writes a shipments file of `--rows` distinct rows
(CSV, or JSON with `--json`), then ingests it into a new store in a fresh process, which reports
its wall time and its peak RSS (`ru_maxrss`, including the interpreter and imports; the RSS after
imports is shown too). A second, failing run (the last row repeats the first's id) checks that
the refusal costs about the same and leaves the store as it was.

    .venv/bin/python benchmarks/ingest.py                 # 1 M rows, CSV, SQLite
    .venv/bin/python benchmarks/ingest.py --json --rows 200000
    .venv/bin/python benchmarks/ingest.py --db postgresql://twin@127.0.0.1/twin_bench

Exit code 2 only if the benchmark cannot run; missing the target never fails it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import write_results

TARGET_MB = 300.0
COLUMNS = ("shipment_id", "origin", "destination", "sku", "units", "status")


def write_file(path: Path, rows: int, as_json: bool, repeat_last: bool = False) -> None:
    """A shipments file of `rows` distinct rows; with `repeat_last`, the last repeats row 1's id."""

    def row(i: int) -> dict[str, Any]:
        sid = 0 if repeat_last and i == rows - 1 else i
        return {
            "shipment_id": f"ship-{sid:09d}",
            "origin": "central" if i % 4 else "",
            "destination": ("fwd_north", "fwd_south")[i % 2],
            "sku": ("serum", "lipstick", "mascara")[i % 3],
            "units": i % 97 + 1,
            "status": "requested" if i % 4 else "moving",
        }

    with path.open("w", encoding="utf-8") as fh:
        if as_json:
            fh.write("[\n")
            for i in range(rows):
                fh.write(json.dumps(row(i)) + (",\n" if i < rows - 1 else "\n"))
            fh.write("]\n")
        else:
            fh.write(",".join(COLUMNS) + "\n")
            for i in range(rows):
                r = row(i)
                fh.write(",".join(str(r[c]) for c in COLUMNS) + "\n")


def child(db: str, path: str) -> None:
    """Ingest one file (in a fresh process) and print JSON figures on stdout."""
    from twin.errors import StoreError
    from twin.operate.ingest import ingest_files
    from twin.operate.store import open_store

    after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    error = None
    rows = 0
    with open_store(db) as store:
        try:
            rows = ingest_files(store, [path])[0][1]
        except StoreError as exc:
            error = str(exc)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the count below
        stored = len(store.load_tables()["shipments"]) if error else rows
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "rss_after_imports_mb": after_imports / 1024,
                "peak_rss_mb": peak / 1024,
                "error": error,
                "rows_in_store_after": stored,
            }
        )
    )


def measure(db: str, path: Path) -> dict[str, Any]:
    """Run `child` in a fresh process; its figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", db, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        raise SystemExit(2)
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="a JSON file instead of CSV")
    parser.add_argument("--db", help="a store URL (default: a new SQLite file in a temp folder)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        suffix = "json" if args.json else "csv"
        good, bad = folder / "good" / f"shipments.{suffix}", folder / "bad" / f"shipments.{suffix}"
        good.parent.mkdir()
        bad.parent.mkdir()
        start = time.perf_counter()
        write_file(good, args.rows, args.json)
        write_file(bad, args.rows, args.json, repeat_last=True)
        print(f"wrote 2 files of {args.rows} rows in {time.perf_counter() - start:.1f} s")
        db = args.db or str(folder / "live.db")
        size_mb = good.stat().st_size / 2**20
        ok = measure(db, good)
        failed = measure(db, bad)
    results = {
        "rows": args.rows,
        "format": suffix,
        "file_mb": size_mb,
        "store": "sqlite" if args.db is None else args.db.split("://")[0],
        "ingest": ok,
        "failed_ingest": failed,
        "target_mb": TARGET_MB,
    }
    print(f"{'':16}{'rows':>10}{'seconds':>10}{'rows/s':>10}{'peak RSS':>11}{'after imports':>15}")
    for label, fig in (("ingest", ok), ("refused ingest", failed)):
        rate = args.rows / fig["seconds"]
        print(
            f"{label:16}{args.rows:>10}{fig['seconds']:>10.1f}{rate:>10.0f}"
            f"{fig['peak_rss_mb']:>8.0f} MB{fig['rss_after_imports_mb']:>12.0f} MB"
        )
    print(f"file: {size_mb:.0f} MB of {suffix.upper()}")
    print(
        f"refused: {(failed['error'] or '').splitlines()[0] if failed['error'] else 'NOT REFUSED'}"
    )
    print(
        f"rows in the store after the refusal: {failed['rows_in_store_after']} (want {args.rows})"
    )
    worst = max(ok["peak_rss_mb"], failed["peak_rss_mb"])
    verdict = "PASS" if worst < TARGET_MB else "MISS"
    print(f"peak RSS {worst:.0f} MB < {TARGET_MB:.0f} MB: {verdict}")
    write_results("ingest", results)


if __name__ == "__main__":
    main()
