"""One colour per site, SKU, channel and cause across every figure of a report.

Colours are given by each name's position in the scenario (sites and SKUs in file order), so a
warehouse is the same colour in the stock fan chart, the network map and the service table of one
report. Categories never share a figure with each other, so sites and SKUs may reuse hues.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib import colormaps
from matplotlib.colors import to_hex

WAITING = "#222222"
"""Units of orders waiting for stock: near-black, dashed, so no site's colour stands for it."""
BASELINE = "#7f7f7f"
"""Baseline demand is grey: livestreams are what stands out."""
LIVE_BAND = "#f2b134"
"""The shaded band of a livestream on every time axis."""
DISRUPTION = "#d62728"
BETTER, WORSE, NEUTRAL = "#1a7f37", "#cf222e", "#6e7781"

CAUSE_COLOURS = {
    "closure": "#8c564b",
    "no stock at site": "#1f77b4",
    "line-haul capacity": "#17becf",
    "upstream empty": "#9467bd",
    "factory capacity": "#ff7f0e",
    "supplier": "#bcbd22",
    "disruption": "#d62728",
    "pick/pack queue": "#2ca02c",
    "last-mile wave": "#e377c2",
    "last-mile transit": "#7f7f7f",
}


def _cycle(names: Sequence[str], cmap: str) -> dict[str, str]:
    colours = colormaps[cmap].colors  # type: ignore[attr-defined]
    return {name: to_hex(colours[i % len(colours)]) for i, name in enumerate(names)}


SITE_CYCLE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
"""tab10 without its orange, red and grey, which mean the livestream band, disruptions and waits."""


def site_colours(sites: Sequence[str]) -> dict[str, str]:
    """A colour per warehouse (in file order), never one that means something else."""
    return {site: SITE_CYCLE[i % len(SITE_CYCLE)] for i, site in enumerate(sites)}


def sku_colours(skus: Sequence[str]) -> dict[str, str]:
    """A colour per SKU (tab20, in file order)."""
    return _cycle(skus, "tab20")


def channel_colours(pulses: Sequence[str]) -> dict[str, str]:
    """Grey for baseline demand, then one colour per livestream pulse (Dark2)."""
    return {"baseline": BASELINE, **_cycle(pulses, "Dark2")}
