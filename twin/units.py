"""Units: hours on the clock ("90min", "36h", "2d" in files), and numbers as people read them."""

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
_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_PLAIN = re.compile(rf"^\s*{_NUMBER}\s*$")
_TERM = re.compile(rf"\s*{_NUMBER}\s*([a-zA-Z]+)\s*")


def _parse_text(text: str) -> float | None:
    """Hours in "90min", "36h", "2d", "4d 20h" or a bare number; None when unparsable."""
    plain = _PLAIN.match(text)
    if plain:
        return float(plain.group(1))
    hours, pos = 0.0, 0
    for match in _TERM.finditer(text):
        if match.start() != pos or match.group(2).lower() not in _UNITS_IN_HOURS:
            return None
        hours += float(match.group(1)) * _UNITS_IN_HOURS[match.group(2).lower()]
        pos = match.end()
    return hours if pos == len(text) and pos > 0 else None


def parse_duration(value: object) -> float:
    """Return `value` in hours: a number is hours already; text carries units ("90min", "4d 20h")."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '90min', '36h' or '2d', got {value!r}")
    if isinstance(value, int | float):
        hours = float(value)
    elif isinstance(value, str):
        parsed = _parse_text(value)
        if parsed is None:
            raise ValueError(
                f"expected a duration such as '90min', '36h', '2d' or '4d 20h', got {value!r}"
            )
        hours = parsed
    else:
        raise ValueError(f"expected a duration such as '90min', '36h' or '2d', got {value!r}")
    if not math.isfinite(hours) or hours < 0:
        raise ValueError(f"a duration must be finite and >= 0, got {value!r}")
    return hours


def plain_number(x: float) -> str:
    """A number read at a glance: thousands separators from 1000, 4 significant digits below."""
    if not math.isfinite(x):
        return "nan"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"
