"""The small error hierarchy of twin: every error a user can cause is a `TwinError`."""

from __future__ import annotations


class TwinError(Exception):
    """Base of all errors twin raises on purpose; the CLI turns these into exit code 2."""


class ConfigError(TwinError):
    """A scenario or config file is missing, unparsable or invalid.

    `problems` holds one line per problem, each `file: field.path (=value) what is wrong`.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ModelError(TwinError):
    """The simulation reached an impossible state (a bug, e.g. a conservation violation)."""


class StoreError(TwinError):
    """The live state store rejected an operation (operating mode)."""
