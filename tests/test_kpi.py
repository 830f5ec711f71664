"""The KPI registry: one place for each KPI's unit, range, direction, description and format."""

from __future__ import annotations

import math

import pytest

from twin import kpi


def describe(name: str) -> str:
    return kpi.info(name).description


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("fill_rate", 0.9567, "95.7%"),
        ("utilisation_pick_pack", 0.5, "50.0%"),
        ("cost_holding", 1234567.4, "1,234,567"),
        ("profit", -25_000.0, "-25,000"),
        ("lead_time_p50", 12.345, "12.3 h"),
        ("lost_sales", 12_345.0, "12,345"),
        ("lost_sales", 3.25, "3.2"),
        ("orders", float("nan"), "–"),
        ("otd_disrupted", 0.6482, "64.8%"),
        ("otd_normal", 0.912, "91.2%"),
        ("fill_rate_disrupted", 0.66764, "66.8%"),
        ("fill_rate_normal", 0.93, "93.0%"),
        ("recovery_h:double11_main/replay", 27.26, "27.3 h"),
        ("cost_procurement", 185_529.55, "185,530"),
        ("cost_supplier_reserved", 2_240.0, "2,240"),
    ],
)
def test_format_value(name: str, value: float, expected: str) -> None:
    assert kpi.format_value(name, value) == expected


def test_unknown_kpi_has_no_description_known_has_one() -> None:
    assert describe("mystery_metric") == ""
    for name in [
        "fill_rate",
        "immediate_fill_rate",
        "otd",
        "lead_time_p50",
        "lead_time_p95",
        "lost_sales",
        "backlog_peak",
        "recovery_h",
        "cost_total",
        "revenue",
        "profit",
        "leftover_units",
        "utilisation_pick_pack",
        "utilisation_factory",
        "return_rate",
        "restocked_units",
        "orders",
        "units_demanded",
        "cost_procurement",
        "cost_supplier_reserved",
        "otd_disrupted",
        "otd_normal",
        "fill_rate_disrupted",
        "fill_rate_normal",
        "recovery_h:flash_sale",
    ]:
        assert describe(name), name


def test_new_kpi_descriptions() -> None:
    assert describe("cost_procurement") == (
        "Cost: components bought from suppliers (contract price, surcharge above contract)"
    )
    assert describe("cost_supplier_reserved") == (
        "Cost: supplier capacity reserved (fee per unit-day, used or not)"
    )
    assert "any disruption" in describe("otd_disrupted")
    assert describe("otd_disrupted") != describe("otd_normal")
    assert describe("fill_rate_disrupted") != describe("fill_rate_normal")
    assert describe("recovery_h:double11_main/replay") == (
        "Hours from double11_main/replay's start until backlog is back to its pre-pulse level "
        "(censored at the next pulse or the horizon)"
    )
    assert describe("recovery_h:") == ""


def test_every_kpi_compute_makes_is_in_the_registry() -> None:
    from twin.config.loader import load_scenario
    from twin.model.world import simulate

    record = simulate(load_scenario("scenarios/tiny.yaml"), 0)
    for name in kpi.compute(record):
        assert kpi.is_known(name), name
        assert describe(name), name


@pytest.mark.parametrize(
    ("name", "diff", "verdict"),
    [
        ("fill_rate", 0.01, "better"),
        ("fill_rate", -0.01, "worse"),
        ("cost_total", 10.0, "worse"),
        ("recovery_h:live", -1.0, "better"),
        ("utilisation_factory", 0.2, "same"),
        ("profit", math.nan, "same"),
    ],
)
def test_direction_judges_a_change(name: str, diff: float, verdict: str) -> None:
    assert kpi.info(name).verdict(diff) == verdict


def test_units_and_money_formats() -> None:
    assert kpi.format_value("cost_total", 1234.5, currency="¥") == "¥1,234"
    assert kpi.format_value("profit", -25_000.0, currency="¥") == "-¥25,000"
    assert kpi.format_value("lost_sales", 0.0) == "0"
    assert kpi.format_value("cost_warehouse_fixed", 0.0) == "0"
    assert kpi.format_spread("fill_rate", 0.0981) == "± 9.8 pp"
    assert kpi.format_difference("otd", -0.012) == "−1.2 pp"
    assert kpi.format_difference("otd", -0.0001) == "±0.0 pp"  # never "−0.0"
    assert kpi.format_difference("cost_total", 12_000.4, currency="¥") == "+¥12,000"
    assert kpi.format_spread("cost_total", 180_040.0, currency="¥") == "± ¥180,040"
    assert kpi.format_ci("fill_rate", 0.74, 0.912) == "[74.0%, 91.2%]"


def test_unknown_kpi_suggests_the_nearest() -> None:
    assert kpi.unknown_kpi("fill_rat") == "is not a KPI; did you mean 'fill_rate'?"
    assert kpi.unknown_kpi("recovery_h:double11_main") is None
    assert kpi.unknown_kpi("recovery_censored:x") is None
