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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    BigInteger,
    DateTime,
    Double,
    Engine,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    insert,
    inspect,
    make_url,
    select,
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
            Base.metadata.create_all(conn)
            if found is None:
                conn.execute(
                    insert(MetaRow).values(key="schema_version", value=str(SCHEMA_VERSION))
                )

    def schema_version(self) -> int:
        """The schema version recorded in the store."""
        with self._transaction() as session:
            value = session.scalar(select(MetaRow.value).where(MetaRow.key == "schema_version"))
        return int(value or 0)

    def replace_table(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        """Replace every row of snapshot table `name` with `rows` (typed), in one transaction."""
        model = _model(name)
        columns = TABLES[name]
        for i, row in enumerate(rows, start=1):
            if set(row) != set(columns):
                raise StoreError(
                    f"table {name}: row {i} has columns {', '.join(sorted(row))}; "
                    f"it needs {', '.join(columns)}"
                )
        values = [{"id": i, **{c: row[c] for c in columns}} for i, row in enumerate(rows, 1)]
        with self._transaction() as session:
            session.execute(delete(model))
            if values:
                session.execute(insert(model.__table__), values)  # Core: faster than ORM bulk

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
