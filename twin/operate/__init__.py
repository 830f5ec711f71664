"""Operating mode: the live state store, snapshot ingest, and decisions on live data."""
