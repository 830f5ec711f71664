"""The hostile-input corpus: scenario files, `--set` and CLI values, snapshot files, special files.

Each case is a `twin` command line on inputs a pull request or another system could hand us. The
rule for every case: it ends by itself within `TIME_LIMIT_S`, is refused with exit 2 (or its
`expect`), prints no traceback, and its peak memory stays under `MEMORY_LIMIT_MB`. The suite runs every case
(`tests/hostile/test_corpus.py`); `python tests/hostile/corpus.py` prints the figures per class
(clean exits, tracebacks, hangs, peak memory). Add a case with every bug found.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
TIME_LIMIT_S = 60.0
"""A case that has not ended by then is a hang (and is killed)."""
MEMORY_LIMIT_MB = 1500.0
"""Peak resident memory a case may reach (the interpreter with numpy, pandas and OR-Tools is
about 200 MB)."""
ADDRESS_SPACE_CAP = 8 << 30
"""Hard cap on a case's address space, so a runaway case cannot take the machine down with it."""

Setup = Callable[[Path], list[str]]
"""Writes a case's files into a folder and returns the `twin` arguments that use them."""


@dataclass(frozen=True)
class Case:
    """One hostile input: its class, its name and how to set it up."""

    kind: str
    name: str
    setup: Setup
    expect: int = 2
    """The exit code the case must end with: a hostile input is refused (2)."""


@dataclass
class Outcome:
    """What a case did."""

    case: Case
    code: int | None
    seconds: float
    peak_mb: float
    stderr: str = ""
    stdout: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr + self.stdout

    @property
    def hung(self) -> bool:
        return self.code is None


def tiny_data() -> dict:
    with open(TINY, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _scenario(text: str, *extra: str, command: str = "validate") -> Setup:
    """A scenario file with `text`, then `twin COMMAND file EXTRA...`."""

    def setup(folder: Path) -> list[str]:
        path = folder / "scenario.yaml"
        path.write_text(text, encoding="utf-8")
        return [command, str(path), *extra]

    return setup


def _mutated(change: Callable[[dict], None], command: str = "validate", *extra: str) -> Setup:
    """tiny.yaml with `change` applied (as YAML), then `twin COMMAND file EXTRA...`."""
    data = tiny_data()
    change(data)
    return _scenario(yaml.safe_dump(data, allow_unicode=True), *extra, command=command)


def _set(path: str, value: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        keys = path.split(".")
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def _raw(path_text: str) -> Setup:
    """`twin validate` on a path (special files)."""
    return lambda _folder: ["validate", path_text]


def _fifo(folder: Path) -> list[str]:
    fifo = folder / "scenario.yaml"
    os.mkfifo(fifo)
    return ["validate", str(fifo)]


def _cli(*args: str) -> Setup:
    """`twin run tiny ARGS` (CLI values)."""
    return lambda folder: ["run", str(TINY), "--reps", "1", *[a.replace("{tmp}", str(folder)) for a in args]]


def _out_under_file(folder: Path) -> list[str]:
    blocker = folder / "a_file"
    blocker.write_text("x")
    return ["run", str(TINY), "--reps", "2", "--out", str(blocker / "out")]


def _snapshot(mutate: Callable[[Path], None]) -> Setup:
    """A valid tiny snapshot (made once per case), `mutate`d, then `twin operate ingest`."""

    def setup(folder: Path) -> list[str]:
        snap = folder / "snap"
        made = subprocess.run(
            [sys.executable, "-m", "twin", "run", str(TINY), "--reps", "1", "--snapshot-at",
             "1d", "--out", str(folder / "made")],
            capture_output=True, text=True, cwd=REPO, timeout=120,
        )
        assert made.returncode == 0, made.stderr
        shutil.copytree(folder / "made" / "snapshot", snap)
        mutate(snap)
        files = sorted(str(p) for p in snap.iterdir())
        return ["operate", "ingest", "--db", str(folder / "store.db"), *files]

    return setup


def _append(name: str, line: str) -> Callable[[Path], None]:
    def mutate(snap: Path) -> None:
        with (snap / name).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    return mutate


def _replace(name: str, data: bytes) -> Callable[[Path], None]:
    def mutate(snap: Path) -> None:
        (snap / name).write_bytes(data)

    return mutate


def _to_json(name: str, text: str) -> Callable[[Path], None]:
    def mutate(snap: Path) -> None:
        (snap / name).unlink()
        (snap / name.replace(".csv", ".json")).write_text(text, encoding="utf-8")

    return mutate


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
    f" *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
    f" *{chr(97 + i)}]\n"
    for i in range(9)
)
"""The billion laughs: ten aliases of ten aliases, nine deep (10^10 nodes from 1 KB)."""

HUGE = "9" * 5000
"""A 5000-digit integer, as text (Python refuses to convert more than 4300 digits)."""


def cases() -> list[Case]:
    """Every case of the corpus."""
    out: list[Case] = []

    def add(kind: str, name: str, setup: Setup) -> None:
        out.append(Case(kind, name, setup))

    # -- scenario files ------------------------------------------------------------------------
    add("scenario", "nested 900 deep", _scenario("a: " + "[" * 900 + "]" * 900 + "\n"))
    add("scenario", "billion laughs", _scenario(LAUGHS))
    add("scenario", "duplicate key", _scenario(TINY.read_text().replace("seed: 7", "seed: 7\nseed: 8")))
    add("scenario", "top-level list", _scenario("- 1\n- 2\n"))
    add("scenario", "empty file", _scenario(""))
    add("scenario", "not yaml", _scenario("a: [b\n  c: d: e\n"))
    add("scenario", "policy kind .x", _mutated(_set("policies.elastic.kind", ".x")))
    add("scenario", "policy kind ...", _mutated(_set("policies.elastic.kind", "...")))
    add("scenario", "policy kind importing a module", _mutated(_set("policies.elastic.kind", "antigravity.X")))
    for path in (
        "demand.baseline.orders_per_hour",
        "sites.north.weight",
        "skus.lipstick.order_size_mean",
        "demand.livestreams.launch.uplift.p90",
        "horizon",
        "sites.factory.capacity",
        "sites.central.pick_pack.workers",
    ):
        for value in (float("inf"), float("nan"), 1e308, 1e30, -1.0):
            add("scenario", f"{path}={value}", _mutated(_set(path, value), "run", "--reps", "1"))
    add("scenario", "lone surrogate SKU", _scenario(
        TINY.read_text().replace("  serum:", '  "\\ud83d":'), command="validate"))
    add("scenario", "review 1e-9h", _mutated(_set("policies.elastic.review", "1e-9h"), "run", "--reps", "1"))
    add("scenario", "horizon 100 years", _mutated(_set("horizon", "36500d"), "run", "--reps", "1"))
    add("scenario", "orders_per_hour 1e5", _mutated(
        _set("demand.baseline.orders_per_hour", 1e5), "run", "--reps", "1"))
    add("scenario", "unknown SKU in a policy level", _mutated(
        _set("policies.forward_replenishment.target", {"default": 250, "no_such_sku": 5})))
    add("scenario", "6 MB file", _scenario("# " + "x" * 6_000_000 + "\n" + TINY.read_text()))
    add("scenario", "5000-digit integer", _scenario(TINY.read_text().replace("seed: 7", f"seed: {HUGE}")))
    add("scenario", "long id", _mutated(lambda d: d["skus"].update({"s" * 100_000: {"unit_cost": 1, "price": 2}})))

    # -- special files ------------------------------------------------------------------------
    add("special", "/dev/zero", _raw("/dev/zero"))
    add("special", "/dev/urandom", _raw("/dev/urandom"))
    add("special", "a directory", lambda folder: ["validate", str(folder)])
    add("special", "a missing file", lambda folder: ["validate", str(folder / "nope.yaml")])
    add("special", "a FIFO", _fifo)

    # -- CLI and --set values -----------------------------------------------------------------
    for args in (
        ("--reps", "-1"), ("--reps", "0"), ("--reps", "1000000000000"), ("--reps", "abc"),
        ("--workers", "0"), ("--workers", "-3"), ("--workers", "64"),
        ("--set", "nonsense"), ("--set", "seed=-1"), ("--set", "horizon=inf"),
        ("--set", "sites.nowhere.x=1"), ("--set", "demand.baseline.orders_per_hour=1e400"),
        ("--out", "/dev/null/x"), ("--out", "{tmp}/" + "d" * 300),
        ("--scheduler", "not a url"), ("--precision", "-1"), ("--kpi", "nope", "--precision", "0.1"),
        ("--variant", "nope"), ("--seed", "-5"), ("--snapshot-at", "99d", "--out", "{tmp}/o"),
    ):
        add("cli", " ".join(args), _cli(*args))
    add("cli", "--out under a file", _out_under_file)

    # -- snapshot files -----------------------------------------------------------------------
    add("snapshot", "integer >= 2^63", _snapshot(_append("stock.csv", f"central,lipstick,{2**63}")))
    add("snapshot", "5000-digit integer", _snapshot(_append("stock.csv", f"central,serum,{HUGE}")))
    add("snapshot", "duplicate shipment_id", _snapshot(_append(
        "shipments.csv", "moving-fwd_north-0,,fwd_north,lipstick,42,moving")))
    add("snapshot", "duplicate signal", _snapshot(_append("signals.csv", "order_rate:lipstick,19.0")))
    add("snapshot", "lone surrogate in JSON", _snapshot(_to_json("signals.csv", '[{"name": "\\ud83d", "value": 1}]')))
    add("snapshot", "JSON nested 100k deep", _snapshot(_to_json("signals.csv", "[" * 100_000 + "]" * 100_000)))
    add("snapshot", "random bytes", _snapshot(_replace("stock.csv", os.urandom(4096))))
    add("snapshot", "empty file", _snapshot(_replace("stock.csv", b"")))
    add("snapshot", "non-finite units", _snapshot(_append("stock.csv", "central,lipstick,inf")))
    add("snapshot", "promised inf", _snapshot(_append(
        "orders.csv", "o-x,1,central,lipstick,1,waiting,1.0,1.0,inf")))
    return out


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


def run_case(case: Case, folder: Path) -> Outcome:
    """Run one case in a fresh process: its exit, time, peak memory (its own) and output."""
    argv = case.setup(folder)
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        preexec_fn=_limit_address_space,
        start_new_session=True,
    )
    texts: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda k=k, s=s: texts.__setitem__(k, s.read()), daemon=True)
        for k, s in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for reader in readers:
        reader.start()
    hung = False
    while True:  # wait4 gives this child's own peak memory, which Popen.wait does not
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > TIME_LIMIT_S:
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            hung = True
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=5)
    outcome = Outcome(
        case,
        None if hung else proc.returncode,
        time.monotonic() - start,
        usage.ru_maxrss / 1024.0,
        texts.get("err", b"").decode(errors="replace"),
        texts.get("out", b"").decode(errors="replace"),
    )
    if outcome.hung:
        outcome.problems.append(f"no exit within {TIME_LIMIT_S:g} s")
    elif outcome.code != case.expect:
        outcome.problems.append(f"exit code {outcome.code}, expected {case.expect}")
    if outcome.traceback:
        outcome.problems.append("a traceback")
    if outcome.peak_mb > MEMORY_LIMIT_MB:
        outcome.problems.append(f"peak memory {outcome.peak_mb:,.0f} MB")
    return outcome


def main() -> None:
    """Run the whole corpus and print the figures per class (one process per case)."""
    import tempfile

    by_kind: dict[str, list[Outcome]] = {}
    for case in cases():
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_case(case, Path(tmp))
        by_kind.setdefault(case.kind, []).append(outcome)
        mark = "ok " if not outcome.problems else "BAD"
        print(f"{mark} {case.kind:<9} {case.name:<48} exit {outcome.code}  {outcome.seconds:5.1f} s"
              + (f"  {'; '.join(outcome.problems)}" if outcome.problems else ""), flush=True)
    print()
    print(f"{'class':<10}{'cases':>6}{'clean':>7}{'tracebacks':>11}{'hangs':>7}{'max s':>7}"
          f"{'peak MB':>9}")
    for kind, outcomes in by_kind.items():
        print(
            f"{kind:<10}{len(outcomes):>6}{sum(not o.problems for o in outcomes):>7}"
            f"{sum(o.traceback for o in outcomes):>11}{sum(o.hung for o in outcomes):>7}"
            f"{max(o.seconds for o in outcomes):>7.1f}{max(o.peak_mb for o in outcomes):>9,.0f}"
        )


if __name__ == "__main__":
    main()
