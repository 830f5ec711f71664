"""The snapshot format: the tables a live feed (or the simulation's export) provides.

One CSV or JSON file per table, named by the table (`stock.csv`, `orders.json`, ...). A JSON file
is a list of objects with the same columns. `State` is derived from these tables by one function,
`state_from_tables`, in operating mode and in the tests that check it against the simulation.

Tables (one row per ...; columns):
- `clock` (exactly one row): `time`, hours since the plan's start.
- `stock` (warehouse, SKU): `site`, `sku`, `units`.
- `orders` (open customer order line): `order_id`, `line`, `site`, `sku`, `units`, `status`
  (`waiting` at `site`, or `presale`), `created`, `release`, `promised`.
- `shipments` (inbound flow to a site; one row per `shipment_id`): `shipment_id`, `origin`,
  `destination`, `sku`, `units`, `status` (`requested`: the origin has not shipped it yet;
  `moving`: on its way or at the dock; `production`: ordered from a factory).
- `production` (factory, SKU): `factory`, `sku`, `units` ordered and not yet made.
- `factories` (factory): `factory`, `elastic` (`off`, `pending`, `on`, `unavailable`).
- `components` (factory, component): `factory`, `component`, `on_hand`, `on_order`.
- `suppliers` (supplier): `supplier`, `tier`, `status` (`up`/`down`), `lead_time_mean`, `moq`,
  `components` (`;`-separated).
- `warehouses` (warehouse): `warehouse`, `status` (`open`/`closed`), `pick_wait` (hours an order
  arriving now would queue before its pick/pack starts; a WMS reading).
- `signals` (live-sale signal; one row per name, and per name and value for `live_event`):
  `name`, `value`: `live_event` (value: an event on air; one row each), `order_rate:<sku>`
  (units/h ordered over the last hour).

Derivations (the same definitions the simulation uses for its `State`):
- backorders(site, sku) = units of `waiting` orders at the site + units of `requested` shipments
  whose origin is the site;
- inbound(site, sku) = units of every shipment whose destination is the site;
- presale_open(sku) = units of `presale` orders.
"""

from __future__ import annotations

TABLES: dict[str, tuple[str, ...]] = {
    "clock": ("time",),
    "stock": ("site", "sku", "units"),
    "orders": (
        "order_id",
        "line",
        "site",
        "sku",
        "units",
        "status",
        "created",
        "release",
        "promised",
    ),
    "shipments": ("shipment_id", "origin", "destination", "sku", "units", "status"),
    "production": ("factory", "sku", "units"),
    "factories": ("factory", "elastic"),
    "components": ("factory", "component", "on_hand", "on_order"),
    "suppliers": ("supplier", "tier", "status", "lead_time_mean", "moq", "components"),
    "warehouses": ("warehouse", "status", "pick_wait"),
    "signals": ("name", "value"),
}
"""Every table of a snapshot and its columns, in order."""

INTEGER_COLUMNS = frozenset({"units", "line", "on_hand", "on_order", "moq"})
FLOAT_COLUMNS = frozenset({"time", "created", "release", "promised", "lead_time_mean", "pick_wait"})
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("orders", "status"): ("waiting", "presale"),
    ("shipments", "status"): ("requested", "moving", "production"),
    ("factories", "elastic"): ("off", "pending", "on", "unavailable"),
    ("suppliers", "tier"): ("strategic", "agile", "backup"),
    ("suppliers", "status"): ("up", "down"),
    ("warehouses", "status"): ("open", "closed"),
}
"""Columns whose values come from a fixed list."""
