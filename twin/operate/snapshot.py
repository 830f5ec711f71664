"""`State` from snapshot tables, and snapshot tables from the simulation.

Operating mode and the simulation meet here: `tables_from_world` writes what a running world knows
in the format of `twin.operate.tables`, and `state_from_tables` derives the `State` policies see
from those tables, by the same definitions the simulation uses. A test holds the two to
`state_from_tables(tables_from_world(w)) == w.snapshot()` at every review.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from twin.errors import StoreError
from twin.model.ledger import WAITING
from twin.state import NetworkInfo, State, SupplierInfo

if TYPE_CHECKING:
    from twin.model.world import World

Tables = dict[str, list[dict[str, Any]]]


def state_from_tables(tables: Tables, network: NetworkInfo) -> State:
    """The `State` a snapshot describes (see `twin.operate.tables` for the derivations)."""
    clock = tables.get("clock", [])
    if len(clock) != 1:
        raise StoreError(f"a snapshot needs exactly one clock row, found {len(clock)}")
    skus, warehouses = network.skus, network.warehouses

    def grid(sites: tuple[str, ...], keys: tuple[str, ...]) -> dict[str, dict[str, int]]:
        return {s: dict.fromkeys(keys, 0) for s in sites}

    on_hand, inbound = grid(warehouses, skus), grid(warehouses, skus)
    backorders = grid(warehouses, skus)
    for row in tables.get("stock", []):
        _add(on_hand, row["site"], row["sku"], row["units"], "stock")
    for row in tables.get("shipments", []):
        _add(inbound, row["destination"], row["sku"], row["units"], "shipments")
        if row["status"] == "requested":
            _add(backorders, row["origin"], row["sku"], row["units"], "shipments")
    presale: dict[str, int] = defaultdict(int)
    for row in tables.get("orders", []):
        if row["status"] == "waiting":
            _add(backorders, row["site"], row["sku"], row["units"], "orders")
        else:
            presale[row["sku"]] += row["units"]
    production = grid(network.factories, skus)
    for row in tables.get("production", []):
        _add(production, row["factory"], row["sku"], row["units"], "production")
    components: dict[str, dict[str, int]] = {f: {} for f in network.factories}
    on_order: dict[str, dict[str, int]] = {f: {} for f in network.factories}
    for row in sorted(tables.get("components", []), key=lambda r: (r["factory"], r["component"])):
        components.setdefault(row["factory"], {})[row["component"]] = row["on_hand"]
        on_order.setdefault(row["factory"], {})[row["component"]] = row["on_order"]
    waits: dict[str, float] = {}
    closed: set[str] = set()
    for row in tables.get("warehouses", []):
        if row["warehouse"] not in warehouses:
            raise StoreError(f"warehouses: {row['warehouse']!r} is not in the scenario's network")
        waits[row["warehouse"]] = float(row["pick_wait"])
        if row["status"] == "closed":
            closed.add(row["warehouse"])
    rates = dict.fromkeys(skus, 0.0)
    live: list[str] = []
    for row in tables.get("signals", []):
        name = row["name"]
        if name == "live_event":
            live.append(str(row["value"]))
        elif name.startswith("order_rate:"):
            rates[name.removeprefix("order_rate:")] = float(row["value"])
    return State(
        time=float(clock[0]["time"]),
        on_hand=on_hand,
        inbound=inbound,
        backorders=backorders,
        production_queue=production,
        elastic={row["factory"]: row["elastic"] for row in tables.get("factories", [])},
        live_events=tuple(live),
        order_rate=rates,
        presale_open={k: presale[k] for k in skus if presale.get(k)},
        components=components,
        components_on_order=on_order,
        suppliers={
            row["supplier"]: SupplierInfo(
                row["tier"],
                row["status"],
                float(row["lead_time_mean"]),
                int(row["moq"]),
                tuple(sorted(c for c in str(row["components"]).split(";") if c)),
            )
            for row in tables.get("suppliers", [])
        },
        pick_wait={w: waits[w] for w in warehouses if w in waits},
        closed=tuple(w for w in warehouses if w in closed),
    )


def _add(table: dict[str, dict[str, int]], site: str, key: str, units: int, source: str) -> None:
    if site not in table or key not in table[site]:
        raise StoreError(f"{source}: ({site!r}, {key!r}) is not in the scenario's network")
    table[site][key] += units


def tables_from_world(world: World) -> Tables:
    """What the running `world` knows now, as snapshot tables (the export of `twin run --snapshot-at`)."""
    t = world.env.now
    state = world.snapshot()  # first: it also cancels the orders whose patience ran out by t
    skus = world.skus
    book, led = world.book, world.ledger
    tables: Tables = {"clock": [{"time": t}]}
    tables["stock"] = [
        {"site": w.id, "sku": sku, "units": w.stock[k]}
        for w in world.warehouses
        for k, sku in enumerate(skus)
        if w.stock[k]
    ]
    orders = []
    for w in world.warehouses:
        seen: set[int] = set()
        for queue in w.waiting:
            for i in queue:
                if led.status[i] == WAITING and i not in seen:
                    seen.add(i)
                    orders += _order_rows(world, i, w.id, "waiting")
    owner, _, _ = world._presale
    for i in sorted(set(owner.tolist())):
        if book.created[i] <= t < book.time[i]:
            orders += _order_rows(world, i, "", "presale")
    tables["orders"] = orders
    tables["shipments"] = _shipment_rows(world)
    tables["production"] = [
        {"factory": f.id, "sku": sku, "units": f.queued[k]}
        for f in world.factories.values()
        for k, sku in enumerate(skus)
        if f.queued[k]
    ]
    tables["factories"] = [
        {"factory": f.id, "elastic": f.elastic_status(t)} for f in world.factories.values()
    ]
    tables["components"] = [
        {
            "factory": f.id,
            "component": c,
            "on_hand": f.components[c],
            "on_order": world._on_order_units.get((f.id, c), 0),
        }
        for f in world.factories.values()
        for c in sorted(f.components)
    ]
    tables["suppliers"] = [
        {
            "supplier": s.id,
            "tier": s.tier,
            "status": s.status(t),
            "lead_time_mean": s.lead_time_mean,
            "moq": s.spec.moq,
            "components": ";".join(sorted(s.spec.components)),
        }
        for s in world.suppliers.values()
    ]
    tables["warehouses"] = [
        {
            "warehouse": w,
            "status": "closed" if w in state.closed else "open",
            "pick_wait": state.pick_wait[w],
        }
        for w in state.pick_wait
    ]
    tables["signals"] = [{"name": "live_event", "value": e} for e in state.live_events] + [
        {"name": f"order_rate:{k}", "value": repr(v)} for k, v in state.order_rate.items()
    ]
    return tables


def _order_rows(world: World, i: int, site: str, status: str) -> list[dict[str, Any]]:
    book = world.book
    return [
        {
            "order_id": f"o{i}",
            "line": n,
            "site": site,
            "sku": world.skus[k],
            "units": q,
            "status": status,
            "created": float(book.created[i]),
            "release": float(book.time[i]),
            "promised": float(book.promised[i]),
        }
        for n, (k, q) in enumerate(world._lines(i))
    ]


def _shipment_rows(world: World) -> list[dict[str, Any]]:
    """Inbound flows: requested transfers, production, and the rest (moving) as one row per pair."""
    rows: list[dict[str, Any]] = []
    inbound = {(w.id, k): w.inbound[k] for w in world.warehouses for k in range(len(world.skus))}
    for w in world.warehouses:
        for k, pending in enumerate(w.pending):
            for n, (_, destination, units) in enumerate(pending):
                if units:
                    rows.append(
                        _shipment(
                            f"req-{w.id}-{k}-{n}",
                            w.id,
                            destination,
                            world.skus[k],
                            units,
                            "requested",
                        )
                    )
                    inbound[(destination, k)] -= units
    for f in world.factories.values():
        for job in f.queue:
            if job.remaining > 0:
                rows.append(
                    _shipment(
                        f"prod-{f.id}-{job.seq}",
                        f.id,
                        job.destination,
                        world.skus[job.sku],
                        job.remaining,
                        "production",
                    )
                )
                inbound[(job.destination, job.sku)] -= job.remaining
    for (site, k), units in inbound.items():
        if units:
            rows.append(_shipment(f"moving-{site}-{k}", "", site, world.skus[k], units, "moving"))
    return rows


def _shipment(
    sid: str, origin: str, destination: str, sku: str, units: int, status: str
) -> dict[str, Any]:
    return {
        "shipment_id": sid,
        "origin": origin,
        "destination": destination,
        "sku": sku,
        "units": units,
        "status": status,
    }
