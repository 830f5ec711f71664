"""The policy registry: a scenario names a policy `kind`; a user's own class loads by dotted path."""

from __future__ import annotations

import importlib
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, field_validator

from twin.config.base import Duration
from twin.config.limits import MAX_UNITS
from twin.state import Decision, NetworkInfo, State

Hours = Duration
"""Hours: a number, or text with units ("36h", "2d", "90min"), as every duration of a scenario."""


@runtime_checkable
class Policy(Protocol):
    """Decision logic: sees only a `State`, returns `Decision`s. No simulation imports."""

    def decide(self, state: State) -> list[Decision]:
        """The decisions to take now."""
        ...


class PolicyParams(BaseModel):
    """Base of each policy kind's parameters: unknown keys are errors, numbers finite and bounded.

    Parameters come from untrusted scenario files like every other field, so every number of
    every kind (levels, rates, thresholds, also inside mappings and lists) must be finite and
    within ±`MAX_UNITS`: a level of 1e30 would overflow the model's 64-bit counts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        reason = _unbounded(value)
        if reason:
            raise ValueError(reason)
        return value


@dataclass(frozen=True, slots=True)
class PolicyKind:
    """A registered kind: its parameter model and how to build a policy from them."""

    name: str
    params: type[BaseModel]
    build: Callable[[Any, NetworkInfo], Policy]


P = TypeVar("P", bound=type)

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*[.:][A-Za-z_]\w*", re.ASCII)
"""`package.module.Class` or `package.module:Class`: names only, so that no text reaches
`importlib` as a relative import (`.x`, `...`) or an empty module name."""


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
            if not _DOTTED.fullmatch(kind):
                raise LookupError(
                    f"{kind[:80]!r} is neither a known kind nor a dotted path to a class "
                    "(write package.module.Class or package.module:Class)"
                )
            module_name, _, attr = kind.replace(":", ".").rpartition(".")
            refusal = _import_refusal(module_name)
            if refusal:
                raise LookupError(f"{kind!r} {refusal}")
            try:
                cls = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise LookupError(f"cannot import policy class {kind!r}: {exc}") from None
            except Exception as exc:  # the user's module failed while importing
                raise LookupError(
                    f"cannot import policy class {kind!r}: {type(exc).__name__}: {exc}"[:300]
                ) from None
            if not callable(getattr(cls, "decide", None)):
                raise LookupError(f"{kind!r} has no decide(state) method")
            return PolicyKind(kind, _params_of(cls), cls)
        raise LookupError(
            f"unknown policy kind {kind!r}; known kinds: {', '.join(self.names)}"
            " (or a dotted path to your own class)"
        )


POLICY_MODULES_ENV = "TWIN_POLICY_MODULES"
"""Comma-separated top-level packages a scenario's dotted policy `kind` may import."""


def _import_refusal(module_name: str) -> str | None:
    """Why importing `module_name` for a policy is not allowed, or None when it is.

    A scenario is untrusted input (it may come with a pull request), and importing a module runs
    its code: a `kind` may name a module that is already loaded, or one whose top-level package is
    listed in TWIN_POLICY_MODULES; anything else would run code the scenario chose.
    """
    if module_name in sys.modules:
        return None
    top = module_name.split(".", 1)[0]
    allowed = {p.strip() for p in os.environ.get(POLICY_MODULES_ENV, "").split(",") if p.strip()}
    if top in allowed:
        return None
    return (
        f"would import module {module_name!r}, which runs its code: list its package in "
        f"{POLICY_MODULES_ENV} to use your own policies (e.g. {POLICY_MODULES_ENV}={top})"
    )


class _AnyParams(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)


def _unbounded(value: Any, depth: int = 0) -> str | None:
    """Why a parameter value holds a number beyond ±`MAX_UNITS` (or is not finite), else None."""
    if isinstance(value, bool) or depth > 20:
        return None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if abs(value) > MAX_UNITS:  # compared as int when it is one: 10**5000 has no float
            return f"must be within ±{MAX_UNITS:.0e}"
        return None
    items: Any = ()
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, list | tuple):
        items = value
    elif isinstance(value, BaseModel):
        return None  # a nested parameter model checks its own fields
    for item in items:
        reason = _unbounded(item, depth + 1)
        if reason:
            return reason
    return None


def _params_of(cls: type) -> type[BaseModel]:
    params = getattr(cls, "Params", None)
    return params if isinstance(params, type) and issubclass(params, BaseModel) else _AnyParams


REGISTRY = PolicyRegistry()
"""The registry of built-in kinds, filled when `twin.policies` is imported."""
