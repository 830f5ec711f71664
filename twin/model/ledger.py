"""The Ledger: every unit movement of a run, and the conservation check of DESIGN §3.

Per order it keeps where and when stock was allocated, when the order left the warehouse (pick/pack
done), when it was delivered or cancelled. Per SKU it counts production, returns received,
scrapped units, and units in flight between sites. At the end of a run
    initial + produced + returns_received == delivered + scrapped + on_hand + in_transit + in_process
must hold for every SKU, or the run raises `ModelError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.errors import ModelError

NEW, WAITING, ALLOCATED, CANCELLED = 0, 1, 2, 3


class Ledger:
    """Mutable record kept by the world during a run (plain lists on the hot path)."""

    def __init__(self, n_orders: int, n_skus: int) -> None:
        nan = math.nan
        self.status = [NEW] * n_orders
        self.warehouse = [-1] * n_orders
        self.allocated = [nan] * n_orders
        self.shipped = [nan] * n_orders
        self.delivered = [nan] * n_orders
        self.cancelled = [nan] * n_orders
        self.initial = [0] * n_skus
        self.produced = [0] * n_skus
        self.returns_received = [0] * n_skus
        self.restocked = [0] * n_skus
        self.scrapped = [0] * n_skus
        self.in_transit = [0] * n_skus
        """Units on lanes between sites (transfers, factory shipments)."""
        self.cost_book: dict[tuple[str, str, int], float] = {}
        """Cost by (part, site, day): where and when each cost arose."""
        self.refunds = 0.0
        self.decisions: list[tuple[float, str, object]] = []
        """(time, policy name, decision) for every decision the model carried out or tried."""

    def cost(self, part: str, amount: float, site: str, t: float) -> None:
        """Book `amount` of cost `part` at `site` on the day of time `t`."""
        key = (part, site, int(t // 24.0))
        self.cost_book[key] = self.cost_book.get(key, 0.0) + amount

    def costs_by_part(self) -> dict[str, float]:
        """Total cost per part."""
        out: dict[str, float] = {}
        for (part, _, _), amount in sorted(self.cost_book.items()):
            out[part] = out.get(part, 0.0) + amount
        return out


@dataclass(frozen=True)
class Outcomes:
    """The per-order record as numpy arrays, frozen at the end of a run."""

    status: np.ndarray
    warehouse: np.ndarray
    allocated: np.ndarray
    shipped: np.ndarray
    delivered: np.ndarray
    cancelled: np.ndarray

    @classmethod
    def from_ledger(cls, ledger: Ledger) -> Outcomes:
        """Convert the lists once, after the run."""
        return cls(
            np.asarray(ledger.status, np.int8),
            np.asarray(ledger.warehouse, np.int32),
            np.asarray(ledger.allocated, float),
            np.asarray(ledger.shipped, float),
            np.asarray(ledger.delivered, float),
            np.asarray(ledger.cancelled, float),
        )


@dataclass(frozen=True)
class Balance:
    """Both sides of the conservation identity for one SKU."""

    sku: str
    initial: int
    produced: int
    returns_received: int
    delivered: int
    scrapped: int
    on_hand: int
    in_transit: int
    in_process: int

    @property
    def sources(self) -> int:
        """Initial + produced + returns received."""
        return self.initial + self.produced + self.returns_received

    @property
    def uses(self) -> int:
        """Delivered + scrapped + on hand + in transit + in process."""
        return self.delivered + self.scrapped + self.on_hand + self.in_transit + self.in_process


def check_conservation(balances: list[Balance]) -> None:
    """Raise `ModelError` naming the SKU and every term when units were created or lost."""
    for b in balances:
        if b.sources != b.uses:
            raise ModelError(
                f"conservation violated for SKU {b.sku!r}: initial {b.initial} + produced "
                f"{b.produced} + returns received {b.returns_received} = {b.sources}, but "
                f"delivered {b.delivered} + scrapped {b.scrapped} + on hand {b.on_hand} + "
                f"in transit {b.in_transit} + in process {b.in_process} = {b.uses}"
            )


@dataclass(frozen=True)
class ComponentBalance:
    """Components at one factory: what came in, what was used, what is left.

    `bom_need` is what the started production should have consumed by the bill of materials; it
    must equal `consumed`. Components in transit from suppliers belong to the supplier side until
    they arrive (`received`), where the supplier's own books take over.
    """

    site: str
    component: str
    initial: int
    received: int
    consumed: int
    on_hand: int
    bom_need: int


def check_components(balances: list[ComponentBalance]) -> None:
    """Raise `ModelError` when a factory's components do not add up."""
    for b in balances:
        if b.initial + b.received != b.consumed + b.on_hand or b.consumed != b.bom_need:
            raise ModelError(
                f"component conservation violated at {b.site!r} for {b.component!r}: initial "
                f"{b.initial} + received {b.received} ≠ consumed {b.consumed} + on hand "
                f"{b.on_hand}, or consumed ≠ {b.bom_need} needed by the bill of materials"
            )
