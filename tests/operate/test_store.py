"""The live state store: every snapshot table round-trips exactly, replace and decisions, versions.

Every test that opens a store runs against SQLite, and against PostgreSQL too when
`TWIN_TEST_POSTGRES_URL` names a server (each test then gets a schema of its own, dropped after).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from twin.errors import StoreError
from twin.operate.store import (
    SCHEMA_VERSION,
    Store,
    open_store,
    parse_url,
    python_type,
    state_digest,
)
from twin.operate.tables import TABLES
from twin.state import State

SAMPLE: dict[str, list[dict[str, Any]]] = {
    "clock": [{"time": 36.6}],
    "stock": [
        {"site": "fwd_north", "sku": "lipstick", "units": 12},
        {"site": "central", "sku": "lipstick", "units": 0},
        {"site": "central", "sku": "serum", "units": 2**40},
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
        {"factory": "factory", "component": "cap", "on_hand": 0, "on_order": 250},
    ],
    "suppliers": [
        {
            "supplier": "acme",
            "tier": "strategic",
            "status": "up",
            "lead_time_mean": 72.25,
            "moq": 500,
            "components": "tube;cap",
        },
        {
            "supplier": "quick",
            "tier": "agile",
            "status": "down",
            "lead_time_mean": 0.1,
            "moq": 0,
            "components": "cap",
        },
    ],
    "warehouses": [{"warehouse": "central", "status": "open", "pick_wait": 1 / 3}],
    "signals": [
        {"name": "live_event", "value": "launch"},
        {"name": "order_rate:serum", "value": repr(12.345678901234567)},
    ],
}


def fill(store: Store) -> None:
    for name, rows in SAMPLE.items():
        store.replace_table(name, rows)


def test_sample_covers_every_table() -> None:
    assert list(SAMPLE) == list(TABLES)
    for name, rows in SAMPLE.items():
        for row in rows:
            assert tuple(row) == TABLES[name]


def test_a_new_store_has_every_table_empty(store: Store) -> None:
    assert store.load_tables() == {name: [] for name in TABLES}
    assert store.decisions() == []


def test_every_table_round_trips_exactly(store: Store) -> None:
    fill(store)
    loaded = store.load_tables()
    assert loaded == SAMPLE
    for name, rows in loaded.items():
        for row, want in zip(rows, SAMPLE[name], strict=True):
            assert list(row) == list(TABLES[name])  # columns in table order
            for column, value in row.items():
                assert type(value) is python_type(column), (name, column)
                if isinstance(value, float):
                    assert repr(value) == repr(want[column])  # bit for bit


def test_rows_come_back_in_the_order_they_were_given(store: Store) -> None:
    rows = [{"site": s, "sku": "x", "units": i} for i, s in enumerate("qzamb")]
    store.replace_table("stock", rows)
    assert store.load_tables()["stock"] == rows


def test_replace_table_replaces_only_that_table(store: Store) -> None:
    fill(store)
    new = [{"site": "fwd_south", "sku": "serum", "units": 7}]
    store.replace_table("stock", new)
    assert store.load_tables() == {**SAMPLE, "stock": new}
    store.replace_table("orders", [])
    assert store.load_tables() == {**SAMPLE, "stock": new, "orders": []}


def test_a_failed_replace_leaves_the_table_as_it_was(store: Store) -> None:
    fill(store)
    before = store.load_tables()
    good = {"site": "fwd_south", "sku": "serum", "units": 7}
    with pytest.raises(StoreError) as info:
        store.replace_table("stock", [good, {"site": "a", "sku": None, "units": 1}])
    assert str(info.value).startswith(f"{store.url}: ")
    assert store.load_tables() == before


def test_replace_table_refuses_unknown_tables_and_columns(store: Store) -> None:
    with pytest.raises(StoreError) as info:
        store.replace_table("stok", [])
    assert str(info.value) == (
        "no snapshot table is called 'stok'; the tables are "
        "clock, stock, orders, shipments, production, factories, components, suppliers, warehouses, signals"
    )
    with pytest.raises(StoreError) as info:
        store.replace_table("stock", [{"site": "a", "sku": "b"}])
    assert str(info.value) == "table stock: row 1 has columns site, sku; it needs site, sku, units"


def test_decisions_round_trip_in_order(store: Store) -> None:
    first = [
        {
            "type": "Transfer",
            "origin": "central",
            "destination": "fwd_north",
            "sku": "serum",
            "quantity": 40,
        },
        {"type": "ElasticActivation", "factory": "factory", "active": True},
    ]
    second = [
        {
            "type": "PurchaseOrder",
            "supplier": "acme",
            "component": "cap",
            "quantity": 500,
            "factory": "factory",
        }
    ]
    store.add_decisions(36.6, "forward", first, "a" * 64)
    store.add_decisions(0.1 + 0.2, "buyer", second, "b" * 64)
    store.add_decisions(40.0, "idle", [], "c" * 64)
    got = store.decisions()
    assert [d["id"] for d in got] == sorted(d["id"] for d in got)
    assert [(d["time"], d["policy"], d["type"], d["inputs_digest"]) for d in got] == [
        (36.6, "forward", "Transfer", "a" * 64),
        (36.6, "forward", "ElasticActivation", "a" * 64),
        (0.30000000000000004, "buyer", "PurchaseOrder", "b" * 64),
    ]
    assert [{"type": d["type"], **d["payload"]} for d in got] == first + second
    for d in got:
        assert datetime.fromisoformat(d["created_at"]).tzinfo is not None


def test_the_store_keeps_its_contents_when_reopened(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store)
        store.add_decisions(
            1.0, "p", [{"type": "ElasticActivation", "factory": "f", "active": False}], "d" * 64
        )
    with open_store(store_url) as store:
        assert store.load_tables() == SAMPLE
        assert [d["policy"] for d in store.decisions()] == ["p"]
        assert store.schema_version() == SCHEMA_VERSION


def test_a_store_of_another_schema_version_is_refused(store_url: str) -> None:
    with open_store(store_url) as store:
        shown = store.url
    engine = raw_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '999' WHERE key = 'schema_version'"))
    engine.dispose()
    with pytest.raises(StoreError) as info:
        open_store(store_url)
    assert str(info.value) == (
        f"{shown}: the store has schema version 999, this twin needs version {SCHEMA_VERSION}; "
        "use a new database and ingest the snapshot into it"
    )


def test_a_database_with_look_alike_tables_is_refused(store_url: str) -> None:
    engine = raw_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE stock (sku TEXT)"))
    engine.dispose()
    with pytest.raises(StoreError) as info:
        open_store(store_url)
    assert str(info.value).endswith(
        ": has tables named like twin's (stock) but no twin schema version: not a twin store; "
        "use another database"
    )


def raw_engine(url: str) -> Engine:
    """An engine on the store's database, past the store's own checks."""
    target = parse_url(url)
    if target.drivername == "postgresql":
        target = target.set(drivername="postgresql+psycopg")
    return create_engine(target)


def test_a_bare_path_is_an_sqlite_file(tmp_path: Any) -> None:
    assert parse_url(tmp_path / "x.db").render_as_string() == f"sqlite:///{tmp_path}/x.db"
    with open_store(tmp_path / "x.db") as store:
        assert store.url == f"sqlite:///{tmp_path}/x.db"
    assert (tmp_path / "x.db").exists()


def test_an_sqlite_file_that_cannot_be_opened_is_named(tmp_path: Any) -> None:
    with pytest.raises(StoreError) as info:
        open_store(tmp_path / "missing" / "live.db")
    assert str(info.value) == f"sqlite:///{tmp_path}/missing/live.db: unable to open database file"


def test_an_unreachable_server_is_named_without_its_password() -> None:
    with pytest.raises(StoreError) as info:
        open_store("postgresql://twin:s3cret@127.0.0.1:1/live")
    message = str(info.value)
    assert message.startswith("postgresql://twin:***@127.0.0.1:1/live: ")
    assert "s3cret" not in message
    assert len(message) > len("postgresql://twin:***@127.0.0.1:1/live: ")  # says why


def test_an_unknown_kind_of_database_is_named() -> None:
    with pytest.raises(StoreError) as info:
        open_store("oracle9://u:pw@host/db")
    assert str(info.value) == (
        "oracle9://u:***@host/db: unknown kind of database 'oracle9'; "
        "use sqlite:///FILE, postgresql://USER@HOST/DB or a file path"
    )


def test_state_digest_is_the_sha256_of_the_canonical_json() -> None:
    state = State(time=1.0, on_hand={"a": {"x": 1}}, inbound={}, backorders={})
    again = State(time=1.0, on_hand={"a": {"x": 1}}, inbound={}, backorders={})
    other = State(time=1.0, on_hand={"a": {"x": 2}}, inbound={}, backorders={})
    assert state_digest(state) == state_digest(again)
    assert state_digest(state) != state_digest(other)
    assert len(state_digest(state)) == 64
    assert int(state_digest(state), 16) >= 0
