"""Snapshot ingest: good CSV/JSON files load; any bad row rejects its file and changes nothing.

The tests that check the store is unchanged run against SQLite, and against PostgreSQL too when
`TWIN_TEST_POSTGRES_URL` names a server.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from twin.config import load_scenario
from twin.errors import StoreError
from twin.model.world import network_info
from twin.operate.cli import operate_app
from twin.operate.ingest import (
    MAX_SHOWN,
    check_rows,
    ingest_files,
    read_snapshot_file,
    write_snapshot,
)
from twin.operate.store import Store, open_store
from twin.operate.tables import TABLES

REPO = Path(__file__).resolve().parents[2]

SAMPLE: dict[str, list[dict[str, Any]]] = {
    "clock": [{"time": 36.6}],
    "stock": [
        {"site": "fwd_north", "sku": "lipstick", "units": 12},
        {"site": "central", "sku": "lipstick", "units": 0},
        {"site": "central", "sku": "serum", "units": 900},
    ],
    "orders": [
        {
            "order_id": "o17",
            "line": 0,
            "site": "fwd_north",
            "sku": "lipstick",
            "units": 2,
            "status": "waiting",
            "created": 0.1 + 0.2,
            "release": 1 / 3,
            "promised": 1e-300,
        },
        {
            "order_id": "o9",
            "line": 1,
            "site": "",
            "sku": "serum",
            "units": 1,
            "status": "presale",
            "created": -2.5,
            "release": 48.0,
            "promised": 1e6,
        },
    ],
    "shipments": [
        {
            "shipment_id": "s2",
            "origin": "central",
            "destination": "fwd_north",
            "sku": "serum",
            "units": 30,
            "status": "requested",
        },
        {
            "shipment_id": "s1",
            "origin": "",
            "destination": "fwd_south",
            "sku": "serum",
            "units": 5,
            "status": "moving",
        },
    ],
    "production": [{"factory": "factory", "sku": "serum", "units": 400}],
    "factories": [{"factory": "factory", "elastic": "pending"}],
    "components": [
        {"factory": "factory", "component": "tube", "on_hand": 100, "on_order": 0},
        {"factory": "factory", "component": "cap, red", "on_hand": 0, "on_order": 250},
    ],
    "suppliers": [
        {
            "supplier": "acme",
            "tier": "strategic",
            "status": "up",
            "lead_time_mean": 72.25,
            "moq": 500,
            "components": "tube;cap, red",
        },
    ],
    "warehouses": [
        {"warehouse": "central", "status": "open", "pick_wait": 0.0},
        {"warehouse": "fwd_north", "status": "closed", "pick_wait": 0.1 + 0.2},
    ],
    "signals": [
        {"name": "live_event", "value": 'launch "night"'},
        {"name": "order_rate:serum", "value": repr(12.345678901234567)},
    ],
}

STOCK_HEADER = "site,sku,units\n"


@pytest.fixture
def filled(store: Store, tmp_path: Path) -> Store:
    """A store holding SAMPLE, loaded from CSV files."""
    ingest_files(store, write_snapshot(SAMPLE, tmp_path / "base", "csv"))
    return store


def write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def rejected(store: Store, path: Path, message: str) -> None:
    """Ingesting `path` fails with exactly `message` and leaves the store as it was."""
    before = store.load_tables()
    with pytest.raises(StoreError) as info:
        ingest_files(store, [path])
    assert str(info.value) == message
    assert store.load_tables() == before


# good files


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_written_snapshot_ingests_to_exactly_the_same_tables(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    paths = write_snapshot(SAMPLE, tmp_path / "snap", fmt)  # type: ignore[arg-type]
    assert [p.name for p in paths] == [f"{name}.{fmt}" for name in TABLES]
    loaded = ingest_files(store, paths)
    assert loaded == [(name, len(rows)) for name, rows in SAMPLE.items()]
    tables = store.load_tables()
    assert tables == SAMPLE
    for name, rows in tables.items():
        for row, want in zip(rows, SAMPLE[name], strict=True):
            for column, value in row.items():
                assert type(value) is type(want[column])
                assert repr(value) == repr(want[column])  # floats bit for bit


def test_written_floats_use_repr(tmp_path: Path) -> None:
    (path,) = write_snapshot({"clock": [{"time": np.float64(0.1) + 0.2}]}, tmp_path, "csv")
    assert path.read_text() == "time\n0.30000000000000004\n"
    (path,) = write_snapshot(
        {"stock": [{"site": "a", "sku": "b", "units": np.int64(3)}]}, tmp_path, "json"
    )
    assert json.loads(path.read_text()) == [{"site": "a", "sku": "b", "units": 3}]


def test_a_hand_written_csv_loads_with_columns_in_any_order(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "stock.csv",
        "\ufeffunits, sku ,site\r\n5,serum,central\r\n\r\n7,lipstick,fwd_north\r\n",
    )
    assert read_snapshot_file(path) == (
        "stock",
        [
            {"site": "central", "sku": "serum", "units": 5},
            {"site": "fwd_north", "sku": "lipstick", "units": 7},
        ],
    )
    ingest_files(store, [path])
    assert store.load_tables()["stock"] == read_snapshot_file(path)[1]


def test_a_hand_written_json_file_loads(tmp_path: Path) -> None:
    rows = [{"time": 12}]
    path = write(tmp_path / "clock.json", json.dumps(rows))
    assert read_snapshot_file(path) == ("clock", [{"time": 12.0}])


def test_a_file_replaces_its_table_only(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "new" / "stock.csv", STOCK_HEADER + "fwd_south,serum,4\n")
    ingest_files(filled, [path])
    assert filled.load_tables() == {
        **SAMPLE,
        "stock": [{"site": "fwd_south", "sku": "serum", "units": 4}],
    }


def test_a_header_alone_empties_the_table(filled: Store, tmp_path: Path) -> None:
    ingest_files(
        filled, [write(tmp_path / "new" / "orders.csv", ",".join(TABLES["orders"]) + "\n")]
    )
    assert filled.load_tables() == {**SAMPLE, "orders": []}


# one test per kind of bad row: the exact message, and the store as it was


def test_wrong_type(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad" / "stock.csv", STOCK_HEADER + "central,serum,ten\n")
    rejected(filled, path, f"{path}: line 2, column units (='ten') must be a whole number >= 0")
    path = write(
        tmp_path / "bad" / "suppliers.csv",
        "supplier,tier,status,lead_time_mean,moq,components\nacme,agile,up,soon,5,cap\n",
    )
    rejected(
        filled,
        path,
        f"{path}: line 2, column lead_time_mean (='soon') must be a finite number >= 0",
    )
    path = write(tmp_path / "bad" / "stock.json", '[{"site": "a", "sku": "b", "units": "3"}]')
    rejected(filled, path, f"{path}: row 1, column units (='3') must be a whole number >= 0")
    path = write(tmp_path / "bad" / "factories.json", '[{"factory": 7, "elastic": "on"}]')
    rejected(filled, path, f"{path}: row 1, column factory (=7) must be a string")


def test_a_fraction_of_a_unit_is_not_a_whole_number(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad" / "stock.csv", STOCK_HEADER + "central,serum,1.5\n")
    rejected(filled, path, f"{path}: line 2, column units (='1.5') must be a whole number >= 0")


def test_negative_units(filled: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "snap" / "stock.csv",
        STOCK_HEADER + "central,serum,3\nfwd_north,serum,0\nfwd_south,serum,-3\n",
    )
    rejected(filled, path, f"{path}: line 4, column units (='-3') must be a whole number >= 0")
    path = write(
        tmp_path / "snap" / "components.json",
        json.dumps([{"factory": "f", "component": "cap", "on_hand": 1, "on_order": -1}]),
    )
    rejected(filled, path, f"{path}: row 1, column on_order (=-1) must be a whole number >= 0")


def test_bad_choice(filled: Store, tmp_path: Path) -> None:
    header = ",".join(TABLES["orders"]) + "\n"
    path = write(tmp_path / "bad" / "orders.csv", header + "o1,0,central,serum,1,shipped,0,0,0\n")
    rejected(
        filled,
        path,
        f"{path}: line 2, column status (='shipped') must be one of 'waiting', 'presale'",
    )


def test_missing_column(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad" / "stock.csv", "site,sku\ncentral,serum\n")
    rejected(
        filled,
        path,
        f"{path}: line 1, column units is missing (table stock has columns site, sku, units)",
    )
    path = write(tmp_path / "bad" / "stock.json", '[{"site": "a", "sku": "b"}]')
    rejected(filled, path, f"{path}: row 1, column units is missing")


def test_unknown_column(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad" / "stock.csv", "site,sku,units,colour\ncentral,serum,1,red\n")
    rejected(
        filled,
        path,
        f"{path}: line 1, column colour is not a column of table stock "
        "(its columns: site, sku, units)",
    )
    path = write(tmp_path / "bad" / "stock.json", '[{"site": "a", "sku": "b", "unit": 1}]')
    rejected(
        filled,
        path,
        f"{path}: row 1, column unit is not a column of table stock; "
        "did you mean 'units'?\n"
        f"{path}: row 1, column units is missing",
    )


def test_unknown_table(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad" / "stok.csv", STOCK_HEADER + "central,serum,1\n")
    rejected(
        filled,
        path,
        f"{path}: no snapshot table is called 'stok' (did you mean 'stock'?); "
        "a file is named after its table: clock, stock, orders, shipments, "
        "production, factories, components, suppliers, warehouses, signals",
    )
    path = write(tmp_path / "bad" / "stock.txt", STOCK_HEADER)
    rejected(filled, path, f"{path}: a snapshot file must end in .csv or .json")


def test_empty_required_string(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad" / "stock.csv", STOCK_HEADER + "central,,1\n")
    rejected(filled, path, f"{path}: line 2, column sku (='') must not be empty")
    header = ",".join(TABLES["orders"]) + "\n"
    path = write(tmp_path / "bad" / "orders.csv", header + "o1,0,,serum,1,waiting,0,0,0\n")
    rejected(
        filled,
        path,
        f"{path}: line 2, column site (='') must not be empty unless status is presale",
    )
    path = write(tmp_path / "bad" / "factories.csv", "factory,elastic\n  ,on\n")
    rejected(filled, path, f"{path}: line 2, column factory (='  ') must not be blank")


def test_two_clock_rows(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad" / "clock.csv", "time\n36\n48\n")
    rejected(filled, path, f"{path}: has 2 data rows; table clock must have exactly one")
    path = write(tmp_path / "bad" / "clock.json", "[]")
    rejected(filled, path, f"{path}: has 0 data rows; table clock must have exactly one")


def test_duplicate_order_line(filled: Store, tmp_path: Path) -> None:
    header = ",".join(TABLES["orders"]) + "\n"
    row = "o1,0,central,serum,1,waiting,0,0,0\n"
    path = write(
        tmp_path / "bad" / "orders.csv", header + row + "o2,0,central,serum,1,waiting,0,0,0\n" + row
    )
    rejected(
        filled,
        path,
        f"{path}: line 4, columns order_id, line (='o1', '0') repeats line 2: "
        "one row per (order_id, line)",
    )


def test_wrong_number_of_values(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad" / "stock.csv", STOCK_HEADER + "central,serum\n")
    rejected(filled, path, f"{path}: line 2 has 2 values; the header names 3 columns")


def test_bad_csv_quoting(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad" / "stock.csv", STOCK_HEADER + 'central,"ser"um,1\n')
    rejected(filled, path, f"{path}: line 2 is not valid CSV (',' expected after '\"')")


def test_not_a_list_of_objects(filled: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bad" / "stock.json", '{"site": "a"}')
    rejected(filled, path, f"{path}: must be a JSON list of objects, one per row")
    path = write(tmp_path / "bad" / "stock.json", '[["a", "b", 1]]')
    rejected(filled, path, f"{path}: row 1 must be an object with keys site, sku, units")
    path = write(tmp_path / "bad" / "stock.json", '[{"site": "a",')
    rejected(
        filled,
        path,
        f"{path}: is not valid JSON (Expecting property name enclosed in "
        "double quotes at line 1, character 15)",
    )


def test_bad_signals(filled: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad" / "signals.csv",
        "name,value\nlive_event,launch\nmood,happy\norder_rate:serum,-2\n",
    )
    rejected(
        filled,
        path,
        f"{path}: line 3, column name (='mood') must be live_event or "
        "order_rate:<sku>\n"
        f"{path}: line 4, column value (='-2') must be a finite number >= 0 "
        "(units/h) for an order_rate signal",
    )


def test_unknown_names_when_a_scenario_is_given(filled: Store, tmp_path: Path) -> None:
    network = network_info(load_scenario(REPO / "scenarios" / "tiny.yaml"))
    path = write(
        tmp_path / "bad" / "stock.csv",
        STOCK_HEADER + "central,serum,1\nfwd_nort,serum,1\nmoon,rouge,1\n",
    )
    before = filled.load_tables()
    with pytest.raises(StoreError) as info:
        ingest_files(filled, [path], network)
    assert str(info.value) == (
        f"{path}: line 3, column site (='fwd_nort') is not a warehouse in the scenario; "
        "did you mean 'fwd_north'?\n"
        f"{path}: line 4, column site (='moon') is not a warehouse in the scenario "
        "(known: central, fwd_north, fwd_south)\n"
        f"{path}: line 4, column sku (='rouge') is not a SKU in the scenario "
        "(known: lipstick, serum)"
    )
    assert filled.load_tables() == before
    good = write(tmp_path / "good" / "stock.csv", STOCK_HEADER + "central,serum,1\n")
    ingest_files(filled, [good], network)


def test_every_bad_row_is_counted_and_the_first_ones_shown(filled: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad" / "stock.csv",
        STOCK_HEADER + "".join(f"w{i},serum,-1\n" for i in range(MAX_SHOWN + 5)),
    )
    before = filled.load_tables()
    with pytest.raises(StoreError) as info:
        ingest_files(filled, [path])
    lines = str(info.value).splitlines()
    assert len(lines) == MAX_SHOWN + 1
    assert lines[0] == f"{path}: line 2, column units (='-1') must be a whole number >= 0"
    assert lines[-1] == f"{path}: ... and 5 more problems"
    assert filled.load_tables() == before


# several files


def test_a_bad_second_file_leaves_the_first_ingested(filled: Store, tmp_path: Path) -> None:
    good = write(tmp_path / "snap" / "stock.csv", STOCK_HEADER + "fwd_south,serum,4\n")
    bad = write(tmp_path / "snap" / "clock.csv", "time\n-1\n")
    later = write(tmp_path / "snap" / "factories.csv", "factory,elastic\nfactory,on\n")
    with pytest.raises(StoreError) as info:
        ingest_files(filled, [good, bad, later])
    assert str(info.value) == f"{bad}: line 2, column time (='-1') must be a finite number >= 0"
    assert filled.load_tables() == {
        **SAMPLE,
        "stock": [{"site": "fwd_south", "sku": "serum", "units": 4}],
    }


def test_two_files_for_one_table_are_refused_before_any_load(filled: Store, tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "stock.csv", STOCK_HEADER + "central,serum,1\n")
    second = write(tmp_path / "b" / "stock.json", "[]")
    before = filled.load_tables()
    with pytest.raises(StoreError) as info:
        ingest_files(filled, [first, second])
    assert str(info.value) == f"{first} and {second} both fill table stock; give one file per table"
    assert filled.load_tables() == before


# writing


def test_write_snapshot_checks_the_rows(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        write_snapshot({"stock": [{"site": "a", "sku": "b", "units": 1.0}]}, tmp_path / "s")
    assert str(info.value) == (
        f"{tmp_path}/s/stock.csv: row 1, column units (=1.0) must be a whole number >= 0"
    )
    assert not (tmp_path / "s").exists()
    with pytest.raises(StoreError) as info:
        write_snapshot({}, tmp_path / "s", "xml")  # type: ignore[arg-type]
    assert str(info.value) == "unknown snapshot format 'xml'; use csv or json"


def test_check_rows_types_python_values() -> None:
    assert check_rows("clock", [{"time": np.float32(1.5)}]) == [{"time": 1.5}]
    with pytest.raises(StoreError) as info:
        check_rows("clock", [{"time": math.nan}])
    assert str(info.value) == "clock: row 1, column time (=nan) must be a finite number >= 0"


# the command


def test_the_ingest_command_says_what_it_loaded(tmp_path: Path) -> None:
    paths = write_snapshot(SAMPLE, tmp_path / "snap")
    db = tmp_path / "live.db"
    result = CliRunner().invoke(operate_app, ["ingest", "--db", str(db), *map(str, paths)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        f"{paths[0]}: 1 row into table clock",
        f"{paths[1]}: 3 rows into table stock",
    ]
    with open_store(db) as store:
        assert store.load_tables() == SAMPLE


def test_the_ingest_command_exits_2_on_a_bad_file(tmp_path: Path) -> None:
    good = write(tmp_path / "snap" / "clock.csv", "time\n1\n")
    bad = write(tmp_path / "snap" / "stock.csv", STOCK_HEADER + "central,serum,-3\n")
    db = tmp_path / "live.db"
    result = CliRunner().invoke(operate_app, ["ingest", "--db", str(db), str(good), str(bad)])
    assert result.exit_code == 2
    assert result.stdout == f"{good}: 1 row into table clock\n"
    assert result.stderr == (
        f"error: {bad}: line 2, column units (='-3') must be a whole number >= 0\n"
    )
    assert "Traceback" not in result.output
    with open_store(db) as store:
        assert store.load_tables()["clock"] == [{"time": 1.0}]
        assert store.load_tables()["stock"] == []


def test_the_ingest_command_exits_2_on_an_unreachable_store(tmp_path: Path) -> None:
    path = write(tmp_path / "clock.csv", "time\n1\n")
    result = CliRunner().invoke(
        operate_app, ["ingest", "--db", str(tmp_path / "no" / "live.db"), str(path)]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: sqlite:///{tmp_path}/no/live.db: unable to open database file\n"
    )


def test_the_ingest_command_checks_names_against_a_scenario(tmp_path: Path) -> None:
    path = write(tmp_path / "snap" / "stock.csv", STOCK_HEADER + "central,serum,1\nmoon,serum,2\n")
    db = tmp_path / "live.db"
    scenario = REPO / "scenarios" / "tiny.yaml"
    args = ["ingest", "--db", str(db), "--scenario", str(scenario), str(path)]
    result = CliRunner().invoke(operate_app, args)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: line 3, column site (='moon') is not a warehouse in the scenario "
        "(known: central, fwd_north, fwd_south)\n"
    )
    with open_store(db) as store:
        assert store.load_tables()["stock"] == []


def test_the_decide_command_records_what_it_prints(tmp_path: Path) -> None:
    from twin.operate.snapshot import state_from_tables
    from twin.operate.store import state_digest

    scenario = REPO / "scenarios" / "tiny.yaml"
    tables = {
        "clock": [{"time": 36.0}],
        "stock": [
            {"site": "central", "sku": "lipstick", "units": 500},
            {"site": "fwd_north", "sku": "lipstick", "units": 3},
        ],
        "factories": [{"factory": "factory", "elastic": "off"}],
    }
    db = tmp_path / "live.db"
    with open_store(db) as store:
        ingest_files(store, write_snapshot(tables, tmp_path / "snap"))
        state = state_from_tables(store.load_tables(), network_info(load_scenario(scenario)))
    args = ["decide", "--db", str(db), "--scenario", str(scenario)]
    result = CliRunner().invoke(operate_app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed, "the tiny scenario's policies order stock for this snapshot"
    with open_store(db) as store:
        recorded = store.decisions()
    assert [
        {"time": d["time"], "policy": d["policy"], "type": d["type"], **d["payload"]}
        for d in recorded
    ] == printed
    assert {d["inputs_digest"] for d in recorded} == {state_digest(state)}

    result = CliRunner().invoke(operate_app, [*args, "--at", "2d"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["time", "policy", "type", "fields"]
    assert all(line.startswith("48 ") for line in lines[1:-1])
    assert lines[-1].startswith(f"{len(printed)} decisions by 3 policies at t=48 h, recorded in ")


def test_the_decide_command_exits_2_on_an_empty_store(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    args = ["decide", "--db", str(db), "--scenario", str(REPO / "scenarios" / "tiny.yaml")]
    result = CliRunner().invoke(operate_app, args)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: sqlite:///{db}: holds no snapshot (its clock table is empty); load one first "
        "with `twin operate ingest --db URL clock.csv stock.csv ...`\n"
    )
