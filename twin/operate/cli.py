"""`twin operate`: operating mode from the command line; thin wrappers over `twin.operate`.

Any `TwinError` (a bad file, an unreachable store, an invalid scenario) is printed as its message
with exit code 2, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from twin.cli_errors import user_errors

operate_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Operating mode: load live snapshots into a state store; the scenario's policies decide.",
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        help="The store: a SQLAlchemy URL (sqlite:///live.db, postgresql://user@host/db) "
        "or the path of an SQLite file.",
    ),
]


@operate_app.command()
@user_errors
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Snapshot files: TABLE.csv or TABLE.json.")],
    db: DbOption,
    scenario: Annotated[
        Path | None,
        typer.Option(help="Also check that the sites, SKUs, factories... named exist in it."),
    ] = None,
) -> None:
    """Load snapshot files; each replaces its table in one transaction, a bad file changes nothing."""
    from twin.operate.ingest import ingest_files
    from twin.operate.store import open_store

    network = None
    if scenario is not None:
        from twin.config import load_scenario
        from twin.network import network_info

        network = network_info(load_scenario(scenario))

    def loaded(path: Path, table: str, rows: int) -> None:
        typer.echo(f"{path}: {rows} row{'s' if rows != 1 else ''} into table {table}")

    with open_store(db) as store:
        ingest_files(store, files, network, on_loaded=loaded)


@operate_app.command()
@user_errors
def decide(
    db: DbOption,
    scenario: Annotated[Path, typer.Option(help="Scenario YAML file whose policies decide.")],
    at: Annotated[
        str | None,
        typer.Option(help="Decide as of this time (hours, or '36h', '2d') not the snapshot's."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decisions as JSON.")] = False,
) -> None:
    """Build the State from the store, run the scenario's policies, record and print decisions."""
    from dataclasses import replace

    from twin.config import load_scenario
    from twin.errors import StoreError
    from twin.model.world import build_policies
    from twin.network import network_info
    from twin.operate.snapshot import state_from_tables
    from twin.operate.store import open_store, state_digest
    from twin.state import decision_to_dict
    from twin.units import parse_duration

    try:
        time = None if at is None else parse_duration(at)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--at") from None
    spec = load_scenario(scenario)
    network = network_info(spec)
    with open_store(db) as store:
        tables = store.load_tables()
        if not tables["clock"]:
            raise StoreError(
                f"{store.url}: holds no snapshot (its clock table is empty); load one first with "
                "`twin operate ingest --db URL clock.csv stock.csv ...`"
            )
        state = state_from_tables(tables, network)
        if time is not None:
            state = replace(state, time=time)
        digest = state_digest(state)
        made = [
            (name, [decision_to_dict(d) for d in policy.decide(state)])
            for name, _review, policy in build_policies(spec, network)
        ]
        for name, decisions in made:
            store.add_decisions(state.time, name, decisions, digest)
        shown_url = store.url
    rows = [{"time": state.time, "policy": name, **d} for name, ds in made for d in ds]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
    else:
        typer.echo(format_decisions(rows))
        typer.echo(
            f"{len(rows)} decision{'s' if len(rows) != 1 else ''} by {len(made)} "
            f"polic{'ies' if len(made) != 1 else 'y'} at t={state.time:g} h, "
            f"recorded in {shown_url}"
        )


def format_decisions(rows: list[dict[str, Any]]) -> str:
    """Decisions as a text table: time, policy, type, then the decision's fields as key=value."""
    if not rows:
        return "no decisions"
    table = [("time", "policy", "type", "fields")] + [
        (
            f"{row['time']:g}",
            str(row["policy"]),
            str(row["type"]),
            " ".join(f"{k}={v}" for k, v in row.items() if k not in ("time", "policy", "type")),
        )
        for row in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)), r[3]]).rstrip()
        for r in table
    )
