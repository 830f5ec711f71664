"""Load a scenario file: YAML → pydantic `Scenario` → network and policy checks.

Whatever is wrong is reported at once, one line per problem, as `ConfigError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from twin.config.errors import problem, validation_problems
from twin.config.schema import Scenario
from twin.errors import ConfigError


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing or unparsable file is a `ConfigError` naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: not valid YAML: {what}") from None


def scenario_from_data(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate already-parsed data as a scenario (source names it in errors)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of scenario keys at the top level")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(source, exc, Scenario, data)) from None
    problems = _cross_problems(scenario, source)
    if problems:
        raise ConfigError(problems)
    return scenario


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
