"""How every `twin` command reports a user's mistake: its message on stderr and exit code 2."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

from twin.errors import TwinError

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Turn `TwinError` into a message on stderr and exit code 2, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TwinError as exc:
            text = str(exc)
            typer.echo(f"error:\n{text}" if "\n" in text else f"error: {text}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
