"""Hostile snapshot files (issue 13): each is refused with exit 2 and a message naming the file, the
line or row and the column; never a traceback, a hang or unbounded memory; and the store is exactly
as it was, checked by hashing every table of the database before and after.

Most cases go through the Python API (on SQLite, and on PostgreSQL when `TWIN_TEST_POSTGRES_URL`
names a server); a few run `python -m twin operate ingest` in a subprocess with a timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select, text
from typer.testing import CliRunner

from twin.errors import StoreError
from twin.operate import ingest, reading
from twin.operate.cli import operate_app
from twin.operate.ingest import ingest_files, read_snapshot_file, write_snapshot
from twin.operate.reading import MAX_DEPTH, MAX_LINE_CHARS
from twin.operate.store import Store, open_store, parse_url

REPO = Path(__file__).resolve().parents[2]
SHIPMENTS = "shipment_id,origin,destination,sku,units,status\n"
BASE: dict[str, list[dict[str, Any]]] = {
    "clock": [{"time": 36.0}],
    "stock": [{"site": "central", "sku": "serum", "units": 12}],
    "shipments": [
        {
            "shipment_id": "s1",
            "origin": "central",
            "destination": "fwd_north",
            "sku": "serum",
            "units": 30,
            "status": "requested",
        }
    ],
    "factories": [{"factory": "factory", "elastic": "off"}],
    "signals": [{"name": "order_rate:serum", "value": "2.5"}],
}


def raw_engine(url: str) -> Any:
    """An engine on the store's database, past the store's own checks."""
    target = parse_url(url)
    if target.drivername == "postgresql":
        target = target.set(drivername="postgresql+psycopg")
    return create_engine(target)


def store_hash(url: str) -> str:
    """sha256 of every table of the database (names, then rows in key order), `meta` included."""
    engine = raw_engine(url)
    digest = hashlib.sha256()
    with engine.connect() as conn:
        tables = MetaData()
        tables.reflect(conn)
        for name in sorted(tables.tables):
            table = tables.tables[name]
            digest.update(name.encode())
            order = list(table.primary_key.columns) or list(table.columns)
            for row in conn.execute(select(table).order_by(*order)):
                digest.update(repr(tuple(row)).encode())
    engine.dispose()
    return digest.hexdigest()


@pytest.fixture
def filled(store: Store, store_url: str, tmp_path: Path) -> Store:
    """A store holding BASE."""
    ingest_files(store, write_snapshot(BASE, tmp_path / "base"))
    return store


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    return path


def refused(store: Store, url: str, path: Path) -> str:
    """Ingesting `path` raises a `StoreError`; the store's hash is unchanged; the message."""
    before = store_hash(url)
    with pytest.raises(StoreError) as info:
        ingest_files(store, [path])
    assert store_hash(url) == before
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    return message


BIG = str(2**63)
DIGITS = "9" * 5000

# (file name, content, the message after "<path>: ")
CASES: dict[str, tuple[str, str | bytes, str]] = {
    "int 2**63 csv": (
        "stock.csv",
        f"site,sku,units\ncentral,serum,1\ncentral,lipstick,{BIG}\n",
        f"line 3, column units (='{BIG}') must be a whole number <= {2**63 - 1} "
        "(it must fit in 64 bits)",
    ),
    "int 2**63 json": (
        "stock.json",
        f'[{{"site": "central", "sku": "serum", "units": {BIG}}}]',
        f"row 1, column units (={BIG}) must be a whole number <= {2**63 - 1} "
        "(it must fit in 64 bits)",
    ),
    "5000-digit int csv": (
        "stock.csv",
        f"site,sku,units\ncentral,serum,{DIGITS}\n",
        f"line 2, column units (='{DIGITS[:56]}...) is too long for a number "
        "(at most 100 characters)",
    ),
    "5000-digit int json": (
        "components.json",
        f'[{{"factory": "f", "component": "c", "on_hand": 1, "on_order": {DIGITS}}}]',
        f"row 1, column on_order (={DIGITS[:20]}... (5000 characters)) is too long for a number "
        "(at most 100 characters)",
    ),
    "5000-digit float json": (
        "clock.json",
        f'[{{"time": 1.{DIGITS}}}]',
        "row 1, column time (=1.999999999999999999... (5002 characters)) is too long for a "
        "number (at most 100 characters)",
    ),
    "lone surrogate json": (
        "stock.json",
        '[{"site": "\\ud83d", "sku": "serum", "units": 1}]',
        "row 1, column site (='\\ud83d') holds a lone surrogate ('\\ud83d'), which is not valid "
        "UTF-8 text",
    ),
    "lone surrogate in a key": (
        "stock.json",
        '[{"site": "a", "sku": "b", "units": 1, "\\udc00": 2}]',
        "row 1, column '\\udc00' is not a column of table stock (its columns: site, sku, units)",
    ),
    "NUL in text": (
        "factories.json",
        '[{"factory": "fac\\u0000tory", "elastic": "on"}]',
        "row 1, column factory (='fac\\x00tory') holds a NUL character, which text may not",
    ),
    "JSON nested 100k deep": (
        "stock.json",
        "[" * 100_000 + "]" * 100_000,
        f"row 1 nests lists or objects deeper than {MAX_DEPTH} levels; "
        "a row is an object of strings and numbers",
    ),
    "JSON object nested 100k deep": (
        "stock.json",
        '[{"site": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001 + "]",
        f"row 1 nests lists or objects deeper than {MAX_DEPTH} levels; "
        "a row is an object of strings and numbers",
    ),
    "random bytes csv": (
        "stock.csv",
        b"site,sku,units\ncentral,serum,1\n" + bytes(range(128, 256)) * 64,
        "line 3 is not UTF-8 text (invalid start byte)",
    ),
    "random bytes json": (
        "clock.json",
        bytes(range(255, 0, -1)) * 64,
        "is not UTF-8 text (invalid start byte)",
    ),
    "empty csv": (
        "stock.csv",
        "",
        "is empty; its first line must name the columns site, sku, units",
    ),
    "empty json": ("clock.json", "", "is empty; it must be a JSON list of objects, one per row"),
    "duplicate shipment_id": (
        "shipments.csv",
        SHIPMENTS
        + "s1,central,fwd_north,serum,3,requested\n"
        + "s2,central,fwd_north,serum,3,requested\n"
        + "s1,,fwd_north,serum,3,moving\n",
        "line 4, column shipment_id (='s1') repeats line 2: one row per (shipment_id)",
    ),
    "duplicate signal name": (
        "signals.json",
        '[{"name": "order_rate:serum", "value": "1"}, {"name": "live_event", "value": "x"},'
        ' {"name": "live_event", "value": "y"}, {"name": "order_rate:serum", "value": "2"}]',
        "row 4, column name (='order_rate:serum') repeats row 1: one row per signal name "
        "(per name and value for live_event)",
    ),
    "duplicate live event": (
        "signals.csv",
        "name,value\nlive_event,launch\nlive_event,launch\n",
        "line 3, columns name, value (='live_event', 'launch') repeats line 2: one row per "
        "signal name (per name and value for live_event)",
    ),
    "a key twice in a JSON object": (
        "stock.json",
        '[{"site": "a", "sku": "b", "units": 1, "units": 2}]',
        "row 1, column units appears more than once in the object",
    ),
    "1e400 json": (
        "clock.json",
        '[{"time": 1e400}]',
        "row 1, column time (=inf) must be a finite number >= 0",
    ),
    "underscored number": (
        "clock.csv",
        "time\n1_000\n",
        "line 2, column time (='1_000') must be a finite number >= 0",
    ),
    "NaN csv": (
        "clock.csv",
        "time\nnan\n",
        "line 2, column time (='nan') must be a finite number >= 0",
    ),
    "long text": (
        "factories.csv",
        "factory,elastic\n" + "f" * 5000 + ",on\n",
        "line 2, column factory (='" + "f" * 56 + "...) is longer than 4096 characters",
    ),
    "a line of a MiB": (
        "stock.csv",
        "site,sku,units\n" + "," * (MAX_LINE_CHARS + 5),
        f"line 2 is longer than {MAX_LINE_CHARS} characters; is this a CSV file?",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_file_is_refused_and_the_store_is_unchanged(
    filled: Store, store_url: str, tmp_path: Path, case: str
) -> None:
    name, content, message = CASES[case]
    path = write(tmp_path / "bad" / name, content)
    assert refused(filled, store_url, path) == f"{path}: {message}"


def test_special_files_are_refused_without_reading_them(
    filled: Store, store_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    os.symlink("/dev/urandom", tmp_path / "a" / "stock.csv")
    os.mkfifo(tmp_path / "a" / "clock.csv")  # no writer: an ordinary open would hang
    (tmp_path / "a" / "orders.json").mkdir()
    for path, kind in [
        (tmp_path / "a" / "stock.csv", "a character device"),
        (tmp_path / "a" / "clock.csv", "a FIFO (named pipe)"),
        (tmp_path / "a" / "orders.json", "a directory"),
    ]:
        message = refused(filled, store_url, path)
        assert message == f"{path}: is {kind}, not a regular file; a snapshot is a file"
    missing = tmp_path / "a" / "signals.csv"
    assert refused(filled, store_url, missing) == (
        f"{missing}: cannot be read (No such file or directory)"
    )


def test_a_bad_row_after_many_batches_rolls_back_the_whole_file(
    filled: Store, store_url: str, tmp_path: Path
) -> None:
    rows = "".join(f"s{i},central,fwd_north,serum,{i},requested\n" for i in range(12_000))
    path = write(
        tmp_path / "bad" / "shipments.csv",
        SHIPMENTS + rows + "s-x,central,fwd_north,serum,-1,moving\n",
    )
    assert refused(filled, store_url, path) == (
        f"{path}: line 12002, column units (='-1') must be a whole number >= 0"
    )
    again = write(
        tmp_path / "dup" / "shipments.csv",
        SHIPMENTS + rows + "s7,central,fwd_north,serum,1,moving\n",
    )
    assert refused(filled, store_url, again) == (
        f"{again}: line 12002, column shipment_id (='s7') repeats line 9: one row per (shipment_id)"
    )


def test_many_repeats_are_listed_in_line_order_and_counted(
    filled: Store, store_url: str, tmp_path: Path
) -> None:
    rows = [f"s{i % 30},central,fwd_north,serum,1,requested\n" for i in range(60)]
    rows[40] = "s99,central,fwd_north,serum,-2,requested\n"
    path = write(tmp_path / "bad" / "shipments.csv", SHIPMENTS + "".join(rows))
    lines = refused(filled, store_url, path).splitlines()
    assert len(lines) == ingest.MAX_SHOWN + 1
    assert (
        lines[0]
        == f"{path}: line 32, column shipment_id (='s0') repeats line 2: one row per (shipment_id)"
    )
    assert (
        lines[9]
        == f"{path}: line 41, column shipment_id (='s9') repeats line 11: one row per (shipment_id)"
    )
    assert lines[10] == f"{path}: line 42, column units (='-2') must be a whole number >= 0"
    assert lines[-1] == f"{path}: ... and {30 - ingest.MAX_SHOWN} more problems"  # 29 repeats + 1


def test_a_database_refusal_is_named_at_file_line_and_column(
    filled: Store, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the range check switched off, the database refuses 2**63 itself: sqlite3 raises
    OverflowError, PostgreSQL a numeric error; either is mapped back to the line and column."""
    monkeypatch.setattr(ingest, "INT_MAX", 2**70)
    path = write(
        tmp_path / "bad" / "stock.csv", f"site,sku,units\ncentral,serum,1\ncentral,lipstick,{BIG}\n"
    )
    message = refused(filled, store_url, path)
    assert message.startswith(f"{path}: line 3, column units (={BIG}) the store refused it: "), (
        message
    )
    assert "Traceback" not in message


def test_streamed_json_rows_across_buffer_boundaries(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON reader refills its buffer between and inside rows; tiny buffers exercise that."""
    monkeypatch.setattr(reading, "CHUNK_CHARS", 7)
    monkeypatch.setattr(reading, "MAX_LINE_CHARS", 400)
    want = [
        {
            "shipment_id": f"s{i}",
            "origin": "" if i % 3 else "central",
            "destination": "fwd_north",
            "sku": 'se"r{um]' if i % 2 else "serum",
            "units": i,
            "status": "moving" if i % 3 else "requested",
        }
        for i in range(300)
    ]
    body = json.dumps(want, indent=3).replace("\n", "\r\n  \n")
    path = write(tmp_path / "s" / "shipments.json", "\ufeff  " + body + "\n\n")
    assert read_snapshot_file(path) == ("shipments", want)
    assert ingest_files(store, [path]) == [("shipments", 300)]
    assert store.load_tables()["shipments"] == want
    broken = write(
        tmp_path / "b" / "shipments.json", "[\n" + json.dumps(want[0]) + ',\n  {"units" 1}]'
    )
    with pytest.raises(StoreError) as info:
        read_snapshot_file(broken)
    assert str(info.value) == (
        f"{broken}: is not valid JSON (Expecting ':' delimiter at line 3, character 12)"
    )
    long = write(tmp_path / "l" / "shipments.json", "[" + json.dumps(want[:1], indent=80)[1:])
    with pytest.raises(StoreError) as info:
        read_snapshot_file(long)
    assert str(info.value) == f"{long}: row 1 is longer than 400 characters"


def test_a_dropped_table_is_refused_not_recreated(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store:
        ingest_files(store, write_snapshot(BASE, tmp_path / "base"))
        shown = store.url
    engine = raw_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE shipments"))
    engine.dispose()
    before = store_hash(store_url)
    scenario = REPO / "scenarios" / "tiny.yaml"
    result = CliRunner().invoke(
        operate_app, ["decide", "--db", store_url, "--scenario", str(scenario)]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: {shown}: the store has lost table shipments (dropped?), so it no longer holds "
        "the snapshot ingested into it; use a new database and ingest the whole snapshot into it\n"
    )
    again = write_snapshot({"stock": BASE["stock"]}, tmp_path / "again")
    result = CliRunner().invoke(operate_app, ["ingest", "--db", store_url, *map(str, again)])
    assert result.exit_code == 2
    assert "lost table shipments" in result.stderr
    assert store_hash(store_url) == before


def test_concurrent_ingests_of_one_table_run_one_after_the_other(
    store_url: str, tmp_path: Path
) -> None:
    """Before the table lock, PostgreSQL said `duplicate key ... shipments_pkey` with no file."""
    open_store(store_url).close()
    files = []
    for k in range(4):
        rows = "".join(f"k{k}-{i},central,fwd_north,serum,{i},requested\n" for i in range(3000))
        files.append(write(tmp_path / f"f{k}" / "shipments.csv", SHIPMENTS + rows))
    errors: list[BaseException] = []

    def load(path: Path) -> None:
        try:
            with open_store(store_url) as store:
                ingest_files(store, [path])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(path,)) for path in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with open_store(store_url) as store:
        got = store.load_tables()["shipments"]
    assert len(got) == 3000
    assert len({row["shipment_id"].split("-")[0] for row in got}) == 1  # one whole file, not a mix


def test_concurrent_opening_of_a_new_store(store_url: str) -> None:
    """Two programs creating a new store's tables at once (PostgreSQL: `duplicate key ... pg_type`)."""
    errors: list[BaseException] = []

    def opening() -> None:
        try:
            open_store(store_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opening) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors and store_url.startswith("postgresql"):
        raise errors[0]
    with open_store(store_url) as store:
        assert store.schema_version() > 0


# the command, in a process of its own


def run_twin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", "operate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


@pytest.mark.parametrize(
    "case",
    ["int 2**63 csv", "lone surrogate json", "JSON nested 100k deep", "duplicate shipment_id"],
)
def test_the_command_exits_2_without_a_traceback(tmp_path: Path, case: str) -> None:
    db = tmp_path / "live.db"
    with open_store(db) as store:
        ingest_files(store, write_snapshot(BASE, tmp_path / "base"))
    before = store_hash(str(db))
    name, content, message = CASES[case]
    path = write(tmp_path / "bad" / name, content)
    result = run_twin("ingest", "--db", str(db), str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == f"error: {path}: {message}\n"
    assert store_hash(str(db)) == before


def test_the_command_refuses_dev_urandom_and_a_fifo_without_hanging(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    os.symlink("/dev/urandom", tmp_path / "stock.csv")
    os.mkfifo(tmp_path / "clock.json")
    open_store(db).close()
    before = store_hash(str(db))
    for path in (tmp_path / "stock.csv", tmp_path / "clock.json"):
        result = run_twin("ingest", "--db", str(db), str(path))
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"error: {path}: is a ")
    assert store_hash(str(db)) == before


# memory


def shipments_file(path: Path, rows: int) -> Path:
    """A shipments CSV of `rows` distinct rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(SHIPMENTS)
        for i in range(rows):
            fh.write(f"ship-{i:09d},central,fwd_north,serum,{i % 97 + 1},requested\n")
    return path


def peak(load: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        load()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_ingest_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    """A streamed ingest holds one batch, not the file: 5x the rows, less than 2x the peak."""
    small = shipments_file(tmp_path / "small" / "shipments.csv", 10_000)
    large = shipments_file(tmp_path / "large" / "shipments.csv", 50_000)
    with open_store(tmp_path / "live.db") as store:
        ingest_files(store, [small])  # warm up: imports, caches, the schema
        peak_small = peak(lambda: ingest_files(store, [small]))
        peak_large = peak(lambda: ingest_files(store, [large]))
        assert len(store.load_tables()["shipments"]) == 50_000
    assert peak_large < 2 * peak_small, (peak_small, peak_large)
