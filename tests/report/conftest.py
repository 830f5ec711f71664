"""Fixtures of the report tests: `browser`, a headless Chromium (or a skip saying why)."""

from browser import browser

__all__ = ["browser"]
