"""Snapshot files (DESIGN §7): read and check CSV/JSON tables, load them into the store, write them.

A snapshot is one file per table of `twin.operate.tables`, named after the table (`stock.csv`,
`orders.json`). A CSV file starts with a header naming exactly the table's columns, in any order;
a JSON file is a list of objects with exactly those keys. Every value is checked (type, range,
fixed choices, non-empty names, one row per key, exactly one clock row, and, when a scenario's
network is given, that sites, SKUs, factories, components and suppliers exist); one bad row
rejects the whole file with a `StoreError` naming the file, the line (CSV, the header is line 1)
or row (JSON, from 1), the column and what is wrong.

Snapshot files are untrusted: they are read within limits (`twin.operate.reading`: a regular file
of bounded size, bounded lines and nesting) and streamed, checked and inserted a batch at a time
inside one transaction, so a file of a million rows needs no more memory than one of a thousand,
and a failed ingest leaves the store exactly as it was. Numbers must fit the store (whole numbers
in 64 bits, at most `MAX_NUMBER_CHARS` characters); text must be valid UTF-8 (no lone surrogates,
no NUL) of at most `MAX_TEXT_CHARS` characters. Every key column is unique (`KEYS`; signals by
name, live events by name and value). A database error is reported at the file, line and column
it came from.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import numbers
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from sqlalchemy import ColumnElement, case, literal

from twin.config.errors import show_value
from twin.errors import StoreError
from twin.operate.reading import (
    MAX_NUMBER_CHARS,
    Huge,
    Record,
    RepeatedKeys,
    csv_lines,
    json_rows,
    open_snapshot,
)
from twin.operate.store import SNAPSHOT_MODELS, LoadError, Tables, python_type
from twin.operate.tables import CHOICES, TABLES

if TYPE_CHECKING:
    from twin.operate.store import Store, TableLoad
    from twin.state import NetworkInfo

FORMATS = ("csv", "json")
"""Snapshot file formats, by file suffix."""

MAX_SHOWN = 20
"""At most this many problems are listed for one file; the rest are counted."""

BATCH_ROWS = 5000
"""Rows inserted per statement while a file streams in."""

INT_MAX = 2**63 - 1
"""The largest whole number the store holds (a signed 64-bit integer, SQLite's and PostgreSQL's)."""

MAX_TEXT_CHARS = 4096
"""A string value holds at most this many characters (a name, an event, a list of components)."""

KEYS: dict[str, tuple[str, ...]] = {
    "stock": ("site", "sku"),
    "orders": ("order_id", "line"),
    "shipments": ("shipment_id",),
    "production": ("factory", "sku"),
    "factories": ("factory",),
    "components": ("factory", "component"),
    "suppliers": ("supplier",),
    "warehouses": ("warehouse",),
}
"""The columns that identify a row (a table's "one row per"): no two rows may share them.

`signals` has a rule of its own (`_key`): one row per name, except `live_event`, one per value."""

SIGNALS_RULE = "one row per signal name (per name and value for live_event)"

EMPTY_ALLOWED: dict[tuple[str, str], tuple[str, ...]] = {
    ("orders", "site"): ("presale",),
    ("shipments", "origin"): ("moving",),
}
"""String columns that may be empty, and the `status` values for which they may."""

_WHOLE = re.compile(r"\s*[+-]?[0-9]+\s*")
_DECIMAL = re.compile(
    r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\s*",
    re.IGNORECASE,
)
"""A number as CSV text; Python's `float` also takes `1_000`, which no other system writes."""
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
"""Characters no store can hold as text: NUL (PostgreSQL refuses it) and lone surrogates (which
JSON's `\\ud83d` escapes can produce; they are not UTF-8 and sqlite3 cannot encode them)."""

_FLOAT_RULES: dict[str, tuple[Callable[[float], bool], str]] = {
    "time": (lambda x: math.isfinite(x) and x >= 0, "must be a finite number >= 0"),
    "lead_time_mean": (lambda x: math.isfinite(x) and x >= 0, "must be a finite number >= 0"),
    "pick_wait": (lambda x: math.isfinite(x) and x >= 0, "must be a finite number >= 0"),
    "created": (math.isfinite, "must be a finite number"),
    # an order's times are hours on the clock: `inf` is no promise a planner can act on
    "release": (math.isfinite, "must be a finite number (hours)"),
    "promised": (math.isfinite, "must be a finite number (hours)"),
}
_ANY_NUMBER: tuple[Callable[[float], bool], str] = (lambda x: not math.isnan(x), "must be a number")

Problem = tuple[str, str, str | None, str]
"""(`line 4` or `row 3` or '', `column units` or '', the value as shown or None, what is wrong)."""


def _show(raw: Any) -> str:
    """A value as a message shows it; a huge integer by its size.

    `str` of an integer over 4300 digits raises in Python.
    """
    if isinstance(raw, int) and not isinstance(raw, bool) and raw.bit_length() > 200:
        return f"a whole number of {raw.bit_length()} bits"
    return show_value(raw)


def _name(key: Any) -> str:
    """A column name as a message shows it: as is if plain, else quoted and escaped."""
    text = str(key)
    return text if text.isprintable() and 0 < len(text) <= 60 else show_value(text)


def _problem(where: str, column: str, raw: Any, message: str) -> Problem:
    """A problem with one column's value (`raw` is `...` when there is no value to show)."""
    return (where, f"column {column}", None if raw is ... else _show(raw), message)


def _as_int(raw: Any, text: bool) -> int | None:
    """A whole number from CSV text or a JSON/Python integer; None if it is not one."""
    if text:
        return int(raw) if isinstance(raw, str) and _WHOLE.fullmatch(raw) else None
    if isinstance(raw, numbers.Integral) and not isinstance(raw, bool):
        return int(raw)
    return None


def _as_float(raw: Any, text: bool) -> float | None:
    """A number from CSV text or a JSON/Python number; None if it is not one."""
    if text:
        return float(raw) if isinstance(raw, str) and _DECIMAL.fullmatch(raw) else None
    if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        try:
            return float(raw)
        except OverflowError:  # a Python int beyond a float's range
            return None
    return None


def _too_long(raw: Any, text: bool) -> bool:
    """A number too long to parse: CSV text or a JSON number over `MAX_NUMBER_CHARS`."""
    return isinstance(raw, Huge) or (text and isinstance(raw, str) and len(raw) > MAX_NUMBER_CHARS)


def _convert(column: str, raw: Any, text: bool) -> tuple[Any, str | None]:
    """A column's typed value and None, or None and what is wrong (emptiness is checked later)."""
    kind = python_type(column)
    if kind is not str and _too_long(raw, text):
        return None, f"is too long for a number (at most {MAX_NUMBER_CHARS} characters)"
    if kind is int:
        whole = _as_int(raw, text)
        if whole is None or whole < 0:
            return None, "must be a whole number >= 0"
        if whole > INT_MAX:
            return None, f"must be a whole number <= {INT_MAX} (it must fit in 64 bits)"
        return whole, None
    if kind is float:
        ok, message = _FLOAT_RULES.get(column, _ANY_NUMBER)
        number = _as_float(raw, text)
        if number is None or not ok(number):
            return None, message
        return number, None
    if not isinstance(raw, str):
        return None, "must be a string"
    if len(raw) > MAX_TEXT_CHARS:
        return None, f"is longer than {MAX_TEXT_CHARS} characters"
    bad = _NOT_TEXT.search(raw)
    if bad is not None:
        if bad.group() == "\x00":
            return None, "holds a NUL character, which text may not"
        return None, f"holds a lone surrogate ({bad.group()!a}), which is not valid UTF-8 text"
    if raw != raw.strip():
        return None, "must not start or end with spaces" if raw.strip() else "must not be blank"
    return raw, None


class _Names:
    """The names a scenario's network knows, for checking references in a snapshot."""

    def __init__(self, network: NetworkInfo) -> None:
        warehouses, factories = set(network.warehouses), set(network.factories)
        skus = set(network.skus)
        components = set(network.sellers)
        for factory in network.factories:
            components.update(network.components_of(factory))
        suppliers = {s for ids in network.sellers.values() for s in ids}
        self.skus = skus
        self.components = components
        self.refs: dict[tuple[str, str], tuple[str, set[str]]] = {
            ("stock", "site"): ("a warehouse", warehouses),
            ("stock", "sku"): ("a SKU", skus),
            ("orders", "site"): ("a warehouse", warehouses),
            ("orders", "sku"): ("a SKU", skus),
            ("shipments", "origin"): ("a warehouse or factory", warehouses | factories),
            ("shipments", "destination"): ("a warehouse", warehouses),
            ("shipments", "sku"): ("a SKU", skus),
            ("production", "factory"): ("a factory", factories),
            ("production", "sku"): ("a SKU", skus),
            ("factories", "factory"): ("a factory", factories),
            ("components", "factory"): ("a factory", factories),
            ("components", "component"): ("a component", components),
            ("suppliers", "supplier"): ("a supplier", suppliers),
            ("warehouses", "warehouse"): ("a warehouse", warehouses),
        }


def _unknown(name: str, label: str, known: Iterable[str]) -> str:
    """`is not a warehouse in the scenario`, with a suggestion or the known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    if close:
        return f"is not {label} in the scenario; did you mean {close[0]!r}?"
    shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    return f"is not {label} in the scenario (known: {shown or 'none'})"


def _check_row(
    table: str, where: str, row: Mapping[str, Any], text: bool, names: _Names | None
) -> tuple[dict[str, Any], list[Problem]]:
    """A row with typed values, and its problems in column order."""
    columns = TABLES[table]
    problems = [
        _problem(where, _name(key), ..., _not_a_column(table, str(key)))
        for key in row
        if key not in columns
    ]
    if isinstance(row, RepeatedKeys):
        problems += [
            _problem(where, _name(key), ..., "appears more than once in the object")
            for key in row.repeated
        ]
    typed: dict[str, Any] = {}
    for column in columns:
        if column not in row:
            problems.append(_problem(where, column, ..., "is missing"))
            continue
        raw = row[column]
        value, wrong = _convert(column, raw, text)
        if wrong is None and isinstance(value, str):
            wrong = _string_problem(table, column, value, row.get("status"), names)
        if wrong is not None:
            problems.append(_problem(where, column, raw, wrong))
        else:
            typed[column] = value
    if table == "signals" and "name" in typed:
        problems += _check_signal(where, typed, row, names)
    return typed, problems


def _string_problem(
    table: str, column: str, value: str, status: Any, names: _Names | None
) -> str | None:
    """What is wrong with a string value (empty, not a choice, an unknown name), if anything."""
    if not value:
        allowed = EMPTY_ALLOWED.get((table, column), ())
        if status in allowed:
            return None
        return "must not be empty" + (
            f" unless status is {' or '.join(allowed)}" if allowed else ""
        )
    choices = CHOICES.get((table, column))
    if choices is not None and value not in choices:
        return f"must be one of {', '.join(repr(c) for c in choices)}"
    if names is None:
        return None
    if (table, column) in names.refs:
        label, known = names.refs[(table, column)]
        return None if value in known else _unknown(value, label, known)
    if (table, column) == ("suppliers", "components"):
        for part in value.split(";"):
            if part and part not in names.components:
                return f"names {part!r}, which " + _unknown(part, "a component", names.components)
    return None


def _check_signal(
    where: str, typed: dict[str, Any], row: Mapping[str, Any], names: _Names | None
) -> list[Problem]:
    """A signal is `live_event` (value: an event) or `order_rate:<sku>` (value: units/h >= 0)."""
    name: str = typed["name"]
    if name == "live_event":
        return []
    sku = name.removeprefix("order_rate:")
    if name == sku or not sku:
        return [_problem(where, "name", row["name"], "must be live_event or order_rate:<sku>")]
    problems: list[Problem] = []
    if names is not None and sku not in names.skus:
        problems.append(_problem(where, "name", row["name"], _unknown(sku, "a SKU", names.skus)))
    rate = _as_float(typed.get("value"), text=True) if isinstance(typed.get("value"), str) else None
    if "value" in typed and (rate is None or not math.isfinite(rate) or rate < 0):
        message = "must be a finite number >= 0 (units/h) for an order_rate signal"
        problems.append(_problem(where, "value", row["value"], message))
    return problems


def _not_a_column(table: str, key: str) -> str:
    """What to say of a column the table does not have."""
    columns = TABLES[table]
    close = difflib.get_close_matches(key, columns, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else f" (its columns: {', '.join(columns)})"
    return f"is not a column of table {table}{hint}"


def _render(source: str, problems: list[Problem], total: int | None = None) -> str:
    """Problems as message lines: `source: line 4, column units (='-3') must be ...`.

    At most `MAX_SHOWN` are listed; `total` (default: how many are given) counts the rest.
    """
    total = len(problems) if total is None else total
    lines = []
    for where, what, shown, message in problems[:MAX_SHOWN]:
        place = ", ".join(p for p in (where, what) if p)
        value = "" if shown is None else f" (={shown})"
        lines.append(f"{source}: {place}{value} {message}" if place else f"{source}: {message}")
    if total > MAX_SHOWN:
        lines.append(f"{source}: ... and {total - MAX_SHOWN} more problems")
    return "\n".join(lines)


def _key(table: str, typed: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The values that identify a typed row (`KEYS`; signals: name, and value for live_event)."""
    if table == "signals":
        name = typed["name"]
        return (name, typed["value"] if name == "live_event" else "")
    columns = KEYS.get(table)
    return None if columns is None else tuple(typed[c] for c in columns)


def _key_sql(table: str) -> list[ColumnElement[Any]] | None:
    """`_key` as SQL expressions over the table's columns, for the check in the database."""
    c = SNAPSHOT_MODELS[table].__table__.c  # type: ignore[attr-defined]
    if table == "signals":
        return [c.name, case((c.name == "live_event", c.value), else_=literal(""))]
    columns = KEYS.get(table)
    return None if columns is None else [c[name] for name in columns]


class _Report:
    """The problems of one file as it is read: the first `MAX_SHOWN` by line kept, all counted."""

    def __init__(self, source: str, table: str, fmt: str) -> None:
        self.source, self.table = source, table
        self.text = fmt == "csv"
        self.unit = "line" if fmt == "csv" else "row"
        self.rows = 0
        """Data rows read, good or bad."""
        self.repeated = 0
        """Rows whose key an earlier row has."""
        self._count = 0
        self._found: list[tuple[int, Problem]] = []
        self._repeats: list[tuple[int, Problem]] = []

    def add(self, number: int, problems: list[Problem]) -> None:
        """The problems of row `number` (rows come in order)."""
        self._count += len(problems)
        room = MAX_SHOWN - len(self._found)
        self._found += [(number, p) for p in problems[: max(room, 0)]]

    def repeat(self, number: int, first: int, key: tuple[Any, ...]) -> None:
        """Row `number` has the key of row `first`."""
        self.repeated += 1
        if len(self._repeats) >= MAX_SHOWN:
            return
        if self.table == "signals":
            columns: tuple[str, ...] = ("name", "value") if key[0] == "live_event" else ("name",)
            rule = SIGNALS_RULE
        else:
            columns = KEYS[self.table]
            rule = f"one row per ({', '.join(columns)})"
        values = key[: len(columns)]
        shown = ", ".join(_show(_csv_text(v) if self.text else v) for v in values)
        what = f"column{'s' if len(columns) > 1 else ''} {', '.join(columns)}"
        where = f"{self.unit} {number}"
        problem = (where, what, shown, f"repeats {self.unit} {first}: {rule}")
        self._repeats.append((number, problem))

    def refused(self, exc: LoadError, batch: Sequence[Mapping[str, Any]]) -> str:
        """A database's refusal of rows, at the file, line and column they came from."""
        if exc.row_id is None:
            lo, hi = exc.ids or (0, 0)
            return f"{self.source}: {self.unit}s {lo}-{hi}: the store refused them: {exc}"
        where = f"{self.source}: {self.unit} {exc.row_id}"
        row = next((r for r in batch if r.get("id") == exc.row_id), {})
        if exc.column is not None and exc.column in row:
            shown = _show(row[exc.column])
            return f"{where}, column {exc.column} (={shown}) the store refused it: {exc}"
        return f"{where}: the store refused the row: {exc}"

    def finish(self) -> None:
        """Raise a `StoreError` listing the file's problems, if it has any."""
        problems = [p for _, p in sorted(self._found + self._repeats, key=lambda item: item[0])]
        if self.table == "clock" and self.rows != 1:
            count = f"has {self.rows} data rows; table clock must have exactly one"
            problems.append(("", "", None, count))
        total = len(problems) + self._count - len(self._found) + self.repeated - len(self._repeats)
        if problems:
            raise StoreError(_render(self.source, problems[:MAX_SHOWN], total))


def check_rows(
    table: str,
    rows: Sequence[Mapping[str, Any]],
    source: str | None = None,
    network: NetworkInfo | None = None,
) -> list[dict[str, Any]]:
    """Typed rows of snapshot table `table` (Python values), or a `StoreError` naming each bad row."""
    _table_of(table, source or table)
    report = _Report(source or table, table, "python")
    records = ((i, f"row {i}", row) for i, row in enumerate(rows, 1))
    typed_rows = _unique_rows(table, _typed_rows(table, records, False, network, report), report)
    report.finish()
    return typed_rows


def _table_of(name: str, source: str) -> str:
    """`name` if it is a snapshot table, else a `StoreError` listing the tables."""
    if name not in TABLES:
        close = difflib.get_close_matches(name, TABLES, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StoreError(
            f"{source}: no snapshot table is called {name!r}{hint}; "
            f"a file is named after its table: {', '.join(TABLES)}"
        )
    return name


def _csv_records(text: TextIO, source: str, table: str) -> Iterator[Record]:
    """The data rows of a CSV file, one at a time, as text by column: `(n, "line n", row)`."""
    columns = TABLES[table]
    reader = csv.reader(csv_lines(text, source), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise StoreError(
                f"{source}: is empty; its first line must name the columns {', '.join(columns)}"
            )
        header = [h.strip() for h in header]
        problems: list[Problem] = []
        for i, name in enumerate(header):
            if name in header[:i]:
                problems.append(_problem("line 1", _name(name), ..., "appears twice in the header"))
            elif name not in columns:
                problems.append(_problem("line 1", _name(name), ..., _not_a_column(table, name)))
        for name in columns:
            if name not in header:
                needs = f"is missing (table {table} has columns {', '.join(columns)})"
                problems.append(_problem("line 1", name, ..., needs))
        if problems:
            raise StoreError(_render(source, problems))
        for values in reader:
            if not values:
                continue  # a blank line
            if len(values) != len(header):
                raise StoreError(
                    f"{source}: line {reader.line_num} has {len(values)} values; "
                    f"the header names {len(header)} columns"
                )
            yield reader.line_num, f"line {reader.line_num}", dict(zip(header, values, strict=True))
    except csv.Error as exc:
        raise StoreError(f"{source}: line {reader.line_num} is not valid CSV ({exc})") from None


def _format_and_table(path: Path) -> tuple[str, str]:
    """A snapshot file's format (its suffix) and table (its name without suffix)."""
    fmt = path.suffix.lower().removeprefix(".")
    if fmt not in FORMATS:
        raise StoreError(f"{path}: a snapshot file must end in .csv or .json")
    return fmt, _table_of(path.stem, str(path))


def _records(text: TextIO, source: str, fmt: str, table: str) -> Iterator[Record]:
    """The rows of an open snapshot file, one at a time."""
    return _csv_records(text, source, table) if fmt == "csv" else json_rows(text, source)


def read_snapshot_file(
    path: str | Path, network: NetworkInfo | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The table a snapshot file fills (its name without suffix) and its checked, typed rows.

    The rows are returned as a list, so this is for files that fit in memory; `ingest_files`
    streams a file of any size into the store.
    """
    path = Path(path)
    fmt, table = _format_and_table(path)
    report = _Report(str(path), table, fmt)
    with open_snapshot(path) as text:
        records = _records(text, str(path), fmt, table)
        rows = _unique_rows(table, _typed_rows(table, records, fmt == "csv", network, report), report)
    report.finish()
    return table, rows


def _unique_rows(
    table: str, typed: Iterable[tuple[int, dict[str, Any]]], report: _Report
) -> list[dict[str, Any]]:
    """The typed rows in order; a key seen before is reported with the row that first had it."""
    rows: list[dict[str, Any]] = []
    first_of: dict[tuple[Any, ...], int] = {}
    for number, row in typed:
        rows.append(row)
        key = _key(table, row)
        if key is not None and key in first_of:
            report.repeat(number, first_of[key], key)
        elif key is not None:
            first_of[key] = number
    return rows


def _typed_rows(
    table: str,
    records: Iterable[Record],
    text: bool,
    network: NetworkInfo | None,
    report: _Report,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The good rows of a file, typed, with their numbers; the others' problems go to `report`.

    So a file is checked whole and every problem is listed (up to `MAX_SHOWN`).
    """
    names = _Names(network) if network is not None else None
    for number, where, row in records:
        report.rows += 1
        if not isinstance(row, Mapping):
            keys = ", ".join(TABLES[table])
            report.add(number, [(where, "", None, f"must be an object with keys {keys}")])
            continue
        typed, found = _check_row(table, where, row, text, names)
        if found:
            report.add(number, found)
        else:
            yield number, typed


def _ingest_file(store: Store, path: Path, network: NetworkInfo | None) -> tuple[str, int]:
    """Stream one snapshot file into its table in one transaction; (table, rows).

    Rows are checked as they are read and inserted `BATCH_ROWS` at a time; every key column is
    checked unique by the database (`TableLoad.repeats`) at the end, so memory does not grow
    with the file. Any problem, in the file or from the database, raises a `StoreError` naming
    the file, the line (or row) and the column, and rolls the transaction back: the store is
    exactly as it was.
    """
    fmt, table = _format_and_table(path)
    source = str(path)
    report = _Report(source, table, fmt)
    try:
        with open_snapshot(path) as text, store.loading(table) as load:
            batch: list[dict[str, Any]] = []
            for number, typed in _typed_rows(
                table, _records(text, source, fmt, table), fmt == "csv", network, report
            ):
                typed["id"] = number
                batch.append(typed)
                if len(batch) >= BATCH_ROWS:
                    _insert(load, batch, report)
                    batch = []
            _insert(load, batch, report)
            key = _key_sql(table)
            if key is not None:
                count, found = load.repeats(key, MAX_SHOWN)
                for number, first, *values in found:
                    report.repeat(number, first, tuple(values))
                report.repeated = count
            report.finish()  # raises on any problem: the transaction rolls back
    except LoadError as exc:  # the database failed beyond any one row (a lock, the connection)
        raise StoreError(f"{source}: could not be loaded into {exc}") from None
    return table, report.rows


def _insert(load: TableLoad, batch: list[dict[str, Any]], report: _Report) -> None:
    """Insert a batch; a row the database refuses becomes a `StoreError` naming file, line, column."""
    try:
        load.insert(batch)
    except LoadError as exc:
        raise StoreError(report.refused(exc, batch)) from None


def ingest_files(
    store: Store,
    paths: Sequence[str | Path],
    network: NetworkInfo | None = None,
    on_loaded: Callable[[Path, str, int], None] | None = None,
) -> list[tuple[str, int]]:
    """Load snapshot files into `store`, in order, each in its own transaction: (table, rows) each.

    Each file replaces its table's rows. A bad file raises a `StoreError` and leaves its table as
    it was; the files before it stay ingested and the files after it are not read. Two files for
    one table are refused before anything is loaded. `on_loaded(path, table, rows)` is called
    after each file is committed. With `network`, names of sites, SKUs... are checked against it.
    Files are streamed (see `_ingest_file` and `twin.operate.reading` for the limits).
    """
    seen: dict[str, Path] = {}
    for path in map(Path, paths):
        if path.stem in seen:
            raise StoreError(
                f"{seen[path.stem]} and {path} both fill table {path.stem}; give one file per table"
            )
        seen[path.stem] = path
    loaded: list[tuple[str, int]] = []
    for path in map(Path, paths):
        table, rows = _ingest_file(store, path, network)
        loaded.append((table, rows))
        if on_loaded is not None:
            on_loaded(path, table, rows)
    return loaded


def _csv_text(value: Any) -> str:
    """A typed value as CSV text; floats by `repr`, so they read back exactly."""
    return repr(value) if isinstance(value, float) else str(value)


def write_snapshot(
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
    directory: str | Path,
    fmt: Literal["csv", "json"] = "csv",
) -> list[Path]:
    """Write `tables` as a snapshot directory `ingest` reads (one file per table); the paths."""
    if fmt not in FORMATS:
        raise StoreError(f"unknown snapshot format {fmt!r}; use csv or json")
    directory = Path(directory)
    for name in tables:
        _table_of(name, str(directory / f"{name}.{fmt}"))
    checked: Tables = {}
    for name in TABLES:
        if name in tables:
            checked[name] = check_rows(name, tables[name], str(directory / f"{name}.{fmt}"))
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in checked.items():
        path = directory / f"{name}.{fmt}"
        columns = TABLES[name]
        if fmt == "csv":
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(columns)
                writer.writerows([_csv_text(row[c]) for c in columns] for row in rows)
        else:
            lines = [json.dumps({c: row[c] for c in columns}) for row in rows]
            path.write_text(
                "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n", encoding="utf-8"
            )
        written.append(path)
    return written
