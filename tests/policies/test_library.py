"""The wider policy library on hand-built `State`s with known right answers.

Network used throughout: factory `f` → central `c` → forward `n` and `s`; SKUs `a` and `b`.
Baseline units/h: a = 10 (n 6, s 2, c 2), b = 2 (n 2): forward audience weights n 8, s 2.
Factory `f` makes `a` from 1 tube + 2 caps and `b` from 1 bottle; tubes are sold by a strategic
(48 h, MOQ 1), an agile (12 h, MOQ 10) and a backup supplier (120 h, MOQ 500).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from twin.config import scenario_from_data
from twin.config.errors import validation_problems
from twin.errors import ConfigError
from twin.policies import REGISTRY
from twin.policies.forecast import ForecastBaseStock, ceil_units, rate_ratio
from twin.policies.preposition import PrepositionByAudience
from twin.policies.procurement import ComponentsByUrgency, served_by
from twin.policies.production import PriorityElastic
from twin.policies.replenishment import ReorderQuantity, replenish
from twin.state import (
    Decision,
    ElasticActivation,
    NetworkInfo,
    ProductionOrder,
    PurchaseOrder,
    State,
    SupplierInfo,
    Transfer,
)

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
FLAGSHIP = REPO / "scenarios" / "flagship_live_sale.yaml"

NET = NetworkInfo(
    skus=("a", "b"),
    warehouses=("c", "n", "s"),
    central=("c",),
    forward=("n", "s"),
    factories=("f",),
    source_of={"c": "f", "n": "c", "s": "c"},
    baseline_units_per_hour={"c": {"a": 2.0, "b": 0.0}, "n": {"a": 6.0, "b": 2.0}, "s": {"a": 2.0}},
    bom={"f": {"a": {"tube": 1, "cap": 2}, "b": {"bottle": 1}}},
    sellers={"tube": ("s_backup", "s_agile", "s_strat"), "cap": ("s_strat",), "bottle": ()},
)

SUPPLIERS = {
    "s_strat": ("strategic", 48.0, 1),
    "s_agile": ("agile", 12.0, 10),
    "s_backup": ("backup", 120.0, 500),
}


def suppliers(down: tuple[str, ...] = ()) -> dict[str, SupplierInfo]:
    return {
        sid: SupplierInfo(tier, "down" if sid in down else "up", lead, moq, ("tube",))
        for sid, (tier, lead, moq) in SUPPLIERS.items()
    }


def state(
    on_hand: dict[str, dict[str, int]] | None = None,
    inbound: dict[str, dict[str, int]] | None = None,
    backorders: dict[str, dict[str, int]] | None = None,
    time: float = 10.0,
    **kwargs: Any,
) -> State:
    return State(
        time=time,
        on_hand=on_hand or {},
        inbound=inbound or {},
        backorders=backorders or {},
        **kwargs,
    )


def build(kind: str, net: NetworkInfo = NET, **params: Any) -> Any:
    k = REGISTRY.resolve(kind)
    return k.build(k.params.model_validate(params), net)


FULL = {"c": {"a": 10**6, "b": 10**6}, "n": {"a": 10**6, "b": 10**6}, "s": {"a": 10**6, "b": 10**6}}


def quiet(**changes: dict[str, int]) -> dict[str, dict[str, int]]:
    levels = {w: dict(k) for w, k in FULL.items()}
    for site, skus in changes.items():
        levels[site].update(skus)
    return levels


# --- the registry ---------------------------------------------------------------------------------


def test_new_kinds_are_registered_to_their_classes() -> None:
    expected = {
        "r_Q": ReorderQuantity,
        "forecast_base_stock": ForecastBaseStock,
        "preposition_by_audience": PrepositionByAudience,
        "components_by_urgency": ComponentsByUrgency,
        "priority_elastic": PriorityElastic,
    }
    for name, cls in expected.items():
        assert REGISTRY.resolve(name).build is cls
        assert REGISTRY.resolve(name).params is cls.Params


# --- (r, Q) ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (21, None),  # above r: nothing
        (100, None),
        (20, 50),  # at r: one Q
        (19, 50),
        (0, 50),
        (-29, 50),  # 50 lifts -29 to 21 > r
        (-30, 100),  # 50 would lift -30 only to 20 = r: two Q
        (-80, 150),
    ],
)
def test_r_q_orders_the_smallest_multiple_of_q_that_lifts_the_position_above_r(
    position: int, expected: int | None
) -> None:
    policy = build("r_Q", sites=["n"], r=20, Q=50)
    if position >= 0:
        st = state(quiet(n={"a": position}))
    else:
        st = state(quiet(n={"a": 0}), backorders={"n": {"a": -position}})
    decisions = policy.decide(st)
    assert decisions == ([] if expected is None else [Transfer("c", "n", "a", expected)])


@pytest.mark.parametrize("q", [1, 3, 7, 10, 25])
@pytest.mark.parametrize("r", [0, 5, 20])
def test_r_q_lands_the_position_in_r_to_r_plus_q(r: int, q: int) -> None:
    policy = build("r_Q", sites=["n"], r=r, Q=q)
    for position in range(-40, r + 1):
        on_hand, back = max(position, 0), max(-position, 0)
        st = state(quiet(n={"a": on_hand}), backorders={"n": {"a": back}} if back else None)
        [order] = policy.decide(st)
        assert order.quantity % q == 0
        assert r < position + order.quantity <= r + q


def test_r_q_counts_inbound_and_backorders_and_uses_per_sku_levels() -> None:
    policy = build("r_Q", sites="forward", r={"a": 10, "default": 0}, Q={"a": 30, "default": 4})
    st = state(
        on_hand=quiet(n={"a": 5, "b": 0}, s={"a": 5}),
        inbound={"s": {"a": 6}},  # s/a: position 11 > r
        backorders={"n": {"b": 5}},  # n/b: position -5 → 2·4 lifts it to 3 > 0
    )
    assert policy.decide(st) == [Transfer("c", "n", "a", 30), Transfer("c", "n", "b", 8)]


def test_r_q_skips_skus_without_levels_and_orders_production_at_central() -> None:
    policy = build("r_Q", sites="all", r={"a": 100}, Q={"a": 250, "b": 1}, priority={"a": 3})
    st = state(quiet(c={"a": 100}, n={"a": 0}))
    assert policy.decide(st) == [
        ProductionOrder("f", "a", 250, "c", priority=3),
        Transfer("c", "n", "a", 250),
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"r": 5, "Q": 0}, "greater than 0"),
        ({"r": 5, "Q": {"a": 0}}, "greater than 0"),
        ({"r": -1, "Q": 5}, "greater than or equal to 0"),
        ({"r": 5}, "Field required"),
        ({"r": 5, "Q": 5, "s": 2}, "Extra inputs are not permitted"),
        ({"r": 5, "Q": 5, "priority": {"a": "high"}}, "valid integer"),
    ],
)
def test_r_q_bad_params(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ReorderQuantity.Params.model_validate(params)


# --- production priority on replenishment ---------------------------------------------------------


def test_replenish_carries_priority_to_production_orders_only() -> None:
    assert replenish(NET, "c", "a", 5, 7) == ProductionOrder("f", "a", 5, "c", priority=7)
    assert replenish(NET, "c", "a", 5) == ProductionOrder("f", "a", 5, "c", priority=0)
    assert replenish(NET, "n", "a", 5, 7) == Transfer("c", "n", "a", 5)


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("base_stock", {"target": 100}),
        ("s_S", {"s": 99, "S": 100}),
        ("r_Q", {"r": 99, "Q": 1}),
        ("forecast_base_stock", {"target": 100}),
    ],
)
def test_central_production_orders_carry_the_sku_priority(
    kind: str, params: dict[str, Any]
) -> None:
    policy = build(kind, sites="all", priority={"a": 5, "default": -1}, **params)
    st = state(quiet(c={"a": 0, "b": 0}, n={"a": 0}))
    assert policy.decide(st) == [
        ProductionOrder("f", "a", 100, "c", priority=5),
        ProductionOrder("f", "b", 100, "c", priority=-1),
        Transfer("c", "n", "a", 100),  # transfers carry no priority
    ]
    # without priorities, production orders carry priority 0
    assert build(kind, sites="central", **params).decide(st) == [
        ProductionOrder("f", "a", 100, "c", priority=0),
        ProductionOrder("f", "b", 100, "c", priority=0),
    ]


# --- forecast-driven base stock -------------------------------------------------------------------


def test_rate_ratio_is_order_rate_over_baseline_summed_over_warehouses() -> None:
    st = state(order_rate={"a": 25.0, "b": 1.0})
    assert rate_ratio(st, NET, "a") == 2.5  # baseline a = 2 + 6 + 2
    assert rate_ratio(st, NET, "b") == 0.5
    bare = NetworkInfo(("a",), ("n",), (), ("n",), (), {"n": "c"})  # no baseline known
    assert rate_ratio(st, bare, "a") == 1.0


def test_ceil_units_ignores_float_noise() -> None:
    assert 100 * 1.1 > 110  # the noise this guards against
    assert ceil_units(100 * 1.1) == 110
    assert ceil_units(110.2) == 111
    assert ceil_units(8.05) == 9
    assert ceil_units(0.0) == 0


@pytest.mark.parametrize(
    ("rate", "live", "expected"),
    [
        (10.0, (), 100),  # ratio 1: base target
        (0.0, (), 100),  # below the baseline: never lowered
        (5.0, (), 100),
        (12.0, (), 110),  # ratio 1.2: 1 + 0.5 · 0.2 = 1.1 (no float noise in the ceil)
        (12.3, (), 112),  # 1.115 → 111.5 → 112: rounded up
        (30.0, (), 200),  # ratio 3: 1 + 0.5 · 2
        (50.0, (), 300),  # ratio 5: exactly at the cap
        (51.0, (), 300),  # above the cap
        (1000.0, (), 300),
        (10.0, ("launch",), 150),  # live boost alone
        (30.0, ("launch",), 300),  # 2 · 1.5 = 3: at the cap
        (40.0, ("launch",), 300),  # 2.5 · 1.5 capped
    ],
)
def test_forecast_target(rate: float, live: tuple[str, ...], expected: int) -> None:
    policy = build(
        "forecast_base_stock",
        sites=["n"],
        target=100,
        reaction=0.5,
        max_multiplier=3,
        boost_on_live=1.5,
    )
    st = state(quiet(n={"a": 0}), order_rate={"a": rate}, live_events=live)
    assert policy.target(st, "a") == expected
    assert policy.decide(st) == [Transfer("c", "n", "a", expected)]


def test_forecast_orders_the_gap_to_the_raised_target_at_every_site() -> None:
    policy = build("forecast_base_stock", sites="forward", target={"a": 40, "default": 10})
    st = state(
        on_hand={"n": {"a": 50, "b": 10}, "s": {"a": 90, "b": 3}},
        inbound={"n": {"a": 10}},
        order_rate={"a": 20.0, "b": 2.0},  # a doubles (reaction 1 → 80), b at baseline
    )
    assert policy.decide(st) == [Transfer("c", "n", "a", 20), Transfer("c", "s", "b", 7)]


def test_forecast_without_reaction_or_boost_is_static_base_stock() -> None:
    static = build("base_stock", sites="all", target=100)
    forecast = build("forecast_base_stock", sites="all", target=100, reaction=0)
    st = state(
        {"c": {"a": 30}, "n": {"b": 120}},
        {"s": {"a": 7}},
        order_rate={"a": 500.0, "b": 80.0},
        live_events=("launch",),
    )
    assert forecast.decide(st) == static.decide(st)


def test_forecast_boost_only_when_set_and_live() -> None:
    policy = build("forecast_base_stock", sites=["n"], target=10, reaction=0)
    assert policy.target(state(live_events=("launch",)), "a") == 10
    boosted = build("forecast_base_stock", sites=["n"], target=10, reaction=0, boost_on_live=2)
    assert boosted.target(state(), "a") == 10
    assert boosted.target(state(live_events=("launch",)), "a") == 20
    assert boosted.target(state(live_events=("launch",)), "b") == 20
    unmanaged = build("forecast_base_stock", sites=["n"], target={"a": 10})
    assert unmanaged.target(state(), "b") is None
    assert unmanaged.decide(state(quiet(n={"a": 10, "b": 0}))) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"target": 10, "reaction": -0.5}, "greater than or equal to 0"),
        ({"target": 10, "max_multiplier": 0.9}, "greater than or equal to 1"),
        ({"target": 10, "boost_on_live": 0.5}, "greater than or equal to 1"),
        ({"target": -10}, "greater than or equal to 0"),
        ({"reaction": 1}, "Field required"),
        ({"target": 10, "react": 1}, "Extra inputs are not permitted"),
    ],
)
def test_forecast_bad_params(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ForecastBaseStock.Params.model_validate(params)


# --- pre-positioning by audience ------------------------------------------------------------------

LAUNCH = {"name": "launch", "start": "2d", "duration": "3h", "skus": {"a": 1000}}


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        (0.0, {}),
        (23.99, {}),  # before start − lead
        (24.0, {("n", "a"): 800, ("s", "a"): 200}),  # the push starts at start − lead
        (48.0, {("n", "a"): 800, ("s", "a"): 200}),  # on air
        (50.99, {("n", "a"): 800, ("s", "a"): 200}),
        (51.0, {}),  # the event is over
        (500.0, {}),
    ],
)
def test_preposition_window_and_default_shares(time: float, expected: dict[Any, int]) -> None:
    policy = build("preposition_by_audience", target=50, lead="1d", events=[LAUNCH])
    st = state(time=time)
    assert policy.amounts(st) == expected
    targets = {key: 50 for key in [("n", "a"), ("n", "b"), ("s", "a"), ("s", "b")]}
    for key, extra in expected.items():
        targets[key] += extra
    assert policy.targets(st) == targets
    assert policy.decide(st) == [Transfer("c", w, k, t) for (w, k), t in targets.items()]


def test_preposition_orders_the_gap_from_the_position() -> None:
    policy = build("preposition_by_audience", target=50, lead=24, events=[LAUNCH])
    st = state(
        on_hand={"n": {"a": 300, "b": 50}, "s": {"a": 260, "b": 60}},
        inbound={"n": {"a": 100}},
        backorders={"n": {"a": 20}},
        time=30.0,
    )
    # n/a: target 850, position 380; s/a: target 250, position 260 (above)
    assert policy.decide(st) == [Transfer("c", "n", "a", 470)]


def test_preposition_explicit_shares_round_up_per_warehouse() -> None:
    event = {"start": 10, "duration": 5, "skus": {"a": 1000, "b": 7}, "shares": {"n": 0.3}}
    policy = build("preposition_by_audience", target=0, events=[event])
    # 1000 × 0.3 is 300.00000000000006 in floats: still 300; s is not named: nothing
    assert policy.amounts(state(time=10)) == {("n", "a"): 300, ("n", "b"): 3}
    halves = {**event, "shares": {"n": 0.5, "s": 0.5}}
    policy = build("preposition_by_audience", target=0, events=[halves])
    assert policy.amounts(state(time=10)) == {
        ("n", "a"): 500,
        ("s", "a"): 500,
        ("n", "b"): 4,  # 3.5 rounded up at each warehouse
        ("s", "b"): 4,
    }


def test_preposition_overlapping_events_add_up() -> None:
    first = {"start": 10, "duration": 10, "skus": {"a": 100}}
    second = {"start": 15, "duration": 10, "skus": {"a": 50, "b": 10}, "shares": {"s": 1.0}}
    policy = build("preposition_by_audience", target=5, lead=2, events=[first, second])
    assert policy.amounts(state(time=12.9)) == {("n", "a"): 80, ("s", "a"): 20}
    assert policy.amounts(state(time=13)) == {("n", "a"): 80, ("s", "a"): 70, ("s", "b"): 10}
    assert policy.amounts(state(time=20)) == {("s", "a"): 50, ("s", "b"): 10}


def test_preposition_featured_sku_without_base_target_is_stocked_for_the_event_only() -> None:
    event = {"start": 10, "duration": 5, "skus": {"b": 10}, "shares": {"n": 1.0}}
    policy = build("preposition_by_audience", target={"a": 5}, events=[event])
    assert policy.decide(state(time=9)) == [Transfer("c", "n", "a", 5), Transfer("c", "s", "a", 5)]
    assert policy.decide(state(time=10)) == [
        Transfer("c", "n", "a", 5),
        Transfer("c", "n", "b", 10),
        Transfer("c", "s", "a", 5),
    ]


def test_preposition_equal_shares_without_a_baseline() -> None:
    net = NetworkInfo(("a",), ("c", "n", "s"), ("c",), ("n", "s"), ("f",), NET.source_of)
    policy = build("preposition_by_audience", net, target=0, events=[LAUNCH])
    assert policy.amounts(state(time=48)) == {("n", "a"): 500, ("s", "a"): 500}


def test_preposition_amounts_can_be_overridden_by_an_optimiser() -> None:
    class Chosen(PrepositionByAudience):
        def amounts(self, state: State) -> dict[tuple[str, str], int]:
            return {("s", "b"): 7} if self.active(state) else {}

    params = PrepositionByAudience.Params.model_validate({"target": 1, "events": [LAUNCH]})
    policy = Chosen(params, NET)
    st = state(quiet(s={"b": 2}), time=48)
    assert policy.decide(st) == [Transfer("c", "s", "b", 6)]
    assert policy.decide(state(quiet(s={"b": 2}), time=0)) == []


def test_preposition_names_unknown_skus_and_warehouses_at_build() -> None:
    with pytest.raises(ValueError, match=r"events\[0\]\.skus names 'zz', which is not a SKU"):
        build("preposition_by_audience", target=0, events=[{**LAUNCH, "skus": {"zz": 1}}])
    with pytest.raises(ValueError, match=r"events\[0\]\.shares names 'c', which is not one of"):
        build("preposition_by_audience", target=0, events=[{**LAUNCH, "shares": {"c": 1.0}}])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"target": 0, "events": [{**LAUNCH, "shares": {"n": 0.7, "s": 0.4}}]}, "add up to 1.1"),
        ({"target": 0, "events": [{**LAUNCH, "shares": {"n": -0.1}}]}, "greater than or equal"),
        ({"target": 0, "events": [{**LAUNCH, "duration": 0}]}, "greater than 0"),
        ({"target": 0, "events": [{**LAUNCH, "start": "soon"}]}, "expected a duration"),
        ({"target": 0, "events": [{**LAUNCH, "skus": {}}]}, "at least 1 item"),
        ({"target": 0, "events": [{**LAUNCH, "skus": {"a": -5}}]}, "greater than or equal"),
        ({"target": 0, "lead": -3}, "must be finite and >= 0"),
        ({"target": 0, "events": [{**LAUNCH, "audience": 1}]}, "Extra inputs"),
        ({"events": []}, "Field required"),
    ],
)
def test_preposition_bad_params(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PrepositionByAudience.Params.model_validate(params)


# --- procurement by urgency -----------------------------------------------------------------------


def urgency_state(tube: int, on_order: int = 0, down: tuple[str, ...] = (), **kwargs: Any) -> State:
    return state(
        components={"f": {"tube": tube, "cap": 10**6}},
        components_on_order={"f": {"tube": on_order}},
        suppliers=kwargs.pop("suppliers", suppliers(down)),
        **kwargs,
    )


def test_usage_from_the_bom_and_the_baseline() -> None:
    policy = build("components_by_urgency", s=10, S=20)
    assert policy.usage("f", "tube") == 10.0  # 1 per a × 10 a/h
    assert policy.usage("f", "cap") == 20.0
    assert policy.usage("f", "bottle") == 2.0
    assert policy.usage("g", "tube") == 0.0
    given = build("components_by_urgency", s=10, S=20, usage_per_hour={"tube": 4})
    assert given.usage("f", "tube") == 4.0
    assert given.usage("f", "cap") == 20.0  # no entry: from the BOM
    assert build("components_by_urgency", s=10, S=20, usage_per_hour=0).usage("f", "cap") == 0.0


def test_usage_counts_only_the_warehouses_a_factory_supplies() -> None:
    net = NetworkInfo(
        skus=("a",),
        warehouses=("c1", "c2", "n1"),
        central=("c1", "c2"),
        forward=("n1",),
        factories=("f", "g"),
        source_of={"c1": "f", "c2": "g", "n1": "c1"},
        baseline_units_per_hour={"c1": {"a": 1.0}, "c2": {"a": 4.0}, "n1": {"a": 2.0}},
        bom={"f": {"a": {"tube": 3}}, "g": {"a": {"tube": 1}}},
    )
    assert served_by(net, "f") == ["c1", "n1"]
    assert served_by(net, "g") == ["c2"]
    policy = build("components_by_urgency", net, s=10, S=20)
    assert policy.usage("f", "tube") == 9.0
    assert policy.usage("g", "tube") == 4.0


@pytest.mark.parametrize(
    ("tube", "down", "expected"),
    [
        (600, (), "s_strat"),  # stock-out in 60 h; strategic arrives in 48 h
        (480, (), "s_strat"),  # stock-out exactly at the strategic lead time: in time
        (479, (), "s_agile"),  # stock-out sooner than strategic; agile (12 h) in time
        (200, (), "s_agile"),
        (120, (), "s_agile"),  # exactly at the agile lead time
        (119, (), "s_backup"),  # both short: backup
        (0, (), "s_backup"),
        (600, ("s_strat",), "s_agile"),  # strategic down: agile arrives in time
        (600, ("s_strat", "s_agile"), "s_backup"),  # both down
        (50, ("s_backup",), "s_agile"),  # both short, backup down: the fastest up seller
        (600, ("s_strat", "s_agile", "s_backup"), "s_strat"),  # none up: first strategic
    ],
)
def test_urgency_picks_the_tier(tube: int, down: tuple[str, ...], expected: str) -> None:
    policy = build("components_by_urgency", s=1000, S=2000)
    st = urgency_state(tube, down=down)
    assert policy.supplier_for("tube", st, policy.stockout_in(st, "f", "tube")) == expected
    moq = SUPPLIERS[expected][2]
    assert policy.decide(st) == [PurchaseOrder(expected, "tube", max(2000 - tube, moq), "f")]


def test_urgency_late_fastest_buys_from_the_fastest_up_seller() -> None:
    policy = build("components_by_urgency", s=1000, S=2000, late="fastest")
    assert policy.decide(urgency_state(50)) == [PurchaseOrder("s_agile", "tube", 1950, "f")]
    agile_down = urgency_state(50, down=("s_agile",))
    assert policy.decide(agile_down) == [PurchaseOrder("s_strat", "tube", 1950, "f")]
    # in time, late plays no part
    assert policy.decide(urgency_state(600))[0].supplier == "s_strat"


def test_urgency_uses_on_hand_for_the_stockout_and_position_for_the_trigger() -> None:
    policy = build("components_by_urgency", s=1000, S=2000)
    assert policy.decide(urgency_state(200, on_order=801)) == []  # position 1001 > s
    # at s: order; on order does not delay the stock-out (20 h), so agile
    assert policy.decide(urgency_state(200, on_order=800)) == [
        PurchaseOrder("s_agile", "tube", 1000, "f")
    ]


def test_urgency_without_usage_never_stocks_out() -> None:
    policy = build("components_by_urgency", s=1000, S=2000, usage_per_hour={"tube": 0})
    assert policy.stockout_in(urgency_state(0), "f", "tube") == math.inf
    assert policy.decide(urgency_state(0)) == [PurchaseOrder("s_strat", "tube", 2000, "f")]
    slower = build("components_by_urgency", s=1000, S=2000, usage_per_hour={"tube": 5})
    assert slower.stockout_in(urgency_state(200), "f", "tube") == 40.0
    assert slower.decide(urgency_state(200))[0].supplier == "s_agile"  # 40 h < 48 h


@pytest.mark.parametrize(
    ("tube", "on_order", "expected"),
    [
        (100, 145, PurchaseOrder("s_backup", "tube", 500, "f")),  # needs 5, backup MOQ 500
        (200, 45, PurchaseOrder("s_agile", "tube", 10, "f")),  # needs 5, agile MOQ 10
        (200, 35, PurchaseOrder("s_agile", "tube", 20, "f")),  # above the MOQ: S − position
        (480, 0, None),  # above s
    ],
)
def test_urgency_orders_at_least_the_moq(
    tube: int, on_order: int, expected: PurchaseOrder | None
) -> None:
    policy = build("components_by_urgency", s={"tube": 250}, S={"tube": 250 + 5})
    decisions = policy.decide(urgency_state(tube, on_order))
    assert decisions == ([] if expected is None else [expected])


def test_urgency_within_a_tier_takes_the_fastest_up_seller() -> None:
    known = {
        "s_strat": SupplierInfo("strategic", "up", 48.0, 1, ("tube",)),
        "s_agile": SupplierInfo("agile", "up", 30.0, 1, ("tube",)),
        "s_agile2": SupplierInfo("agile", "up", 10.0, 1, ("tube",)),
        "s_backup": SupplierInfo("backup", "up", 120.0, 1, ("tube",)),
    }
    net = NetworkInfo(**{**_fields(NET), "sellers": {"tube": ("s_agile", "s_agile2", "s_strat")}})
    policy = build("components_by_urgency", net, s=1000, S=2000)
    st = urgency_state(200, suppliers=known)  # stock-out in 20 h: s_agile2 (10 h) in time
    assert policy.decide(st)[0].supplier == "s_agile2"
    # no backup sells tubes here: both short → the fastest up seller
    assert policy.decide(urgency_state(50, suppliers=known))[0].supplier == "s_agile2"


def test_urgency_buys_nothing_when_no_known_supplier_sells_it() -> None:
    policy = build("components_by_urgency", s={"bottle": 5}, S={"bottle": 9})
    assert policy.decide(urgency_state(10**6)) == []  # bottles have no sellers


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"s": 10, "S": 10}, r"s \(=10\) must be < S \(=10\)"),
        ({"s": 10, "S": 20, "usage_per_hour": -1}, "greater than or equal to 0"),
        ({"s": 10, "S": 20, "late": "never"}, "'backup' or 'fastest'"),
        ({"s": 10}, "Field required"),
        ({"s": 10, "S": 20, "tiers": ["agile"]}, "Extra inputs"),
    ],
)
def test_urgency_bad_params(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ComponentsByUrgency.Params.model_validate(params)


def _fields(net: NetworkInfo) -> dict[str, Any]:
    return {name: getattr(net, name) for name in NetworkInfo.__slots__}


# --- elastic capacity on backlog or live-sale signal ----------------------------------------------


def elastic(
    status: str,
    queued: int = 0,
    central_back: int = 0,
    rate: float = 0.0,
    live: tuple[str, ...] = (),
    forward_back: int = 0,
) -> State:
    return state(
        backorders={"c": {"a": central_back}, "n": {"a": forward_back}},
        production_queue={"f": {"a": queued - queued // 2, "b": queued // 2}},
        elastic={"f": status},
        live_events=live,
        order_rate={"a": rate * 10 / 12, "b": rate * 2 / 12},  # total `rate`; baseline 12/h
    )


ON, OFF = [ElasticActivation("f", True)], [ElasticActivation("f", False)]


@pytest.mark.parametrize(
    ("st", "expected"),
    [
        (elastic("off", queued=700, central_back=101), ON),  # backlog 801 > 800
        (elastic("off", queued=700, central_back=100), []),  # at the threshold
        (elastic("off", queued=801), ON),
        (elastic("off", queued=700, forward_back=5000), []),  # forward backorders do not count
        (elastic("off", live=("launch",)), ON),
        (elastic("off", rate=36.1), ON),  # ratio > 3
        (elastic("off", rate=36.0), []),  # ratio = 3
        (elastic("on", queued=150, central_back=50, rate=24.0), OFF),  # all at the off levels
        (elastic("on", queued=150, central_back=51), []),  # backlog between: stays on
        (elastic("on", rate=30.0), []),  # ratio 2.5: between 2 and 3, stays on
        (elastic("on", live=("launch",)), []),  # stays on while live
        (elastic("pending"), OFF),
        (elastic("off", queued=500, rate=30.0), []),  # between the thresholds: stays off
        (elastic("unavailable", queued=5000, rate=999.0, live=("launch",)), []),
    ],
)
def test_priority_elastic(st: State, expected: list[Decision]) -> None:
    policy = build(
        "priority_elastic", on_above=800, off_below=200, on_rate_ratio=3, off_rate_ratio=2
    )
    assert policy.decide(st) == expected


def test_priority_elastic_rate_signal_defaults() -> None:
    no_rate = build("priority_elastic", on_above=800)
    assert no_rate.rate_ratio(elastic("off", rate=120.0)) == 10.0
    assert no_rate.decide(elastic("off", rate=120.0)) == []  # ratio unused without a threshold
    assert no_rate.decide(elastic("on", rate=120.0)) == OFF
    same = build("priority_elastic", on_above=800, on_rate_ratio=2)  # off at the on ratio
    assert same.decide(elastic("on", rate=24.1)) == []
    assert same.decide(elastic("on", rate=24.0)) == OFF
    not_live = build("priority_elastic", on_above=800, on_live=False)
    assert not_live.decide(elastic("off", live=("launch",))) == []
    assert not_live.decide(elastic("on", live=("launch",))) == OFF


def test_priority_elastic_backlog_per_factory() -> None:
    net = NetworkInfo(
        skus=("a",),
        warehouses=("c1", "c2"),
        central=("c1", "c2"),
        forward=(),
        factories=("f", "g"),
        source_of={"c1": "f", "c2": "g"},
    )
    policy = build("priority_elastic", net, on_above=10)
    st = state(
        backorders={"c1": {"a": 11}, "c2": {"a": 3}},
        production_queue={"g": {"a": 7}},
        elastic={"f": "off", "g": "off"},
    )
    assert policy.backlog(st, "f") == 11
    assert policy.backlog(st, "g") == 10
    assert policy.rate_ratio(st) == 1.0  # no baseline known
    assert policy.decide(st) == [ElasticActivation("f", True)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"on_above": 10, "off_below": 11}, r"off_below \(=11\) must be <= on_above \(=10\)"),
        (
            {"on_above": 10, "on_rate_ratio": 2, "off_rate_ratio": 2.5},
            r"off_rate_ratio \(=2.5\) must be <= on_rate_ratio \(=2\)",
        ),
        ({"on_above": 10, "off_rate_ratio": 2}, "off_rate_ratio is set but on_rate_ratio is not"),
        ({"on_above": 10, "on_rate_ratio": 0.5}, "greater than or equal to 1"),
        ({"on_above": -1}, "greater than or equal to 0"),
        ({}, "Field required"),
    ],
)
def test_priority_elastic_bad_params(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PriorityElastic.Params.model_validate(params)


# --- every kind checks its parameters, with a clear message ---------------------------------------

MINIMAL: dict[str, dict[str, Any]] = {
    "base_stock": {"target": 5},
    "s_S": {"s": 1, "S": 5},
    "r_Q": {"r": 1, "Q": 5},
    "forecast_base_stock": {"target": 5},
    "preposition_by_audience": {"target": 5},
    "components_s_S": {"s": 1, "S": 5},
    "components_by_urgency": {"s": 1, "S": 5},
    "elastic_on_backlog": {"on_above": 5},
    "priority_elastic": {"on_above": 5},
    "preposition_plan": {"target": 5},
    "nearest_with_stock": {},
    "cheapest_meeting_promise": {},
    "min_cost_batch": {},
    "cheapest_on_time": {},
    "fastest_carrier": {},
}


def test_every_registered_kind_has_minimal_params_here() -> None:
    assert sorted(MINIMAL) == REGISTRY.names


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_every_kind_refuses_unknown_and_missing_keys_clearly(kind: str) -> None:
    params = REGISTRY.resolve(kind).params
    params.model_validate(MINIMAL[kind])  # the minimal set is valid
    bad = {**MINIMAL[kind], "bogus_key": 1}
    with pytest.raises(ValidationError) as info:
        params.model_validate(bad)
    lines = validation_problems("S", info.value, params, bad, prefix=("policies", "p"))
    assert lines == [
        f"S: policies.p.bogus_key (=1) is not a known key (known keys: {_keys(params)})"
    ]
    for required in MINIMAL[kind]:
        missing = {k: v for k, v in MINIMAL[kind].items() if k != required}
        with pytest.raises(ValidationError) as info:
            params.model_validate(missing)
        lines = validation_problems("S", info.value, params, missing, prefix=("policies", "p"))
        assert lines == [f"S: policies.p.{required} is required"]


def _keys(params: Any) -> str:
    return ", ".join(params.model_fields)


def _tiny_with(policy: dict[str, Any]) -> dict[str, Any]:
    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    data["policies"] = {"p": policy}
    return data


@pytest.mark.parametrize(
    ("policy", "line"),
    [
        ({"kind": "r_Q", "r": 5, "Q": 0}, "T: policies.p.Q (=0) must be > 0"),
        (
            {"kind": "forecast_base_stock", "target": 5, "max_multiplier": 0.5},
            "T: policies.p.max_multiplier (=0.5) must be >= 1",
        ),
        (
            {"kind": "preposition_by_audience", "target": 5, "lead": "soon"},
            "T: policies.p.lead (='soon') expected a duration such as '90min', '36h', '2d' or "
            "'4d 20h', got 'soon'",
        ),
        (
            {
                "kind": "preposition_by_audience",
                "target": 5,
                "events": [{"start": 1, "duration": 1, "skus": {"x": 1}, "shares": {"a": 2}}],
            },
            "T: policies.p.events[0].shares (={'a': 2}) add up to 2; they must add up to at most 1",
        ),
        (
            {"kind": "components_by_urgency", "s": 5, "S": 9, "late": "soon"},
            "T: policies.p.late (='soon') must be one of 'backup' or 'fastest'",
        ),
        (
            {"kind": "priority_elastic", "on_above": 5, "on_rate_ratio": 3, "off_rate_ratio": 4},
            "T: policies.p off_rate_ratio (=4) must be <= on_rate_ratio (=3)",
        ),
        (
            {"kind": "r_Q", "sites": ["fwd_nowhere"], "r": 5, "Q": 1},
            "T: policies.p.sites (='fwd_nowhere') names no warehouse of this scenario",
        ),
    ],
)
def test_scenario_loader_reports_bad_params_of_the_new_kinds(
    policy: dict[str, Any], line: str
) -> None:
    with pytest.raises(ConfigError) as info:
        scenario_from_data(_tiny_with(policy), "T")
    assert info.value.problems == [line]


# --- the new kinds run in the model ---------------------------------------------------------------


def test_new_kinds_run_on_the_flagship() -> None:
    from twin.model.world import simulate

    data = yaml.safe_load(FLAGSHIP.read_text(encoding="utf-8"))
    data.pop("variants", None)  # designs of their own (`twin compare`), not part of the base run
    main = {"start": "9d 20h", "duration": "4h", "skus": {"serum_c": 3000, "mask_pack": 2000}}
    data["policies"] = {
        "forward": {
            "kind": "preposition_by_audience",
            "review": "6h",
            "target": {"default": 320, "lipstick_red": 700},
            "lead": "2d",
            "events": [main],
        },
        "central": {
            "kind": "forecast_base_stock",
            "review": "8h",
            "sites": "central",
            "target": 5000,
            "reaction": 0.2,
            "priority": {"serum_c": 2, "mask_pack": 1},
        },
        "procurement": {
            "kind": "components_by_urgency",
            "review": "12h",
            "s": {"default": 30000, "compact": 8000},
            "S": {"default": 80000, "compact": 20000},
        },
        "elastic": {
            "kind": "priority_elastic",
            "review": "2h",
            "on_above": 12000,
            "off_below": 3000,
            "on_rate_ratio": 5,
        },
        "spare": {"kind": "r_Q", "review": "1d", "sites": ["fwd_sh"], "r": 10, "Q": 5},
    }
    record = simulate(scenario_from_data(data, "flagship+library"), 0)
    by_policy: dict[str, list[Decision]] = {}
    for _, name, decision in record.decisions:
        by_policy.setdefault(name, []).append(decision)
    assert {"forward", "central", "procurement", "elastic"} <= set(by_policy)
    central = [d for d in by_policy["central"] if isinstance(d, ProductionOrder)]
    assert {d.priority for d in central if d.sku == "serum_c"} == {2}
    assert all(isinstance(d, PurchaseOrder) for d in by_policy["procurement"])
