"""Conservation and sane order timelines on randomly generated small networks (DESIGN §3).

Hypothesis builds scenarios as plain data (1 factory with or without elastic capacity, 1 central
warehouse, 0–3 forward ones, 1–4 regions, 1–3 SKUs, every kind of duration distribution, 0–2
livestreams, returns on or off, base-stock or (s, S) policies) and validates them the way a file is
validated. Each run must finish (the model checks conservation itself and raises `ModelError`), and
the record must agree: sources == uses per SKU, stock never below zero at any moment, and every
order's timestamps in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenario_strategies import (
    distributions,
    durations,
    often,
    positive,
    replenishment,
    stock_levels,
)

from twin.config import load_scenario, scenario_from_data
from twin.errors import ConfigError, ModelError
from twin.model.ledger import ALLOCATED, CANCELLED, WAITING
from twin.model.warehouse import Warehouse
from twin.model.world import simulate

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"

# --- strategies ---------------------------------------------------------------------------------

# any cv, including subnormal ones (1/cv² once overflowed in Gamma)
cvs = st.one_of(st.just(0.0), st.floats(0.0, 2.0), st.floats(0.0, 1e-150))


@st.composite
def warehouses(draw: st.DrawFn, role: str, skus: list[str], x: float) -> dict[str, Any]:
    site: dict[str, Any] = {
        "kind": "warehouse",
        "role": role,
        "location": [x, draw(st.floats(-50, 50))],
        "initial_stock": draw(stock_levels(skus, 400 if role == "central" else 150)),
        "pick_pack": {
            "workers": draw(st.integers(1, 4)),
            "rate": draw(st.floats(0.5, 40.0)),
            "service_cv": draw(cvs),
        },
        "inbound_handling": draw(durations(0.0, 4.0)),
    }
    if draw(st.booleans()):
        site["inspection"] = {
            "time": draw(durations(0.0, 6.0)),
            "restock_fraction": draw(st.floats(0.0, 1.0)),
        }
    return site


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    skus = [f"sku{i}" for i in range(draw(st.integers(1, 3)))]
    horizon = draw(st.floats(4.0, 60.0))
    n_fwd = draw(st.integers(0, 3))
    n_reg = draw(st.integers(1, 4))
    forwards = [f"fwd{i}" for i in range(n_fwd)]
    regions = [f"reg{i}" for i in range(n_reg)]

    sku_specs = {}
    for k in skus:
        cost = draw(st.floats(1.0, 20.0))
        sku_specs[k] = {
            "unit_cost": cost,
            "price": cost * draw(st.floats(1.1, 3.0)),
            "order_size_mean": draw(st.floats(1.0, 3.0)),
        }

    factory: dict[str, Any] = {
        "kind": "factory",
        "location": [0, 0],
        "capacity": draw(st.floats(1.0, 100.0)),
    }
    elastic = draw(st.booleans())
    if elastic:
        factory["elastic"] = {
            "capacity": draw(st.floats(1.0, 80.0)),
            "reservation_fee": draw(st.floats(0.0, 1.0)),
            "premium_per_unit": draw(st.floats(0.0, 5.0)),
            "activation_delay": draw(durations(0.0, 12.0)),
        }
        if draw(st.booleans()):
            start = draw(st.floats(0.0, horizon / 2))
            factory["elastic"]["reserved_from"] = round(start, 3)
            factory["elastic"]["reserved_until"] = round(start + draw(st.floats(1.0, horizon)), 3)

    sites: dict[str, Any] = {"factory": factory, "central": draw(warehouses("central", skus, 10.0))}
    for i, w in enumerate(forwards):
        sites[w] = draw(warehouses("forward", skus, 20.0 + i))
    for i, r in enumerate(regions):
        sites[r] = {
            "kind": "region",
            "location": [40.0 + i, 0.0],
            "weight": draw(st.floats(0.1, 3.0)),
            "sla": draw(positive(72.0)),
            "patience": draw(positive(72.0)),
        }

    def lane(origin: str, destination: str) -> dict[str, Any]:
        return {
            "from": origin,
            "to": destination,
            "transit": draw(distributions(24.0, cvs)),
            "cost_per_shipment": draw(st.floats(0.0, 50.0)),
            "cost_per_unit": draw(st.floats(0.0, 1.0)),
        }

    lanes = [lane("factory", "central")] + [lane("central", w) for w in forwards]
    for r in regions:
        feeders = draw(
            st.lists(
                st.sampled_from(["central", *forwards]), min_size=1, max_size=1 + n_fwd, unique=True
            )
        )
        lanes += [lane(w, r) for w in feeders]

    baseline: dict[str, Any] = {"orders_per_hour": draw(st.floats(0.2, 25.0))}
    if draw(st.booleans()):
        baseline["sku_mix"] = draw(
            st.dictionaries(st.sampled_from(skus), st.floats(0.1, 5.0), min_size=1)
        )
    livestreams = {}
    for e in range(draw(st.integers(0, 2))):
        p50 = draw(st.floats(1.0, 40.0))
        event: dict[str, Any] = {
            "start": round(draw(st.floats(0.0, horizon * 0.9)), 3),
            "duration": draw(positive(12.0)),
            "decay": draw(positive(4.0)),
            "uplift": {"p50": p50, "p90": p50 * draw(st.floats(1.0, 4.0))},
            "featured": draw(
                st.dictionaries(st.sampled_from(skus), st.floats(0.0, 1.0), min_size=1)
            ),
        }
        if draw(st.booleans()):
            event["audience"] = draw(
                st.dictionaries(st.sampled_from(regions), st.floats(0.0, 2.0), min_size=1)
            )
        livestreams[f"live{e}"] = event

    data: dict[str, Any] = {
        "name": "generated",
        "seed": draw(st.integers(0, 2**32 - 1)),
        "horizon": round(horizon, 3),
        "skus": sku_specs,
        "sites": sites,
        "lanes": lanes,
        "demand": {"baseline": baseline, "livestreams": livestreams},
        "costs": {
            "holding_rate_per_year": draw(st.floats(0.0, 1.0)),
            "returns_handling_per_unit": draw(st.floats(0.0, 3.0)),
        },
    }
    if draw(often):
        data["returns"] = {
            "baseline": {
                "probability": draw(st.floats(0.0, 0.5)),
                "lag": draw(distributions(24.0, cvs)),
            },
            "live": {
                "probability": draw(st.floats(0.0, 0.9)),
                "lag": draw(distributions(24.0, cvs)),
            },
        }

    policies: dict[str, Any] = {}
    if forwards and draw(often):
        which = draw(
            st.one_of(
                st.just("forward"), st.lists(st.sampled_from(forwards), min_size=1, unique=True)
            )
        )
        policies["forward_replenishment"] = draw(replenishment(which, skus, 200, positive(24.0)))
    if draw(often):
        policies["central_replenishment"] = draw(
            replenishment("central", skus, 200, positive(24.0))
        )
    if draw(st.booleans()) and not policies:
        policies["all_replenishment"] = draw(replenishment("all", skus, 200, positive(24.0)))
    if elastic and draw(often):
        on_above = draw(st.integers(0, 500))
        policies["elastic"] = {
            "kind": "elastic_on_backlog",
            "review": draw(positive(6.0)),
            "on_above": on_above,
            "off_below": draw(st.integers(0, on_above)),
            "on_live": draw(st.booleans()),
        }
    data["policies"] = policies
    return data


# --- the property -------------------------------------------------------------------------------


def _checked(method: Any) -> Any:
    """Wrap Warehouse.take/put: after every stock movement, no SKU may be below zero."""

    def wrapper(self: Warehouse, sku: int, quantity: int, t: float) -> None:
        assert quantity > 0, f"{method.__name__} of {quantity} units at {self.id}"
        method(self, sku, quantity, t)
        assert self.stock[sku] >= 0, (
            f"{self.id} stock of SKU {sku} went to {self.stock[sku]} at t={t}"
        )

    return wrapper


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=scenarios(), replication=st.integers(0, 3))
def test_generated_scenarios_conserve_units(data: dict[str, Any], replication: int) -> None:
    try:
        scenario = scenario_from_data(data, "generated")
    except ConfigError as exc:  # the generator only builds valid scenarios
        pytest.fail(f"generated scenario rejected:\n{exc}\n{yaml.safe_dump(data)}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Warehouse, "take", _checked(Warehouse.take))
        mp.setattr(Warehouse, "put", _checked(Warehouse.put))
        record = simulate(scenario, replication)  # raises ModelError if conservation fails

    assert [b.sku for b in record.balances] == list(scenario.skus)
    for b in record.balances:
        assert b.sources == b.uses, b
        assert b.on_hand >= 0, b
        for term in (
            b.initial,
            b.produced,
            b.returns_received,
            b.delivered,
            b.scrapped,
            b.in_transit,
            b.in_process,
        ):
            assert term >= 0, b

    book, o, h = record.book, record.outcomes, scenario.horizon
    assert np.all(np.diff(book.time) >= 0)
    assert np.all((book.time >= 0) & (book.time < h))
    assert np.all(book.quantity >= 1)
    assert set(np.unique(o.status)) <= {WAITING, ALLOCATED, CANCELLED}, "an order was never handled"

    patience = np.array([scenario.sites[r].patience for r in record.regions])[book.region]
    alloc = o.status == ALLOCATED
    assert np.all(
        np.isfinite(o.allocated[alloc])
        & np.isfinite(o.shipped[alloc])
        & np.isfinite(o.delivered[alloc])
    )
    assert np.all(book.time[alloc] <= o.allocated[alloc])
    assert np.all(o.allocated[alloc] <= o.shipped[alloc])
    assert np.all(o.shipped[alloc] <= o.delivered[alloc])
    assert np.all(o.allocated[alloc] - book.time[alloc] <= patience[alloc] + 1e-9)
    assert np.all((o.warehouse[alloc] >= 0) & (o.warehouse[alloc] < len(record.warehouses)))

    not_alloc = ~alloc
    assert np.all(
        np.isnan(o.allocated[not_alloc])
        & np.isnan(o.shipped[not_alloc])
        & np.isnan(o.delivered[not_alloc])
    )

    cancelled = o.status == CANCELLED
    assert np.allclose(o.cancelled[cancelled], book.time[cancelled] + patience[cancelled])
    assert np.all(o.cancelled[cancelled] <= h)
    waiting = o.status == WAITING
    assert np.all(np.isnan(o.cancelled[~cancelled]))
    # an order still waiting at the end has patience left at the horizon
    assert np.all(book.time[waiting] + patience[waiting] >= h - 1e-9)


# --- a negative control: the check must catch a unit created out of nothing ---------------------


def test_conservation_check_catches_a_created_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(TINY)
    simulate(scenario, 0)  # fine as it is
    serum = list(scenario.skus).index("serum")
    original = Warehouse.put

    def put_one_more(self: Warehouse, sku: int, quantity: int, t: float) -> None:
        original(self, sku, quantity + (sku == serum), t)

    monkeypatch.setattr(Warehouse, "put", put_one_more)
    with pytest.raises(ModelError, match=r"conservation violated for SKU 'serum'"):
        simulate(scenario, 0)


@pytest.mark.parametrize("cv", [1e-160, 1e-170, 5e-324])
def test_gamma_with_a_tiny_cv_is_rejected_or_runs(cv: float) -> None:
    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    data["lanes"][3]["transit"] = {"dist": "gamma", "mean": "12h", "cv": cv}
    data["sites"]["central"]["pick_pack"]["service_cv"] = cv
    try:
        scenario = scenario_from_data(data, "tiny")
    except ConfigError:
        return  # refusing such a cv at load would be fine too
    record = simulate(scenario, 0)
    allocated = record.outcomes.status == ALLOCATED
    assert allocated.sum() > 100
    assert np.all(np.isfinite(record.outcomes.delivered[allocated]))


# Regression: at() once computed a negative delay when a callback's intended time was 1 ulp
# behind env.now and the inspection time was 0 (SimPy raised "Negative delay").
def test_zero_inspection_time_runs() -> None:
    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    for wh in ("central", "fwd_north", "fwd_south"):
        data["sites"][wh]["inspection"] = {"time": 0}
    scenario = scenario_from_data(data, "tiny")
    for rep in range(5):
        record = simulate(scenario, rep)
        assert record.returns_received > 0
        assert all(b.sources == b.uses for b in record.balances)
