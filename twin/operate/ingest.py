"""Snapshot files (DESIGN §7): read and check CSV/JSON tables, load them into the store, write them.

A snapshot is one file per table of `twin.operate.tables`, named after the table (`stock.csv`,
`orders.json`). A CSV file starts with a header naming exactly the table's columns, in any order;
a JSON file is a list of objects with exactly those keys. Every value is checked (type, range,
fixed choices, non-empty names, one row per key, exactly one clock row, and, when a scenario's
network is given, that sites, SKUs, factories, components and suppliers exist); one bad row
rejects the whole file with a `StoreError` naming the file, the line (CSV, the header is line 1)
or row (JSON, from 1), the column and what is wrong.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from twin.config.errors import show_value
from twin.errors import StoreError
from twin.operate.store import Tables, python_type
from twin.operate.tables import CHOICES, TABLES

if TYPE_CHECKING:
    from twin.operate.store import Store
    from twin.state import NetworkInfo

FORMATS = ("csv", "json")
"""Snapshot file formats, by file suffix."""

MAX_SHOWN = 20
"""At most this many problems are listed for one file; the rest are counted."""

KEYS: dict[str, tuple[str, ...]] = {
    "stock": ("site", "sku"),
    "orders": ("order_id", "line"),
    "production": ("factory", "sku"),
    "factories": ("factory",),
    "components": ("factory", "component"),
    "suppliers": ("supplier",),
    "warehouses": ("warehouse",),
}
"""The columns that identify a row (a table's "one row per"): no two rows may share them."""

EMPTY_ALLOWED: dict[tuple[str, str], tuple[str, ...]] = {
    ("orders", "site"): ("presale",),
    ("shipments", "origin"): ("moving",),
}
"""String columns that may be empty, and the `status` values for which they may."""

_WHOLE = re.compile(r"\s*[+-]?[0-9]+\s*")

_FLOAT_RULES: dict[str, tuple[Callable[[float], bool], str]] = {
    "time": (lambda x: math.isfinite(x) and x >= 0, "must be a finite number >= 0"),
    "lead_time_mean": (lambda x: math.isfinite(x) and x >= 0, "must be a finite number >= 0"),
    "pick_wait": (lambda x: math.isfinite(x) and x >= 0, "must be a finite number >= 0"),
    "created": (math.isfinite, "must be a finite number"),
}
_ANY_NUMBER: tuple[Callable[[float], bool], str] = (lambda x: not math.isnan(x), "must be a number")

Problem = tuple[str, str, str | None, str]
"""(`line 4` or `row 3` or '', `column units` or '', the value as shown or None, what is wrong)."""


def _problem(where: str, column: str, raw: Any, message: str) -> Problem:
    """A problem with one column's value (`raw` is `...` when there is no value to show)."""
    return (where, f"column {column}", None if raw is ... else show_value(raw), message)


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
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None
    if isinstance(raw, numbers.Real) and not isinstance(raw, bool):
        return float(raw)
    return None


def _convert(column: str, raw: Any, text: bool) -> tuple[Any, str | None]:
    """A column's typed value and None, or None and what is wrong (emptiness is checked later)."""
    kind = python_type(column)
    if kind is int:
        whole = _as_int(raw, text)
        if whole is None or whole < 0:
            return None, "must be a whole number >= 0"
        return whole, None
    if kind is float:
        ok, message = _FLOAT_RULES.get(column, _ANY_NUMBER)
        number = _as_float(raw, text)
        if number is None or not ok(number):
            return None, message
        return number, None
    if not isinstance(raw, str):
        return None, "must be a string"
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
        _problem(where, str(key), ..., _not_a_column(table, str(key)))
        for key in row
        if key not in columns
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


def _render(source: str, problems: list[Problem]) -> str:
    """Problems as message lines: `source: line 4, column units (='-3') must be ...`."""
    lines = []
    for where, what, shown, message in problems[:MAX_SHOWN]:
        place = ", ".join(p for p in (where, what) if p)
        value = "" if shown is None else f" (={shown})"
        lines.append(f"{source}: {place}{value} {message}" if place else f"{source}: {message}")
    if len(problems) > MAX_SHOWN:
        lines.append(f"{source}: ... and {len(problems) - MAX_SHOWN} more problems")
    return "\n".join(lines)


def _check(
    table: str,
    rows: Sequence[Mapping[str, Any]],
    places: Sequence[str],
    source: str,
    text: bool,
    network: NetworkInfo | None,
) -> list[dict[str, Any]]:
    """Typed rows, or a `StoreError` listing every problem of the file."""
    names = _Names(network) if network is not None else None
    typed_rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    first_of: dict[tuple[Any, ...], str] = {}
    key_columns = KEYS.get(table, ())
    for where, row in zip(places, rows, strict=True):
        if not isinstance(row, Mapping):
            keys = ", ".join(TABLES[table])
            problems.append((where, "", None, f"must be an object with keys {keys}"))
            continue
        typed, found = _check_row(table, where, row, text, names)
        problems += found
        typed_rows.append(typed)
        if key_columns and all(c in typed for c in key_columns):
            key = tuple(typed[c] for c in key_columns)
            if key in first_of:
                label = ", ".join(key_columns)
                what = f"column{'s' if len(key_columns) > 1 else ''} {label}"
                shown = ", ".join(show_value(row[c]) for c in key_columns)
                message = f"repeats {first_of[key]}: one row per ({label})"
                problems.append((where, what, shown, message))
            else:
                first_of[key] = where
    if table == "clock" and len(rows) != 1:
        problems.append(
            ("", "", None, f"has {len(rows)} data rows; table clock must have exactly one")
        )
    if problems:
        raise StoreError(_render(source, problems))
    return typed_rows


def check_rows(
    table: str,
    rows: Sequence[Mapping[str, Any]],
    source: str | None = None,
    network: NetworkInfo | None = None,
) -> list[dict[str, Any]]:
    """Typed rows of snapshot table `table` (Python values), or a `StoreError` naming each bad row."""
    _table_of(table, source or table)
    places = [f"row {i}" for i in range(1, len(rows) + 1)]
    return _check(table, rows, places, source or table, False, network)


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


def _read_text(path: Path) -> str:
    """A file's text (UTF-8, a byte-order mark allowed)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StoreError(f"{path}: is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _csv_rows(path: Path, table: str) -> tuple[list[dict[str, str]], list[str]]:
    """The data rows of a CSV file as text by column, and each row's `line N`."""
    source, columns = str(path), TABLES[table]
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)
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
                problems.append(_problem("line 1", name, ..., "appears twice in the header"))
            elif name not in columns:
                problems.append(_problem("line 1", name, ..., _not_a_column(table, name)))
        for name in columns:
            if name not in header:
                needs = f"is missing (table {table} has columns {', '.join(columns)})"
                problems.append(_problem("line 1", name, ..., needs))
        if problems:
            raise StoreError(_render(source, problems))
        rows: list[dict[str, str]] = []
        places: list[str] = []
        for values in reader:
            if not values:
                continue  # a blank line
            if len(values) != len(header):
                raise StoreError(
                    f"{source}: line {reader.line_num} has {len(values)} values; "
                    f"the header names {len(header)} columns"
                )
            rows.append(dict(zip(header, values, strict=True)))
            places.append(f"line {reader.line_num}")
    except csv.Error as exc:
        raise StoreError(f"{source}: line {reader.line_num} is not valid CSV ({exc})") from None
    return rows, places


def _json_rows(path: Path) -> list[Any]:
    """The rows of a JSON file: a list of objects."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise StoreError(
            f"{path}: is not valid JSON ({exc.msg} at line {exc.lineno}, character {exc.colno})"
        ) from None
    if not isinstance(data, list):
        raise StoreError(f"{path}: must be a JSON list of objects, one per row")
    return data


def read_snapshot_file(
    path: str | Path, network: NetworkInfo | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The table a snapshot file fills (its name without suffix) and its checked, typed rows."""
    path = Path(path)
    fmt = path.suffix.lower().removeprefix(".")
    if fmt not in FORMATS:
        raise StoreError(f"{path}: a snapshot file must end in .csv or .json")
    table = _table_of(path.stem, str(path))
    if fmt == "csv":
        rows, places = _csv_rows(path, table)
        return table, _check(table, rows, places, str(path), True, network)
    data = _json_rows(path)
    places = [f"row {i}" for i in range(1, len(data) + 1)]
    return table, _check(table, data, places, str(path), False, network)


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
        table, rows = read_snapshot_file(path, network)
        store.replace_table(table, rows)
        loaded.append((table, len(rows)))
        if on_loaded is not None:
            on_loaded(path, table, len(rows))
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
