"""Determinism and common random numbers (DESIGN §3, §8).

A replication is a pure function of (scenario, index): the same seed gives the same KPIs, the
number of worker processes changes nothing in kpis.csv, and adding a warehouse leaves every
region's demand untouched while the outcome changes.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from twin.config import Scenario, load_scenario, scenario_from_data
from twin.experiments import replicate, run_replication, write_outputs
from twin.model.world import World

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
BOOK_COLUMNS = ("time", "region", "sku", "quantity", "channel")


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return load_scenario(TINY)


def same(a: dict[str, float], b: dict[str, float]) -> bool:
    """Equal KPI dicts, NaN equal to NaN, no tolerance."""
    return a.keys() == b.keys() and all(
        (math.isnan(x) and math.isnan(b[k])) or x == b[k] for k, x in a.items()
    )


def test_same_seed_same_kpis(tiny: Scenario) -> None:
    first = run_replication(tiny, 1)
    second = run_replication(tiny, 1)
    assert first.replication == second.replication == 1
    assert first.seed == second.seed == 7
    assert same(first.kpis, second.kpis)


def test_other_replication_or_seed_other_kpis(tiny: Scenario) -> None:
    base = run_replication(tiny, 0).kpis
    assert not same(base, run_replication(tiny, 1).kpis)
    reseeded = tiny.model_copy(update={"seed": 8})
    assert not same(base, run_replication(reseeded, 0).kpis)


def test_trace_does_not_change_kpis(tiny: Scenario) -> None:
    for rep in range(8):
        with_trace = run_replication(tiny, rep, trace=True)
        assert with_trace.trace is not None
        assert same(with_trace.kpis, run_replication(tiny, rep).kpis), rep


def test_kpis_csv_identical_for_one_or_two_workers(tiny: Scenario, tmp_path: Path) -> None:
    serial = replicate(tiny, 4, workers=1)
    parallel = replicate(tiny, 4, workers=2)
    pd.testing.assert_frame_equal(serial.kpis, parallel.kpis, check_exact=True)
    a = write_outputs(serial, tmp_path / "w1")
    b = write_outputs(parallel, tmp_path / "w2")
    assert a["kpis"].read_bytes() == b["kpis"].read_bytes()
    assert a["summary"].read_bytes() == b["summary"].read_bytes()
    # and at full precision, not only at the 10 digits the CSV keeps
    assert serial.kpis.to_csv(index=False) == parallel.kpis.to_csv(index=False)
    assert serial.kpis["replication"].tolist() == [0, 1, 2, 3]


# --- common random numbers ----------------------------------------------------------------------


def with_extra_forward(data: dict[str, Any]) -> dict[str, Any]:
    """tiny plus a forward warehouse near the west region, supplied by central, serving west."""
    data = copy.deepcopy(data)
    data["sites"]["fwd_west"] = {
        "kind": "warehouse",
        "role": "forward",
        "location": [-20, 0],
        "initial_stock": 200,
        "pick_pack": {"workers": 2, "rate": 20},
        "inbound_handling": "30min",
    }
    data["lanes"] += [
        {
            "from": "central",
            "to": "fwd_west",
            "transit": {"dist": "lognormal", "mean": "6h", "cv": 0.3},
            "cost_per_shipment": 30,
        },
        {
            "from": "fwd_west",
            "to": "west",
            "transit": {"dist": "gamma", "mean": "6h", "cv": 0.4},
            "cost_per_shipment": 3,
        },
    ]
    return data


@pytest.fixture(scope="module")
def designs() -> tuple[Scenario, Scenario]:
    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    base = scenario_from_data(data, "tiny")
    bigger = scenario_from_data(with_extra_forward(data), "tiny+fwd_west")
    assert (
        len(bigger.sites_of("warehouse", "forward"))
        == len(base.sites_of("warehouse", "forward")) + 1
    )
    return base, bigger


@pytest.mark.parametrize("rep", [0, 3])
def test_adding_a_warehouse_keeps_every_regions_demand(
    designs: tuple[Scenario, Scenario], rep: int
) -> None:
    base, bigger = designs
    a, b = World(base, rep).book, World(bigger, rep).book
    assert len(a) > 100
    for column in BOOK_COLUMNS:
        assert np.array_equal(getattr(a, column), getattr(b, column)), column
    # returns are drawn with demand, so they are shared too
    assert np.array_equal(a.return_units, b.return_units)
    assert np.array_equal(a.return_lag, b.return_lag)
    assert [(p.name, p.uplift) for p in World(base, rep).pulses] == [
        (p.name, p.uplift) for p in World(bigger, rep).pulses
    ]


def test_adding_a_warehouse_changes_the_outcome(designs: tuple[Scenario, Scenario]) -> None:
    base, bigger = designs
    a, b = run_replication(base, 0).kpis, run_replication(bigger, 0).kpis
    assert a["orders"] == b["orders"]
    assert a["units_demanded"] == b["units_demanded"]
    assert not same(a, b)
    # west is now served from a nearby forward warehouse: faster deliveries, more stock held
    assert b["lead_time_p50"] != a["lead_time_p50"]
    assert b["cost_holding"] > a["cost_holding"]


def test_other_seed_other_demand(designs: tuple[Scenario, Scenario]) -> None:
    base, _ = designs
    reseeded = base.model_copy(update={"seed": base.seed + 1})
    assert not np.array_equal(World(base, 0).book.time[:50], World(reseeded, 0).book.time[:50])
