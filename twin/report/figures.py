"""Rendering of matplotlib figures to PNG for the self-contained HTML reports.

Figures are built on `matplotlib.figure.Figure` objects directly (Agg rendering, no pyplot), so
nothing touches matplotlib's global figure registry and reports can be built in parallel.
"""

from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure

DPI = 100
"""Resolution of the embedded PNGs: sharp on screen, small enough to keep the report light."""


def to_png_base64(fig: Figure, dpi: int = DPI, tight: bool = True) -> str:
    """Render a figure to PNG and return it base64-encoded, ready for a `data:` URI.

    `tight` crops to the drawn content, which costs a second drawing pass: figures with many
    axes lay themselves out and pass False.
    """
    buffer = io.BytesIO()
    crop = "tight" if tight else None
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches=crop, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")
