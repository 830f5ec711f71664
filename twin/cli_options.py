"""Options shared by the experiment commands (`run`, `compare`, `sweep`, `gate`), defined once."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.errors import TwinError
from twin.experiments.budget import check_workers
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
AllowLarge = Annotated[
    bool,
    typer.Option(
        "--allow-large",
        help="Run even when the work estimate is over the budget (orders, policy reviews, "
        "departures, sampled values, routing per replication; --reps, --workers). Hard limits "
        "(fleets over 1000 vehicles, reviews under 1 min) stay.",
    ),
]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario field: PATH=VALUE (repeatable)."),
]


def executor_for(workers: int, scheduler: str | None) -> LocalExecutor | Any:
    """The executor the options ask for (dask when a scheduler is named).

    Local workers beyond the budget (`twin.experiments.budget.check_workers`) are refused
    unless `--allow-large` is in force; a cluster's size is the cluster's business.
    """
    if not (scheduler or os.environ.get(SCHEDULER_ENV)):
        check_workers(workers)
    return make_executor(workers, scheduler)


def precision_for(precision: float | None, kpi: str, max_reps: int) -> Precision | None:
    """A sequential stopping rule when --precision is given."""
    return None if precision is None else Precision(precision, kpi, max_reps)


def check_out_folder(out: Path | None, option: str = "--out") -> None:
    """Refuse an output folder we could not write, before anything runs (not after an hour).

    It may exist (then it must be a folder we can write in) or not (then it must be possible to
    make it). Results are written into a new folder beside it and swapped in
    (`twin.experiments.runner.write_folder`), or moved into it when its parent is read-only. Tried
    for real (a file system's rules, permissions and name lengths are its own), leaving nothing:
    folders made for the test are removed.
    """
    if out is None:
        return
    try:
        if out.exists() and not out.is_dir():
            raise TwinError(f"{option} {out}: exists and is not a folder")
    except OSError as exc:
        raise _unwritable(option, out, exc) from None
    _probe(out, option, folder=True)


def check_out_file(path: Path | None, option: str) -> None:
    """Refuse an output file we could not write (a folder, under a file, no permission) up front.

    A file is replaced whole through a temporary file beside it, so its folder must take a new
    file; tried for real, and undone.
    """
    if path is None:
        return
    try:
        if path.is_dir():
            raise TwinError(f"{option} {path}: is a folder, not a file")
    except OSError as exc:
        raise _unwritable(option, path, exc) from None
    _probe(path, option, folder=False)


def _probe(target: Path, option: str, folder: bool) -> None:
    """Make what is missing up to `target`, a file or folder beside it and in it; undo it all."""
    path = Path(os.path.abspath(target))
    made: list[Path] = []
    try:
        missing: list[Path] = []
        existing = path.parent
        while not existing.exists() and existing != existing.parent:
            missing.append(existing)
            existing = existing.parent
        if not existing.is_dir():
            raise TwinError(f"{option} {target}: {existing} is a file, not a folder")
        for parent in reversed(missing):
            parent.mkdir()
            made.append(parent)
        # the name itself must fit, and a new entry must fit beside it (the staging folder, the
        # temporary file) or, for an existing folder, in it (where a staging folder falls back)
        if not (folder and path.is_dir()):
            probe = path.parent / f".twin-probe-{uuid.uuid4().hex[:12]}"
            probe.mkdir()
            made.append(probe)
        if not path.exists():
            if folder:
                path.mkdir()
            else:
                path.touch(exist_ok=False)
            made.append(path)
        elif folder:
            inner = path / f".twin-probe-{uuid.uuid4().hex[:12]}"
            inner.mkdir()
            made.append(inner)
    except TwinError:
        raise
    except OSError as exc:
        raise _unwritable(option, target, exc) from None
    finally:
        for item in reversed(made):
            with contextlib.suppress(OSError):
                item.rmdir() if item.is_dir() else item.unlink()


def _unwritable(option: str, target: Path, exc: OSError) -> TwinError:
    """`--out x: cannot write there (Permission denied)`."""
    reason = exc.strerror or type(exc).__name__
    return TwinError(f"{option} {target}: cannot write there ({reason})")


def overrides_from(sets: list[str] | None) -> dict[str, Any]:
    """`--set PATH=VALUE` options as a mapping (a later PATH wins)."""
    from twin.experiments.overrides import parse_assignment

    return dict(parse_assignment(text) for text in sets or [])
