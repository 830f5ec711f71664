"""`components_s_S` on hand-built `State`s with known answers.

Network: factory `f` (lipstick `a` needs 1 tube + 2 caps, serum `b` needs 1 bottle) and factory
`g` (serum `b` needs 3 tubes). Tubes are sold by a strategic, an agile and a backup supplier,
caps by the strategic supplier only, bottles by two agile suppliers.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from twin.policies import REGISTRY
from twin.policies.procurement import ComponentsMinMax
from twin.state import NetworkInfo, PurchaseOrder, State, SupplierInfo

NET = NetworkInfo(
    skus=("a", "b"),
    warehouses=("c",),
    central=("c",),
    forward=(),
    factories=("f", "g"),
    source_of={"c": "f"},
    bom={"f": {"a": {"tube": 1, "cap": 2}, "b": {"bottle": 1}}, "g": {"b": {"tube": 3}}},
    sellers={
        "tube": ("s_backup", "s_agile", "s_strat"),  # file order deliberately not tier order
        "cap": ("s_strat",),
        "bottle": ("s_agile2", "s_agile"),
    },
)

SELLS = {
    "s_strat": ("strategic", ("cap", "tube")),
    "s_agile": ("agile", ("bottle", "tube")),
    "s_agile2": ("agile", ("bottle",)),
    "s_backup": ("backup", ("tube",)),
}


def suppliers(down: tuple[str, ...] = ()) -> dict[str, SupplierInfo]:
    return {
        sid: SupplierInfo(tier, "down" if sid in down else "up", 48.0, 1, comps)
        for sid, (tier, comps) in SELLS.items()
    }


def state(
    components: dict[str, dict[str, int]] | None = None,
    on_order: dict[str, dict[str, int]] | None = None,
    down: tuple[str, ...] = (),
    **kwargs: Any,
) -> State:
    return State(
        time=5.0,
        on_hand={},
        inbound={},
        backorders={},
        components=components or {},
        components_on_order=on_order or {},
        suppliers=kwargs.pop("suppliers", suppliers(down)),
        **kwargs,
    )


def policy(**params: Any) -> ComponentsMinMax:
    kind = REGISTRY.resolve("components_s_S")
    built = kind.build(kind.params.model_validate(params), NET)
    assert isinstance(built, ComponentsMinMax)
    return built


FULL = {"f": {"tube": 999, "cap": 999, "bottle": 999}, "g": {"tube": 999}}
"""Every position far above any s used here: nothing to order."""


def with_level(factory: str, comp: str, on_hand: int) -> dict[str, dict[str, int]]:
    levels = {f: dict(c) for f, c in FULL.items()}
    levels[factory][comp] = on_hand
    return levels


# --- (s, S) quantities ----------------------------------------------------------------------------


def test_registered_under_its_kind_name() -> None:
    assert REGISTRY.resolve("components_s_S").build is ComponentsMinMax
    assert NET.components_of("f") == ["bottle", "cap", "tube"]
    assert NET.components_of("g") == ["tube"]


@pytest.mark.parametrize(
    ("on_hand", "on_order", "expected"),
    [
        (0, 0, 500),
        (99, 0, 401),
        (100, 0, 400),  # at s: orders
        (101, 0, None),  # above s: nothing
        (60, 40, 400),  # on order counts in the position
        (60, 41, None),
        (400, 0, None),
    ],
)
def test_orders_big_s_minus_position_only_at_or_below_s(
    on_hand: int, on_order: int, expected: int | None
) -> None:
    p = policy(s=100, S=500)
    decisions = p.decide(
        state(with_level("f", "cap", on_hand), {"f": {"cap": on_order}} if on_order else None)
    )
    if expected is None:
        assert decisions == []
    else:
        assert decisions == [PurchaseOrder("s_strat", "cap", expected, "f")]


def test_every_factory_and_component_at_or_below_s_gets_one_order() -> None:
    p = policy(s={"default": 10, "cap": 50}, S={"default": 100, "cap": 300})
    st = state(
        {"f": {"tube": 10, "cap": 0, "bottle": 11}, "g": {"tube": 2}},
        {"f": {"cap": 20}, "g": {"tube": 5}},
    )
    assert p.decide(st) == [
        PurchaseOrder("s_strat", "cap", 280, "f"),
        PurchaseOrder("s_strat", "tube", 90, "f"),
        PurchaseOrder("s_strat", "tube", 93, "g"),
    ]


def test_missing_components_count_as_zero_and_unlisted_levels_order_nothing() -> None:
    # levels only for tubes (no default): caps and bottles are not managed by this policy
    p = policy(s={"tube": 5}, S={"tube": 20})
    assert p.decide(state()) == [
        PurchaseOrder("s_strat", "tube", 20, "f"),
        PurchaseOrder("s_strat", "tube", 20, "g"),
    ]


# --- supplier choice ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("down", "tiers", "expected"),
    [
        ((), None, "s_strat"),  # strategic first by default
        (("s_strat",), None, "s_agile"),  # strategic down: agile
        (("s_strat", "s_agile"), None, "s_backup"),
        (("s_strat", "s_agile", "s_backup"), None, "s_strat"),  # all down: first in tier order
        ((), ("agile", "strategic", "backup"), "s_agile"),
        ((), ("backup", "agile"), "s_backup"),
        (("s_backup",), ("backup", "agile"), "s_agile"),
        (("s_backup", "s_agile"), ("backup", "agile"), "s_backup"),  # strategic not allowed
    ],
)
def test_supplier_by_tier_preference_and_status(
    down: tuple[str, ...], tiers: tuple[str, ...] | None, expected: str
) -> None:
    params: dict[str, Any] = {"s": 10, "S": 50}
    if tiers is not None:
        params["tiers"] = tiers
    p = policy(**params)
    st = state(with_level("g", "tube", 0), down=down)
    assert p.supplier_for("tube", st) == expected
    assert p.decide(st) == [PurchaseOrder(expected, "tube", 50, "g")]


def test_ties_within_a_tier_go_by_supplier_id() -> None:
    p = policy(s=10, S=50)
    assert p.supplier_for("bottle", state()) == "s_agile"
    assert p.supplier_for("bottle", state(down=("s_agile",))) == "s_agile2"
    assert p.supplier_for("bottle", state(down=("s_agile", "s_agile2"))) == "s_agile"


def test_no_order_when_no_allowed_supplier_sells_the_component() -> None:
    p = policy(s=10, S=50, tiers=("agile", "backup"))
    st = state(with_level("f", "cap", 0))  # caps: strategic only, and strategic is not allowed
    assert p.supplier_for("cap", st) is None
    assert p.decide(st) == []
    # a supplier the state does not know of (no SupplierInfo) is not bought from either
    known = suppliers()
    del known["s_strat"]
    assert policy(s=10, S=50).decide(state(with_level("f", "cap", 0), suppliers=known)) == []


# --- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"s": 50, "S": 50}, "s (=50) must be < S (=50)"),
        ({"s": 60, "S": 50}, "s (=60) must be < S (=50)"),
        (
            {"s": {"default": 5, "cap": 80}, "S": {"default": 50}},
            "s (=80) must be < S (=50) for 'cap'",
        ),
        ({"s": 5, "S": {"tube": 50, "cap": 4}}, "s (=5) must be < S (=4) for 'cap'"),
    ],
)
def test_s_must_be_below_big_s(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ComponentsMinMax.Params.model_validate(params)


@pytest.mark.parametrize(
    "params",
    [
        {"s": 5, "S": 50, "tiers": ["premium"]},
        {"s": -1, "S": 50},
        {"s": 5, "S": 50, "extra": 1},
        {"S": 50},
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ComponentsMinMax.Params.model_validate(params)
