"""twin: a supply-chain digital twin for brands that sell through livestreams.

The Python API (`twin.run`, `twin.compare`, `twin.sweep`, `twin.gate`) is loaded on first use, so
`import twin` stays cheap for the command line.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {"run": "twin.api", "compare": "twin.api", "sweep": "twin.api", "gate": "twin.api"}


def __getattr__(name: str) -> Any:
    """Load an API function on first use."""
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'twin' has no attribute {name!r}")


__all__ = ["__version__", "compare", "gate", "run", "sweep"]
