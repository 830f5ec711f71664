"""The live state store (DESIGN §7): snapshot tables and decisions, in SQLite or PostgreSQL.

One SQL table per snapshot table of `twin.operate.tables`, with the same columns (whole numbers,
floats, strings) and an integer `id` that keeps each row's position in the file it came from; a
`decisions` table of what the policies decided; and `meta`, which records the schema version.
The program creates the schema on first use (`metadata.create_all`) and refuses a store written
with another schema version.

A URL is any SQLAlchemy database URL (`sqlite:///live.db`, `postgresql://user@host/db`); a bare
path means an SQLite file. `postgresql://` uses psycopg 3 (`pip install 'twin[postgres]'`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    BigInteger,
    ColumnElement,
    Connection,
    DateTime,
    Double,
    Engine,
    Integer,
    String,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    func,
    insert,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from twin.errors import StoreError
from twin.operate.tables import FLOAT_COLUMNS, INTEGER_COLUMNS, TABLES

if TYPE_CHECKING:
    from twin.state import State

SCHEMA_VERSION = 2
"""Bump when a table or column changes; a store of another version is refused, never altered."""

Tables = dict[str, list[dict[str, Any]]]

SQLITE_BUSY_SECONDS = 30.0
"""How long an SQLite store waits for another writer (a concurrent ingest) before giving up."""

SCHEMA_LOCK = 7_463_285_013
"""PostgreSQL advisory lock key held while a store's schema is checked or created, so that two
programs opening a new store at once do not both create its tables (`duplicate key ... pg_type`)."""

_REFUSALS = (SQLAlchemyError, OverflowError, UnicodeError, ValueError, TypeError)
"""What a driver may raise for a value it cannot store: SQLAlchemy wraps the DB-API's errors, but
sqlite3 raises `OverflowError` for an integer >= 2**63 and `UnicodeEncodeError` for a lone
surrogate itself. Ingest checks values first; this is the last line, so that none is a traceback."""


def python_type(column: str) -> type[int] | type[float] | type[str]:
    """The type of a snapshot column's values: `int`, `float` or `str`."""
    if column in INTEGER_COLUMNS:
        return int
    if column in FLOAT_COLUMNS:
        return float
    return str


class Base(DeclarativeBase):
    """The declarative base of every table of the store."""


def _snapshot_model(table: str, columns: tuple[str, ...]) -> type[Base]:
    """A mapped class for one snapshot table: `id` (row position) plus the table's columns."""
    sql_types = {int: BigInteger, float: Double, str: Text}
    annotations: dict[str, Any] = {"id": Mapped[int]}
    namespace: dict[str, Any] = {
        "__tablename__": table,
        "__doc__": f"Rows of the `{table}` snapshot table; `id` is the row's place in its file.",
        "__annotations__": annotations,
        "id": mapped_column(Integer, primary_key=True, autoincrement=False),
    }
    for column in columns:
        kind = python_type(column)
        annotations[column] = Mapped[kind]  # type: ignore[valid-type]
        namespace[column] = mapped_column(sql_types[kind], nullable=False)
    name = "".join(part.title() for part in table.split("_")) + "Row"
    return type(name, (Base,), namespace)


SNAPSHOT_MODELS: dict[str, type[Base]] = {t: _snapshot_model(t, cols) for t, cols in TABLES.items()}
"""The mapped class of each snapshot table, by table name."""


class DecisionRow(Base):
    """One decision a policy took in operating mode, with the digest of the `State` it saw."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[float] = mapped_column(Double)
    policy: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    """The decision's fields as a JSON object."""
    inputs_digest: Mapped[str] = mapped_column(String(64))
    """sha256 (hex) of the canonical JSON of the `State` the policy decided on."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MetaRow(Base):
    """Facts about the store itself (`schema_version`)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def state_digest(state: State) -> str:
    """sha256 (hex) of a `State`'s canonical JSON: the `inputs_digest` of its decisions."""
    text = json.dumps(state.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_url(url: str | Path) -> URL:
    """A SQLAlchemy URL; a bare path is an SQLite file."""
    text = str(url)
    if "://" not in text:
        return URL.create("sqlite", database=text)
    try:
        return make_url(text)
    except ArgumentError as exc:
        raise StoreError(f"{text}: not a database URL ({exc})") from None


def _reason(exc: BaseException) -> str:
    """The database's own words for an error, on one line."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).split("(Background on this error at")[0]
    return " ".join(text.split())


class LoadError(StoreError):
    """The database refused rows being loaded: `row_id` (the row's `id`) and `column` when known.

    Ingest turns it into a message naming the file, the line and the column (see
    `twin.operate.ingest`); its own text names the store.
    """

    def __init__(
        self,
        url: str,
        reason: str,
        row_id: int | None = None,
        column: str | None = None,
        ids: tuple[int, int] | None = None,
    ) -> None:
        self.reason = reason
        self.row_id = row_id
        """The `id` of the row the database refused, when one row is to blame."""
        self.column = column
        """The column the database named, when it did."""
        self.ids = ids
        """The first and last `id` of the rows being written when no single row is to blame."""
        super().__init__(f"{url}: {reason}")


def _column_named(exc: BaseException, columns: Sequence[str]) -> str | None:
    """The column a database error names (psycopg's diagnostics, or `table.column` in its text)."""
    diag = getattr(getattr(exc, "orig", None), "diag", None)
    named = getattr(diag, "column_name", None)
    if named in columns:
        return str(named)
    words = set(re.findall(r"\w+", _reason(exc)))
    found = [c for c in columns if c in words]
    return found[0] if len(found) == 1 else None


def _suspect(row: dict[str, Any], columns: Sequence[str]) -> str | None:
    """The column whose value no store can hold, for a driver error that names none.

    sqlite3's `OverflowError` and `UnicodeEncodeError` say what, not where: an integer beyond
    64 bits, or text that is not UTF-8 (a lone surrogate) or holds a NUL.
    """
    for column in columns:
        value = row.get(column)
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            return column
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return column
            if "\x00" in value:
                return column
    return None


class TableLoad:
    """Rows being written into one snapshot table inside `Store.loading`'s transaction."""

    def __init__(self, conn: Connection, table: Table, url: str) -> None:
        self._conn = conn
        self._table = table
        self._url = url
        self._columns = tuple(c.name for c in table.columns if c.name != "id")

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert typed rows, each with its `id`; a refusal is a `LoadError` naming the row.

        Each batch goes in a savepoint: if the database refuses it, the batch is rolled back and
        replayed one row at a time (each in a savepoint of its own) to find the row to blame.
        """
        if not rows:
            return
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(self._table), rows)
        except _REFUSALS as exc:
            raise self._pinpoint(rows, exc) from exc

    def _pinpoint(self, rows: Sequence[dict[str, Any]], exc: BaseException) -> LoadError:
        """The first row the database refuses on its own; the batch as a whole if none is."""
        try:
            for row in rows:
                try:
                    with self._conn.begin_nested():
                        self._conn.execute(insert(self._table), [row])
                except _REFUSALS as one:
                    column = _column_named(one, self._columns) or _suspect(row, self._columns)
                    return LoadError(self._url, _reason(one), int(row["id"]), column)
        except _REFUSALS:
            pass  # the connection itself failed: blame the batch
        span = (int(rows[0]["id"]), int(rows[-1]["id"]))
        return LoadError(self._url, _reason(exc), ids=span)

    def repeats(
        self, key: Sequence[ColumnElement[Any]], limit: int
    ) -> tuple[int, list[tuple[Any, ...]]]:
        """Rows whose `key` an earlier row (smaller `id`) has: how many, and the first `limit`.

        Each is `(id, id of the first row with that key, *key values)`, by `id`. The check runs
        in the database, so ingest needs no memory per row to keep every key column unique.
        """
        t = self._table
        firsts = (
            select(*(k.label(f"k{i}") for i, k in enumerate(key)), func.min(t.c.id).label("first"))
            .group_by(*key)
            .having(func.count() > 1)
            .subquery()
        )
        joined = t.join(firsts, and_(*(k == firsts.c[f"k{i}"] for i, k in enumerate(key))))
        later = t.c.id != firsts.c.first
        count = self._conn.scalar(select(func.count()).select_from(joined).where(later)) or 0
        if not count:
            return 0, []
        query = (
            select(t.c.id, firsts.c.first, *key)
            .select_from(joined)
            .where(later)
            .order_by(t.c.id)
            .limit(limit)
        )
        return int(count), [tuple(row) for row in self._conn.execute(query)]


class Store:
    """An open live state store; get one with `open_store` and `close` it when done."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self.url = url
        """The store's URL as shown in messages (password hidden)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the store's connections."""
        self._engine.dispose()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn database errors into a `StoreError` naming the store."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(f"{self.url}: {_reason(exc)}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self._guard(), Session(self._engine) as session, session.begin():
            yield session

    def _prepare(self) -> None:
        """Check the schema version, create missing tables and record the version."""
        ours = set(Base.metadata.tables)
        with self._guard(), self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK)))
            existing = set(inspect(conn).get_table_names())
            found = None
            if "meta" in existing:
                found = conn.execute(
                    select(MetaRow.value).where(MetaRow.key == "schema_version")
                ).scalar_one_or_none()
            if found is None and existing & ours:
                raise StoreError(
                    f"{self.url}: has tables named like twin's ({', '.join(sorted(existing & ours))})"
                    " but no twin schema version: not a twin store; use another database"
                )
            if found is not None and found != str(SCHEMA_VERSION):
                raise StoreError(
                    f"{self.url}: the store has schema version {found}, this twin needs version "
                    f"{SCHEMA_VERSION}; use a new database and ingest the snapshot into it"
                )
            if found is not None:
                self._check_complete(conn, existing)
            Base.metadata.create_all(conn)
            if found is None:
                conn.execute(
                    insert(MetaRow).values(key="schema_version", value=str(SCHEMA_VERSION))
                )

    def _check_complete(self, conn: Connection, existing: set[str]) -> None:
        """Refuse a store that lost a table or a column since it was made (dropped by hand).

        Recreating it empty would let `decide` run on a snapshot with a table silently missing.
        """
        missing = [t for t in Base.metadata.tables if t not in existing]
        if missing:
            tables = ", ".join(missing)
            raise StoreError(
                f"{self.url}: the store has lost table{'s' if len(missing) > 1 else ''} {tables} "
                "(dropped?), so it no longer holds the snapshot ingested into it; use a new "
                "database and ingest the whole snapshot into it"
            )
        found = inspect(conn).get_multi_columns(filter_names=list(Base.metadata.tables))
        have_by_table = {name: {c["name"] for c in cols} for (_, name), cols in found.items()}
        for name, table in Base.metadata.tables.items():
            have = have_by_table.get(name, set())
            lost = [c.name for c in table.columns if c.name not in have]
            if lost:
                raise StoreError(
                    f"{self.url}: table {name} of the store has lost column {', '.join(lost)}; "
                    "use a new database and ingest the whole snapshot into it"
                )

    def schema_version(self) -> int:
        """The schema version recorded in the store."""
        with self._transaction() as session:
            value = session.scalar(select(MetaRow.value).where(MetaRow.key == "schema_version"))
        return int(value or 0)

    @contextmanager
    def loading(self, name: str) -> Iterator[TableLoad]:
        """Replace snapshot table `name` in one transaction: its rows are gone, insert the new ones.

        Committed when the block ends; rolled back, leaving the table exactly as it was, if the
        block raises. On PostgreSQL the table is locked against other writers (readers still see
        the old rows) so that two ingests of one table at once run one after the other, never
        interleaved; SQLite locks the whole database at the first write. Any database error is a
        `LoadError`.
        """
        table = _model(name).__table__
        assert isinstance(table, Table)
        try:
            with self._engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    quoted = conn.dialect.identifier_preparer.quote(table.name)
                    conn.execute(text(f"LOCK TABLE {quoted} IN SHARE ROW EXCLUSIVE MODE"))
                conn.execute(delete(table))
                yield TableLoad(conn, table, self.url)
        except SQLAlchemyError as exc:
            raise LoadError(self.url, _reason(exc)) from exc

    def replace_table(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        """Replace every row of snapshot table `name` with `rows` (typed), in one transaction."""
        _model(name)
        columns = TABLES[name]
        for i, row in enumerate(rows, start=1):
            if set(row) != set(columns):
                raise StoreError(
                    f"table {name}: row {i} has columns {', '.join(sorted(row))}; "
                    f"it needs {', '.join(columns)}"
                )
        values = [{"id": i, **{c: row[c] for c in columns}} for i, row in enumerate(rows, 1)]
        with self.loading(name) as load:
            load.insert(values)

    def load_tables(self) -> Tables:
        """Every snapshot table's rows, in the order they were ingested (empty if never ingested)."""
        tables: Tables = {}
        with self._transaction() as session:
            for name, columns in TABLES.items():
                model = SNAPSHOT_MODELS[name]
                query = select(*(getattr(model, c) for c in columns)).order_by(model.id)  # type: ignore[attr-defined]
                tables[name] = [
                    {c: python_type(c)(v) for c, v in zip(columns, row, strict=True)}
                    for row in session.execute(query)
                ]
        return tables

    def add_decisions(
        self, time: float, policy: str, decisions: Sequence[dict[str, Any]], digest: str
    ) -> None:
        """Record `policy`'s decisions at `time` (each `decision_to_dict` output), in one transaction."""
        created = datetime.now(UTC)
        with self._transaction() as session:
            for decision in decisions:  # one by one: ids follow the list's order on every backend
                fields = {k: v for k, v in decision.items() if k != "type"}
                session.execute(
                    insert(DecisionRow).values(
                        time=float(time),
                        policy=policy,
                        type=str(decision["type"]),
                        payload=json.dumps(fields),
                        inputs_digest=digest,
                        created_at=created,
                    )
                )

    def decisions(self) -> list[dict[str, Any]]:
        """Every recorded decision, oldest first: id, time, policy, type, payload, digest, created_at."""
        with self._transaction() as session:
            rows = session.scalars(select(DecisionRow).order_by(DecisionRow.id)).all()
            return [
                {
                    "id": row.id,
                    "time": row.time,
                    "policy": row.policy,
                    "type": row.type,
                    "payload": json.loads(row.payload),
                    "inputs_digest": row.inputs_digest,
                    "created_at": _aware(row.created_at).isoformat(),
                }
                for row in rows
            ]


def _aware(moment: datetime) -> datetime:
    """A timestamp in UTC (SQLite hands back naive ones)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _model(name: str) -> type[Base]:
    """The mapped class of snapshot table `name`; a `StoreError` listing the tables if none."""
    if name not in SNAPSHOT_MODELS:
        raise StoreError(
            f"no snapshot table is called {name!r}; the tables are {', '.join(TABLES)}"
        )
    return SNAPSHOT_MODELS[name]


def open_store(url: str | Path) -> Store:
    """Open (and on first use create) the store at `url`; a bare path is an SQLite file."""
    target = parse_url(url)
    shown = target.render_as_string(hide_password=True)
    if target.drivername in ("postgresql", "postgres"):
        target = target.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
    connect_args: dict[str, Any] = {}
    if target.get_backend_name() == "postgresql" and "connect_timeout" not in target.query:
        connect_args["connect_timeout"] = 10
    if target.get_backend_name() == "sqlite":
        connect_args["timeout"] = SQLITE_BUSY_SECONDS
    try:
        engine = create_engine(target, connect_args=connect_args)
    except NoSuchModuleError:
        raise StoreError(
            f"{shown}: unknown kind of database {target.drivername!r}; "
            "use sqlite:///FILE, postgresql://USER@HOST/DB or a file path"
        ) from None
    except ImportError as exc:
        raise StoreError(
            f"{shown}: the database driver is not installed ({exc}); "
            "for PostgreSQL: pip install 'twin[postgres]'"
        ) from None
    except ArgumentError as exc:
        raise StoreError(f"{shown}: {_reason(exc)}") from None
    store = Store(engine, shown)
    try:
        store._prepare()
    except BaseException:
        engine.dispose()
        raise
    return store
