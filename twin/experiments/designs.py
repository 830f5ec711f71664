"""Designs to compare: scenario files with their variants (or `Scenario` objects), named uniquely.

Shared by `twin compare`, `twin gate` and the Python API, so a design gets the same name and the
same error whichever way it was asked for.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from twin.config.schema import Scenario
from twin.errors import ConfigError, TwinError
from twin.experiments.overrides import load_designs


def gather_designs(
    files: Sequence[str | Path | Scenario],
    overrides: Mapping[str, Any] | None = None,
    variants: bool = True,
) -> tuple[dict[str, Scenario], dict[str, str]]:
    """The designs of `files` in order (base, then variants), and the file each came from.

    A design name found in several files is prefixed with its file's stem (`stem:name`); a file
    given twice, or names that stay ambiguous, are errors. `--set` overrides apply to every
    design read from a file (a `Scenario` object is taken as given, under its name); an error
    names the file it was found in.
    """
    if not files:
        raise TwinError("give at least one scenario file")
    overrides = dict(overrides or {})
    seen: dict[Path, Path] = {}
    per_file: list[tuple[Path, dict[str, Scenario]]] = []
    for item in files:
        if isinstance(item, Scenario):
            per_file.append((Path(f"<{item.name}>"), {item.name: item}))
            continue
        file = Path(item)
        key = file.resolve()
        if key in seen:
            raise TwinError(f"{file}: given twice (also as {seen[key]})")
        seen[key] = file
        try:
            found = load_designs(file, overrides, variants)
        except ConfigError as exc:
            prefix = f"{file}:"
            raise ConfigError(
                [p if p.startswith(prefix) else f"{file}: {p}" for p in exc.problems]
            ) from None
        per_file.append((file, found))
    counts: dict[str, int] = {}
    for _, found in per_file:
        for name in found:
            counts[name] = counts.get(name, 0) + 1
    designs: dict[str, Scenario] = {}
    sources: dict[str, str] = {}
    for file, found in per_file:
        for name, scenario in found.items():
            key = f"{file.stem}:{name}" if counts[name] > 1 else name
            if key in designs:
                raise TwinError(
                    f"{file}: design {name!r} is also in {sources[key]}, and prefixing the file "
                    "name does not tell them apart; rename the scenario or the file"
                )
            designs[key] = scenario
            sources[key] = str(file)
    if len(designs) < 2:
        only = ", ".join(designs)
        raise TwinError(
            f"compare needs at least two designs, got {len(designs)} ({only}): give two "
            "scenario files, or a file with a `variants:` map"
            + ("" if variants else " (and leave out --no-variants)")
        )
    return designs, sources


def with_baseline(designs: dict[str, Scenario], baseline: str | None) -> dict[str, Scenario]:
    """The designs with `baseline` first (unchanged when it is None)."""
    if baseline is None:
        return designs
    if baseline not in designs:
        near = difflib.get_close_matches(baseline, list(designs), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise TwinError(
            f"--baseline (={baseline!r}) is not one of the designs{hint}: " + ", ".join(designs)
        )
    return {baseline: designs[baseline], **{k: v for k, v in designs.items() if k != baseline}}
