"""Operating mode makes the decisions the simulation made (issue 5's promise).

For reviews before, during and after the flagship's main pulse: the State the simulation gave a
policy is exported as snapshot files, ingested into a fresh store, and `twin operate decide` must
return exactly that policy's decisions. A second check holds `state_from_tables` to the
simulation's own `State` at every review of a whole run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.config import load_scenario
from twin.model.world import World
from twin.operate.ingest import write_snapshot
from twin.operate.snapshot import state_from_tables, tables_from_world
from twin.operate.store import Store
from twin.state import decision_to_dict

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "scenarios" / "flagship_live_sale.yaml"
# windows before, during and after the main pulse (double11_main starts at 9d 20h = 236 h)
WINDOWS = {"before": (220.0, 236.0), "during": (236.0, 244.0), "after": (280.0, 300.0)}


class RecordingWorld(World):
    """A world that exports its snapshot tables at reviews in the windows that decide something."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: dict[str, list[tuple[float, str, dict, list]]] = {w: [] for w in WINDOWS}

    def _review(self, name, period, policy):  # type: ignore[no-untyped-def]
        while True:
            state = self.snapshot()
            decisions = policy.decide(state)
            for window, (lo, hi) in WINDOWS.items():
                if lo <= self.env.now < hi and decisions and len(self.seen[window]) < 2:
                    self.seen[window].append(
                        (self.env.now, name, tables_from_world(self), decisions)
                    )
            self.execute(decisions, name)
            yield self.env.timeout(period)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_operate_decide_repeats_the_simulations_decisions(tmp_path: Path, fmt: str) -> None:
    scenario = load_scenario(FLAGSHIP)
    world = RecordingWorld(scenario, 1)
    world.run()
    picked = [review for reviews in world.seen.values() for review in reviews]
    assert all(len(reviews) == 2 for reviews in world.seen.values()), world.seen.keys()
    runner = CliRunner()
    for time, policy, tables, decisions in picked:
        folder = tmp_path / f"{fmt}-{time:g}-{policy}"
        files = write_snapshot(tables, folder, fmt)
        db = f"sqlite:///{tmp_path / f'{time:g}-{policy}-{fmt}.db'}"
        ingest = runner.invoke(app, ["operate", "ingest", "--db", db, *map(str, files)])
        assert ingest.exit_code == 0, ingest.output
        decide = runner.invoke(
            app, ["operate", "decide", "--db", db, "--scenario", str(FLAGSHIP), "--json"]
        )
        assert decide.exit_code == 0, decide.output
        live = [
            {k: v for k, v in row.items() if k not in ("time", "policy")}
            for row in json.loads(decide.stdout)
            if row["policy"] == policy
        ]
        assert live == [decision_to_dict(d) for d in decisions], (time, policy)
        assert live  # every picked review decided something: equal empty lists prove little


def test_snapshot_tables_give_the_simulations_state_at_every_review() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "tiny.yaml")
    checked = []

    class Checking(World):
        def _review(self, name, period, policy):  # type: ignore[no-untyped-def]
            while True:
                state = self.snapshot()
                assert state_from_tables(tables_from_world(self), self.info) == state, (
                    self.env.now,
                    name,
                )
                checked.append(self.env.now)
                self.execute(policy.decide(state), name)
                yield self.env.timeout(period)

    for rep in range(3):
        Checking(scenario, rep).run()
    assert len(checked) > 50


def test_snapshot_at_exports_what_ingest_reads(tmp_path: Path) -> None:
    runner = CliRunner()
    tiny = str(ROOT / "scenarios" / "tiny.yaml")
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", tiny, "--reps", "1", "--out", str(out), "--snapshot-at", "2d 2h"]
    )
    assert result.exit_code == 0, result.output
    files = sorted((out / "snapshot").glob("*.csv"))
    assert {f.stem for f in files} >= {"clock", "stock", "signals"}
    db = f"sqlite:///{tmp_path / 'store.db'}"
    ingest = runner.invoke(app, ["operate", "ingest", "--db", db, *map(str, files)])
    assert ingest.exit_code == 0, ingest.output
    decide = runner.invoke(app, ["operate", "decide", "--db", db, "--scenario", tiny, "--json"])
    assert decide.exit_code == 0, decide.output
    assert all(row["time"] == 50.0 for row in json.loads(decide.stdout))
    bad = runner.invoke(app, ["run", tiny, "--reps", "1", "--out", str(out), "--snapshot-at", "9d"])
    assert bad.exit_code == 2 and "snapshot time" in bad.output


def test_each_store_gives_back_the_same_state(store: Store) -> None:
    """SQLite and PostgreSQL (a fresh schema per test; skipped without a server)."""
    scenario = load_scenario(ROOT / "scenarios" / "tiny.yaml")
    world = World(scenario, 0)
    world.run_until(60.0)
    for name, rows in tables_from_world(world).items():
        store.replace_table(name, rows)
    assert state_from_tables(store.load_tables(), world.info) == world.snapshot()
