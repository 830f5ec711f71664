"""Scenario overrides: `--set path=value`, the `variants:` map of a scenario file, sweep grid points.

A path is dotted, list items by index (`lanes.3.capacity` or `lanes[3].capacity`). It must name a
field the scenario has, either written in the file or taken by default (policy parameters
included), so a typo is an error instead of a silently ignored setting. Values are YAML scalars
(`0.5`, `12h`, `true`, `[9h, 21h]`); the overridden scenario is validated whole, so a wrong type
is reported with the field's path like any other mistake in a file.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twin.config.errors import format_path, problem
from twin.config.limits import MAX_DEPTH, MAX_NODES, MAX_VARIANTS
from twin.config.loader import read_yaml, scenario_from_data
from twin.config.reader import YamlSyntaxError, parse_yaml
from twin.config.schema import Scenario
from twin.errors import ConfigError

Key = str | int
_INDEX = re.compile(r"\[(\d+)\]")


def parse_path(text: str) -> tuple[Key, ...]:
    """`lanes[3].capacity` or `lanes.3.capacity` → `('lanes', 3, 'capacity')`."""
    parts = _INDEX.sub(r".\1", text.strip()).split(".")
    if not text.strip() or any(p == "" for p in parts):
        raise ConfigError(
            f"{text!r}: not a field path (write e.g. policies.central_replenishment.s)"
        )
    return tuple(int(p) if p.isdigit() else p for p in parts)


def parse_value(text: str, source: str = "--set") -> Any:
    """A command-line value as YAML would read it; `1e3` is a number too (YAML 1.1 says string).

    Read within the same limits as a scenario file (`twin.config.limits`): text that is not valid
    YAML stays text, but a value breaking a limit (a billion-laughs alias bomb, deep nesting, a
    500-digit number, `.inf`) is a `ConfigError` naming `source`. `inf`/`nan` stay text (the
    field then says it wants a finite number).
    """
    try:
        value = parse_yaml(text, source)
    except YamlSyntaxError:
        return text
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def parse_assignment(text: str) -> tuple[str, Any]:
    """`path=value` → (path, parsed value); anything else is a `ConfigError`."""
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise ConfigError(f"--set {text!r}: expected PATH=VALUE, e.g. seed=7")
    return path.strip(), parse_value(value.strip())


def apply_overrides(
    data: Mapping[str, Any], overrides: Mapping[str, Any], source: str = "--set"
) -> dict[str, Any]:
    """A deep copy of scenario `data` (as read from YAML) with each `path: value` set.

    Raises `ConfigError` naming `source` and the path when a path names no field of the scenario.
    """
    out = _unshared(dict(data))
    problems = []
    for text, value in overrides.items():
        path = parse_path(text)
        reason = _missing(out, path)
        if reason:
            problems.append(problem(source, path, reason))
            continue
        _set(out, path, _unshared(value))
    if problems:
        raise ConfigError(problems)
    return out


def override_scenario(
    data: Mapping[str, Any], overrides: Mapping[str, Any], source: str = "--set"
) -> Scenario:
    """`apply_overrides` then validate: wrong types or values name `source` and the field."""
    return scenario_from_data(apply_overrides(data, overrides, source), source)


def split_variants(path: str | Path) -> tuple[dict[str, Any], Any]:
    """A scenario file's data without its `variants:` map, and that map (None when absent)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of scenario keys at the top level")
    data = dict(data)
    return data, data.pop("variants", None)


def load_designs(
    path: str | Path, overrides: Mapping[str, Any] | None = None, variants: bool = True
) -> dict[str, Scenario]:
    """A scenario file as designs: the base (named after the scenario) then each of its variants.

    `variants:` maps a variant name to overrides (`{path: value}`); `overrides` (from `--set`)
    apply to the base and hence to every variant. A file without variants (or `variants=False`,
    which leaves the map unread) gives one design.
    """
    data, found = split_variants(path)
    found = (found or {}) if variants else {}
    if not isinstance(found, dict) or not all(isinstance(v, dict) for v in found.values()):
        raise ConfigError(f"{path}: variants must map each variant name to {{path: value}}")
    if len(found) > MAX_VARIANTS:
        raise ConfigError(
            f"{path}: variants has {len(found):,} variants; at most {MAX_VARIANTS} are allowed "
            "(each is validated as a whole scenario)"
        )
    base_data = apply_overrides(data, overrides or {}, "--set") if overrides else data
    base = scenario_from_data(base_data, str(path))
    designs = {base.name: base}
    for name, changes in found.items():
        if name in designs:
            raise ConfigError(f"{path}: variants.{name}: has the base scenario's name")
        source = f"{path}: variants.{name}"
        variant = override_scenario(base_data, {"name": f"{base.name}/{name}", **changes}, source)
        designs[str(name)] = variant
    return designs


def pick_design(designs: Mapping[str, Scenario], variant: str | None, file: str | Path) -> Scenario:
    """The base design of a file's designs, or the variant named `variant`."""
    if variant is None:
        return next(iter(designs.values()))
    if variant not in designs:
        known = ", ".join(list(designs)[1:]) or "none"
        raise ConfigError(f"--variant (={variant!r}): {file} has no such variant (it has: {known})")
    return designs[variant]


def _missing(data: dict[str, Any], path: tuple[Key, ...]) -> str | None:
    """Why `path` names no field of the scenario `data`, or None when it does.

    A field counts when the file writes it, when the validated scenario has it by default, or
    when it is a parameter of the policy kind named at `policies.<name>.kind`.
    """
    if _reach(data, path)[0] == len(path):
        return None
    try:
        full = Scenario.model_validate(data).model_dump(by_alias=True)
    except ValueError:
        full = {}
    depth, node = _reach(full, path)
    if depth == len(path):
        return None
    if len(path) == 3 and path[0] == "policies":  # a policy parameter left at its default
        policy = data.get("policies", {}).get(path[1])
        if isinstance(policy, dict) and str(path[2]) in _policy_params(policy.get("kind")):
            return None
    if isinstance(node, list):
        return f"has no item {path[depth]!r} at {format_path(path[:depth])} (a list of {len(node)})"
    if not isinstance(node, dict):
        return f"goes into {format_path(path[:depth])}, which is a value"
    names = [str(n) for n in node]
    if path[0] == "policies" and depth == 2:
        names += _policy_params(data.get("policies", {}).get(path[1], {}).get("kind"))
    near = difflib.get_close_matches(str(path[depth]), names, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return f"names no field of the scenario{hint}"


def _reach(data: Any, path: tuple[Key, ...]) -> tuple[int, Any]:
    """How many parts of `path` lead through `data`, and the node where the walk stopped."""
    node = data
    for depth, key in enumerate(path):
        in_dict = isinstance(node, dict) and key in node
        in_list = isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
        if not (in_dict or in_list):
            return depth, node
        node = node[key]
    return len(path), node


def _policy_params(kind: Any) -> list[str]:
    """Parameter names of a policy kind (none when the kind is unknown)."""
    from twin.policies import REGISTRY

    try:
        params = REGISTRY.resolve(str(kind)).params
    except LookupError:
        return []
    return list(params.model_fields)


def _unshared(node: Any) -> Any:
    """A copy in which no two places share a dict or list.

    YAML anchors and merges share them, and `deepcopy` keeps the sharing, so setting one site
    would set every site merged from it. Copying expands the sharing, so it is done within the
    parser's limits (`MAX_NODES` values, `MAX_DEPTH` levels): data that did not come through the
    parser (the Python API) cannot make it copy gigabytes or recurse without end.
    """
    budget = [MAX_NODES]

    def copy(item: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise ConfigError(f"scenario data expands to more than {MAX_NODES:,} values")
        if depth > MAX_DEPTH:
            raise ConfigError(f"scenario data is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            return {key: copy(value, depth + 1) for key, value in item.items()}
        if isinstance(item, list):
            return [copy(value, depth + 1) for value in item]
        return item

    return copy(node, 0)


def _set(data: dict[str, Any], path: tuple[Key, ...], value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
