"""Options shared by the experiment commands (`run`, `compare`, `sweep`, `gate`), defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from twin.errors import TwinError
from twin.experiments.executors import SCHEDULER_ENV, LocalExecutor, make_executor
from twin.experiments.runner import Precision

Reps = Annotated[int, typer.Option(help="Replications (the first round, with --precision).")]
Workers = Annotated[int, typer.Option(help="Local worker processes.")]
Scheduler = Annotated[
    str | None,
    typer.Option(
        help=f"Run on a dask.distributed cluster at this address (e.g. tcp://host:8786); "
        f"default ${SCHEDULER_ENV} when set, else local processes."
    ),
]
PrecisionOpt = Annotated[
    float | None,
    typer.Option(
        help="Add replications until --kpi's 95 % CI half-width is below this share of its "
        "mean (e.g. 0.02), at most --max-reps."
    ),
]
Kpi = Annotated[str, typer.Option(help="The KPI --precision watches.")]
MaxReps = Annotated[int, typer.Option(help="Cap on replications with --precision.")]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario field: PATH=VALUE (repeatable)."),
]


def executor_for(workers: int, scheduler: str | None) -> LocalExecutor | Any:
    """The executor the options ask for (dask when a scheduler is named)."""
    return make_executor(workers, scheduler)


def precision_for(precision: float | None, kpi: str, max_reps: int) -> Precision | None:
    """A sequential stopping rule when --precision is given."""
    return None if precision is None else Precision(precision, kpi, max_reps)


def check_out_folder(out: Path | None) -> None:
    """Refuse an `--out` that is an existing file before anything runs (not after an hour)."""
    if out is not None and out.exists() and not out.is_dir():
        raise TwinError(f"--out {out}: exists and is not a folder")


def overrides_from(sets: list[str] | None) -> dict[str, Any]:
    """`--set PATH=VALUE` options as a mapping (a later PATH wins)."""
    from twin.experiments.overrides import parse_assignment

    return dict(parse_assignment(text) for text in sets or [])
