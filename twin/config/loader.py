"""Load a scenario file: YAML (read within limits) → pydantic `Scenario` → network and policy checks.

Whatever is wrong is reported at once, one line per problem, as `ConfigError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from twin.config.errors import problem, validation_problems
from twin.config.limits import MAX_DEPTH, MAX_INT_DIGITS, MAX_NODES
from twin.config.reader import read_yaml
from twin.config.schema import Scenario
from twin.errors import ConfigError

__all__ = ["load_scenario", "read_yaml", "scenario_from_data"]


def scenario_from_data(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate already-parsed data as a scenario (source names it in errors)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of scenario keys at the top level")
    oversized = _oversized(data, source)
    if oversized:  # refused before pydantic, which would print them while failing
        raise ConfigError(oversized)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(source, exc, Scenario, data)) from None
    problems = _cross_problems(scenario, source)
    if problems:
        raise ConfigError(problems)
    return scenario


def _oversized(data: Any, source: str) -> list[str]:
    """Whole numbers beyond `MAX_INT_DIGITS` digits, and nesting beyond `MAX_DEPTH`, in Python data.

    Files are held to these limits while they are read; data built in Python (the API, `--set`)
    is checked here, without ever turning such a number into text (Python refuses past 4300
    digits, and pydantic's discriminators would print that refusal as an ignored exception).
    The walk visits at most `MAX_NODES` values, as the file reader counts them: Python data can
    share a list at every level, which a walk without a budget would visit exponentially often.
    """
    lines: list[str] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    visited = 0
    while stack and len(lines) < 20:
        value, path = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            return [problem(source, (), f"expands to more than {MAX_NODES:,} values")]
        if len(path) > MAX_DEPTH:
            lines.append(problem(source, path[:MAX_DEPTH], f"is nested more than {MAX_DEPTH} levels deep"))
        elif isinstance(value, dict):
            stack.extend((v, (*path, k if isinstance(k, str | int) else "?")) for k, v in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool) and (
            value.bit_length() > _MAX_INT_BITS
        ):
            lines.append(problem(source, path, f"is a whole number of more than {MAX_INT_DIGITS} digits"))
    return lines


_MAX_INT_BITS = int(MAX_INT_DIGITS * 3.33) + 1
"""Bits of the largest whole number of `MAX_INT_DIGITS` digits (log2 10 ≈ 3.32)."""


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (its base design: a `variants:` map is set aside).

    `twin.experiments.overrides.load_designs` reads the variants as designs of their own.
    """
    data = read_yaml(path)
    if isinstance(data, dict) and "variants" in data:
        data = {key: value for key, value in data.items() if key != "variants"}
    return scenario_from_data(data, str(path))


def _cross_problems(scenario: Scenario, source: str) -> list[str]:
    from twin import kpi, network
    from twin.policies import REGISTRY

    lines = [problem(source, i.path, i.message, i.value) for i in network.check(scenario)]
    for name in scenario.targets:
        reason = kpi.unknown_kpi(name)
        if reason:
            lines.append(problem(source, ("targets", name), reason))
    info = None if lines else network.network_info(scenario)
    for name, spec in scenario.policies.items():
        try:
            kind = REGISTRY.resolve(spec.kind)
        except LookupError as exc:
            lines.append(problem(source, ("policies", name, "kind"), str(exc), spec.kind))
            continue
        try:
            params = kind.params.model_validate(spec.params)
        except ValidationError as exc:
            lines += validation_problems(
                source, exc, kind.params, spec.params, prefix=("policies", name)
            )
            continue
        module = getattr(kind.build, "__module__", "")
        if module.startswith("twin.policies.") and module != "twin.policies.procurement":
            lines += _unknown_keys(scenario, source, name, params)
        unknown = [s for s in _sites_named(params) if s not in scenario.sites_of("warehouse")]
        for sid in unknown:
            lines.append(
                problem(
                    source, ("policies", name, "sites"), "names no warehouse of this scenario", sid
                )
            )
        if info is not None and not unknown:
            try:  # a policy may check its parameters against the network when it is built
                kind.build(params, info)
            except (ValueError, KeyError, LookupError, TypeError) as exc:
                lines.append(problem(source, ("policies", name), f"cannot be built: {exc}"))
    return lines


def _sites_named(params: Any) -> list[str]:
    sites = getattr(params, "sites", None)
    return list(sites) if isinstance(sites, list) else []


def _unknown_keys(scenario: Scenario, source: str, name: str, params: Any) -> list[str]:
    """Per-SKU levels keyed by something that is not a SKU (a typo would be silently unused).

    A built-in kind's parameter that maps keys to numbers (`target: {default: 3, serum: 5}`,
    `priority`) is keyed by SKU, with an optional `default`. The procurement kinds key theirs by
    component and are not checked here: a level for a component nobody sells is merely unused.
    """
    known = set(scenario.skus) | {"default"}
    lines = []
    for field in type(params).model_fields:
        value = getattr(params, field)
        if not isinstance(value, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        ):
            continue
        for key in value:
            if key not in known:
                lines.append(
                    problem(
                        source,
                        ("policies", name, field, key),
                        "names no SKU of this scenario; keys are SKUs or `default`",
                    )
                )
    return lines
