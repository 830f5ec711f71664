"""Durations: the simulation clock is in hours; scenario files may write "90min", "36h", "2d"."""

from __future__ import annotations

import math
import re

_UNITS_IN_HOURS = {
    "s": 1 / 3600,
    "sec": 1 / 3600,
    "min": 1 / 60,
    "m": 1 / 60,
    "h": 1.0,
    "hr": 1.0,
    "d": 24.0,
    "day": 24.0,
    "days": 24.0,
    "w": 168.0,
}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(value: object) -> float:
    """Return `value` in hours: a number is hours already, a string carries a unit (s, min, h, d, w)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '90min', '36h' or '2d', got {value!r}")
    if isinstance(value, int | float):
        hours = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None or match.group(2).lower() not in _UNITS_IN_HOURS | {"": 1.0}:
            raise ValueError(
                f"expected a duration such as '90min', '36h' or '2d', got {value!r}"
            )
        number, unit = match.groups()
        hours = float(number) * (_UNITS_IN_HOURS[unit.lower()] if unit else 1.0)
    else:
        raise ValueError(f"expected a duration such as '90min', '36h' or '2d', got {value!r}")
    if not math.isfinite(hours) or hours < 0:
        raise ValueError(f"a duration must be finite and >= 0, got {value!r}")
    return hours
