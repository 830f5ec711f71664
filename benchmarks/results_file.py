"""Where benchmarks leave their figures: one JSON file each under `benchmarks/results/` (git-ignored)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_results(name: str, res: dict[str, Any]) -> Path:
    """Write `res` to `results/<name>.json` and say where."""
    path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {os.path.relpath(path, Path.cwd())}")
    return path
