"""What the self-contained HTML reports share: base CSS, the verdict box, the KPI table.

Also tagged numbers, embedded figures and the atomic writer; `write_report` writes a run's
report (rendered by `run_report`).

Reports are self-contained (inline CSS, figures as base64 PNG `data:` URIs) so a planner can open
them offline or mail them around, and written atomically so a half-written report never exists.
"""

from __future__ import annotations

import math
import os
import tempfile
from html import escape
from pathlib import Path

import pandas as pd

from twin import kpi
from twin.experiments.results import RunResult
from twin.kpi import MISSING, decimals_for, format_ci, format_value

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 62rem; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
.summary { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.92rem; }
th, td { padding: 0.3rem 0.7rem; border-bottom: 1px solid #ddd; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #f3f3f3; }
code { font-size: 0.9rem; }
figure { margin: 0.5rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; }
.wide { overflow-x: auto; }
"""

VERDICT_CSS = """
.warning { background: #fff4e5; border-left: 4px solid #e69500; padding: 0.5rem 0.8rem;
           margin: 0.6rem 0; }
.warning ul { margin: 0.2rem 0 0; padding-left: 1.2rem; }
#verdict { border: 1px solid #ddd; border-radius: 6px; padding: 0.2rem 1rem 0.6rem;
           margin: 0.8rem 0 1.5rem; }
#verdict h2 { margin-top: 0.6rem; }
.better { color: #1a7f37; }
.worse { color: #c0392b; }
.changed { color: #1f5fa8; }
.ns { color: #6b6b6b; }
table.verdict { width: 100%; table-layout: fixed; font-size: 0.85rem; }
table.verdict th, table.verdict td { padding: 0.3rem 0.4rem; vertical-align: top;
           overflow-wrap: anywhere; }
table.verdict td.cell { text-align: right; font-variant-numeric: tabular-nums; }
table.verdict td.better { background: #e6f4ea; }
table.verdict td.worse { background: #fdecea; }
table.verdict td.changed { background: #e8f0fb; }
table.verdict td.ns { background: #f4f4f4; }
table.verdict .diff { font-weight: 600; font-size: 0.95rem; }
table.verdict .sub { display: block; font-size: 0.78rem; }
table.verdict .sub span, table.verdict .diff span { white-space: nowrap; }
.legend { font-size: 0.82rem; color: #555; }
"""
"""The verdict box, its judgement colours and its table: shared by the compare and sweep reports."""


def _as_float(value: object) -> float:
    """Coerce a summary cell to float, mapping missing values to NaN."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _kpi_row(name: str, row: pd.Series) -> str:
    """One `<tr>` of the KPI table."""
    mean = _as_float(row.get("mean"))
    low, high = _as_float(row.get("ci_low")), _as_float(row.get("ci_high"))
    n = _as_float(row.get("n"))
    places = decimals_for([mean, low, high])
    cells = [
        f"<td><code>{escape(name)}</code></td>",
        f"<td>{escape(kpi.info(name).description)}</td>",
        f'<td class="num">{escape(format_value(name, mean, places))}</td>',
        f'<td class="num">{escape(format_ci(name, low, high))}</td>',
        f'<td class="num">{MISSING if math.isnan(n) else int(n)}</td>',
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def kpi_table(summary: pd.DataFrame) -> str:
    """Render the KPI table: name, description, mean, 95 % CI and replications per KPI."""
    head = (
        '<tr><th>KPI</th><th>what it measures</th><th class="num">mean</th>'
        '<th class="num">95 % CI</th><th class="num">n</th></tr>'
    )
    rows = [_kpi_row(str(name), row) for name, row in summary.iterrows()]
    return (
        f'<table class="kpis">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + ("\n</tbody>\n</table>")
    )


def _img(png_base64: str, alt: str) -> str:
    """Wrap a base64 PNG in an `<img>` with a `data:` URI inside a `<figure>`."""
    return f'<figure><img src="data:image/png;base64,{png_base64}" alt="{escape(alt)}"></figure>'


def render_report(result: RunResult, title: str | None = None) -> str:
    """Render a run as a complete, self-contained HTML document (a string): see `run_report`."""
    from twin.report.results_io import results_of
    from twin.report.run_report import render

    return render(results_of(result), title)


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write text (or bytes, e.g. Parquet) to `path` via a temp file and `os.replace`.

    Readers see either the old file or the complete new one, never a partial write.
    """
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        binary = isinstance(text, bytes)
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_report(result: RunResult, path: str | Path, title: str | None = None) -> Path:
    """Write the run's report as one self-contained HTML file and return its path."""
    target = Path(path)
    document = render_report(result, title)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, document)
    return target


def data_number(kpi: str, stat: str, value: float, text: str, **attrs: str) -> str:
    """A number of the verdict as HTML, its value in `data-*` attributes for checking.

    `data-kpi`, `data-stat` (the CSV column it comes from) and `data-value` (10 significant
    digits, as the CSV files are written) let a test compare what the page says with the tables
    beside it; `attrs` add e.g. `data-design` or `data-point`. A missing value is plain text.
    """
    if not math.isfinite(value):
        return escape(text)
    extra = "".join(f' data-{k}="{escape(v)}"' for k, v in attrs.items())
    return (
        f'<span data-kpi="{escape(kpi)}" data-stat="{escape(stat)}" '
        f'data-value="{value:.10g}"{extra}>{escape(text)}</span>'
    )
