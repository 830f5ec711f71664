"""A run's results folder: what `twin run --out` writes and `twin report DIR` reads back.

- `kpis.csv`: one row per replication; `summary.csv`: one row per KPI (mean, intervals,
  quantiles, target probabilities);
- `traces.npz`: every replication's `Trace`, stacked (replications first), compressed;
- `results.json`: the scenario's name, the run's meta data, the names along the traces' axes and
  the report settings (targets, currency, calendar start, locations);
- `report.html`: rendered from the files above, so re-rendering needs no re-run.

Every file is written to a temporary name and moved into place, and the report is rendered before
anything is replaced, so a failure leaves the previous results whole.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from twin.errors import TwinError
from twin.experiments.results import RunResult
from twin.experiments.trace import Trace, TraceAxes, stack
from twin.report.analysis import Results

FILES = ("kpis.csv", "summary.csv", "traces.npz", "results.json", "report.html")


def results_of(result: RunResult) -> Results:
    """The report's view of a run that just finished."""
    arrays = stack(result.traces) if result.traces else {}
    return Results(
        scenario=result.scenario,
        kpis=result.kpis,
        summary=result.summary,
        arrays=arrays,
        axes=result.axes,
        settings=dict(result.report),
        meta=dict(result.meta),
    )


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def encode(results: Results, report_html: str) -> dict[str, bytes]:
    """Every file of the folder as bytes, rendered in memory before anything touches the disk."""
    buffer = io.BytesIO()
    if results.arrays:
        np.savez_compressed(buffer, **results.arrays)
    kpis, summary = io.StringIO(), io.StringIO()
    results.kpis.to_csv(kpis, index=False, float_format="%.10g")
    results.summary.to_csv(summary, index=True, float_format="%.10g")
    meta = {
        "scenario": results.scenario,
        "meta": results.meta,
        "axes": None if results.axes is None else results.axes.to_json(),
        "settings": results.settings,
    }
    files = {
        "kpis.csv": kpis.getvalue().encode(),
        "summary.csv": summary.getvalue().encode(),
        "results.json": json.dumps(_json_safe(meta), indent=1, allow_nan=False).encode(),
        "report.html": report_html.encode(),
    }
    if results.arrays:
        files["traces.npz"] = buffer.getvalue()
    return files


def read_results(folder: Path) -> Results:
    """Load a results folder written by `twin run --out` (bad or missing files: `TwinError`)."""
    if not folder.is_dir():
        raise TwinError(f"{folder}: not a folder of results (run `twin run FILE --out {folder}`)")
    missing = [name for name in ("kpis.csv", "summary.csv", "results.json") if not (folder / name).is_file()]
    if missing:
        raise TwinError(
            f"{folder}: missing {', '.join(missing)}; is it the --out folder of `twin run`?"
        )
    current = folder / "results.json"
    try:
        meta = json.loads(current.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or "scenario" not in meta:
            raise TwinError(f"{current}: not written by `twin run` (no 'scenario' entry)")
        axes = None if meta.get("axes") is None else TraceAxes.from_json(meta["axes"])
        current = folder / "kpis.csv"
        kpis = pd.read_csv(current)
        current = folder / "summary.csv"
        summary = pd.read_csv(current, index_col="kpi")
        current = folder / "traces.npz"
        arrays: dict[str, np.ndarray] = {}
        if current.is_file():
            with np.load(current, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        missing_arrays = set(Trace.__dataclass_fields__) - set(arrays)
        if arrays and missing_arrays:
            raise TwinError(f"{current}: lacks {', '.join(sorted(missing_arrays))}")
        return Results(
            scenario=str(meta["scenario"]),
            kpis=kpis,
            summary=summary,
            arrays=arrays,
            axes=axes,
            settings=dict(meta.get("settings") or {}),
            meta=dict(meta.get("meta") or {}),
        )
    except TwinError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise TwinError(f"{current}: cannot read it ({type(exc).__name__}: {exc})") from None
