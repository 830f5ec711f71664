"""How every `twin` command ends on a user's mistake or a signal, never with a traceback.

A `TwinError` is the user's mistake: its message on stderr and exit code 2. SIGINT and SIGTERM
(Ctrl-C, `timeout`, a CI cancel) raise `Interrupted` while the command runs; it unwinds through
the executors' `close()` (which stop their workers), then the command prints one line, e.g.
`twin: interrupted (SIGTERM); stopped 2 workers, nothing written`, and exits 130 or 143.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer

from twin.errors import TwinError
from twin.experiments.executors import Interrupted, raising_on_signals

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_OPTIONS = ("out", "junit", "markdown", "plot")
"""Keyword arguments of the commands that name what they write: compared before and after an
interruption, so the closing line says truthfully whether anything was written."""


def user_errors(fn: F) -> F:
    """Turn `TwinError` into exit 2 and SIGINT/SIGTERM into exit 130/143, one line each."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outputs = [v for k, v in kwargs.items() if k in OUTPUT_OPTIONS and isinstance(v, Path)]
        before = [_fingerprint(path) for path in outputs]
        try:
            with raising_on_signals():
                return fn(*args, **kwargs)
        except TwinError as exc:
            text = str(exc)
            typer.echo(f"error:\n{text}" if "\n" in text else f"error: {text}", err=True)
            raise typer.Exit(2) from None
        except Interrupted as exc:
            changed = [p for p, b in zip(outputs, before, strict=True) if _fingerprint(p) != b]
            typer.echo(interrupted_line(exc, changed), err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def interrupted_line(exc: Interrupted, changed: list[Path]) -> str:
    """The one line an interrupted command prints: the signal, what was stopped, what written."""
    parts = [*exc.stopped]
    if changed:
        parts.append("partly written: " + ", ".join(str(p) for p in changed))
    else:
        parts.append("nothing written")
    return f"twin: {exc}; " + ", ".join(parts)


def _fingerprint(path: Path) -> tuple[tuple[str, int, int], ...] | None:
    """What a command's output path holds (names, sizes, mtimes; one level), None when absent.

    Cheap enough to take before every command: output folders hold a handful of files.
    """
    try:
        if path.is_dir():
            entries = sorted(path.iterdir())
        elif path.exists():
            entries = [path]
        else:
            return None
        stats = [(e.name, (s := e.stat()).st_size, s.st_mtime_ns) for e in entries]
    except OSError:
        return None
    return tuple(stats)
