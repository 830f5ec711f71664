"""The time axis of report figures: calendar dates when the scenario has a `start`, else days.

Every time-series figure marks the livestreams on its axis by name, so a reader sees "double11"
rather than hour 236.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, MultipleLocator

from twin.report.palette import LIVE_BAND


def label(hours: float, start: datetime | None, with_day: bool = True) -> str:
    """`Nov 09 20:00` from a calendar start, else `d9 20:00` (day counted from 0)."""
    if start is not None:
        when = start + timedelta(hours=hours)
        return when.strftime("%b %d %H:%M" if with_day else "%H:%M")
    day, rest = divmod(hours, 24.0)
    hh, mm = divmod(round(rest * 60), 60)
    clock = f"{int(hh):02d}:{int(mm):02d}"
    return f"d{int(day)} {clock}" if with_day else clock


def format_axis(ax: Axes, lo: float, hi: float, start: datetime | None) -> None:
    """Ticks at sensible steps between hours `lo` and `hi`, labelled as dates or days."""
    span = hi - lo
    step = 24.0 if span > 72 else (6.0 if span > 24 else 2.0)
    if start is not None and span > 72:
        fmt = FuncFormatter(lambda x, _pos: (start + timedelta(hours=x)).strftime("%b %d"))
    elif span > 72:
        fmt = FuncFormatter(lambda x, _pos: f"day {int(x // 24)}")
    else:
        fmt = FuncFormatter(lambda x, _pos: label(x, start))
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(fmt)
    ax.set_xlim(lo, hi)
    zone = f" ({start.tzname()})" if start is not None and start.tzname() else ""
    ax.set_xlabel(("time" if start is None else "date") + zone)


def mark_pulses(
    ax: Axes,
    names: Sequence[str],
    starts: Sequence[float],
    ends: Sequence[float],
    named: bool = True,
) -> None:
    """Shade each livestream and write its name at the top of the axis.

    A replay is shaded but not named (it belongs to its livestream); a name closer than a tenth
    of the axis to the previous one drops a line, so neighbours never overprint.
    """
    lo, hi = ax.get_xlim()
    last, line = -math.inf, 0
    for name, s, e in zip(names, starts, ends, strict=True):
        if e < lo or s > hi:
            continue
        ax.axvspan(s, e, color=LIVE_BAND, alpha=0.25, linewidth=0, zorder=0)
        if not named or "/replay" in name:
            continue
        line = line + 1 if s - last < 0.1 * (hi - lo) else 0
        last = s
        ax.annotate(
            name,
            xy=(s, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2 - 9 * line),
            textcoords="offset points",
            fontsize=7,
            va="top",
            color="#7a5300",
        )
