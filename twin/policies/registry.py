"""The policy registry: a scenario names a policy `kind`; a user's own class loads by dotted path."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, BeforeValidator, ConfigDict

from twin.state import Decision, NetworkInfo, State
from twin.units import parse_duration

Hours = Annotated[float, BeforeValidator(parse_duration)]
"""Hours: a number, or text with units ("36h", "2d", "90min") as in a scenario."""


@runtime_checkable
class Policy(Protocol):
    """Decision logic: sees only a `State`, returns `Decision`s. No simulation imports."""

    def decide(self, state: State) -> list[Decision]:
        """The decisions to take now."""
        ...


class PolicyParams(BaseModel):
    """Base of each policy kind's parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class PolicyKind:
    """A registered kind: its parameter model and how to build a policy from them."""

    name: str
    params: type[BaseModel]
    build: Callable[[Any, NetworkInfo], Policy]


P = TypeVar("P", bound=type)


class PolicyRegistry:
    """Maps kind names to policy classes; `resolve` also accepts `package.module.Class`."""

    def __init__(self) -> None:
        self._kinds: dict[str, PolicyKind] = {}

    def register(self, name: str) -> Callable[[P], P]:
        """Class decorator: register a policy class whose `Params` model validates its settings."""

        def decorate(cls: P) -> P:
            if name in self._kinds:
                raise ValueError(f"policy kind {name!r} is registered twice")
            self._kinds[name] = PolicyKind(name, _params_of(cls), cls)
            return cls

        return decorate

    @property
    def names(self) -> list[str]:
        """Registered kind names, sorted."""
        return sorted(self._kinds)

    def resolve(self, kind: str) -> PolicyKind:
        """The kind called `kind`; raises `LookupError` naming the known kinds when there is none."""
        if kind in self._kinds:
            return self._kinds[kind]
        if "." in kind or ":" in kind:
            module_name, _, attr = kind.replace(":", ".").rpartition(".")
            try:
                cls = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise LookupError(f"cannot import policy class {kind!r}: {exc}") from None
            if not callable(getattr(cls, "decide", None)):
                raise LookupError(f"{kind!r} has no decide(state) method")
            return PolicyKind(kind, _params_of(cls), cls)
        raise LookupError(
            f"unknown policy kind {kind!r}; known kinds: {', '.join(self.names)}"
            " (or a dotted path to your own class)"
        )


class _AnyParams(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


def _params_of(cls: type) -> type[BaseModel]:
    params = getattr(cls, "Params", None)
    return params if isinstance(params, type) and issubclass(params, BaseModel) else _AnyParams


REGISTRY = PolicyRegistry()
"""The registry of built-in kinds, filled when `twin.policies` is imported."""
