"""`twin plan routes`: one wave routed with the scenario's fleet; bad input exits 2, clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "routed_last_mile.yaml"
WAVE = "order_id,station,units\no1,n_mall,5\no2,n_campus,12\no3,n_park,3\no4,n_tower,20\no5,n_market,4\no6,n_mall,2\n"


def plan(tmp_path: Path, orders: str, *extra: str, warehouse: str = "fwd_north"):  # type: ignore[no-untyped-def]
    path = tmp_path / "wave.csv"
    path.write_text(orders, encoding="utf-8")
    args = ["plan", "routes", "--scenario", str(SCENARIO), "--warehouse", warehouse]
    return CliRunner().invoke(app, [*args, "--orders", str(path), *extra]), path


def test_a_wave_is_routed_within_the_fleet(tmp_path: Path) -> None:
    result, _ = plan(tmp_path, WAVE, "--json", "--plot", str(tmp_path / "routes.png"))
    assert result.exit_code == 0, result.output
    [north] = json.loads(result.stdout)
    assert north["region"] == "north"
    assert len(north["routes"]) <= 3  # the fleet's vans
    assert all(r["load"] <= 30 for r in north["routes"])
    stations = sorted(s.split(":")[0] for r in north["routes"] for s in r["stops"])
    assert stations == [
        "n_campus",
        "n_mall",
        "n_market",
        "n_park",
        "n_tower",
    ]  # n_mall once: 7 units
    assert sum(r["load"] for r in north["routes"]) == 46
    assert north["cost"] == pytest.approx(1.2 * north["km"] + 25 * len(north["routes"]))
    assert (tmp_path / "routes.png").stat().st_size > 5000


def test_the_table_lists_every_van_and_the_total(tmp_path: Path) -> None:
    result, _ = plan(tmp_path, WAVE)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("total: ")
    assert "n_tower" in result.stdout


@pytest.mark.parametrize(
    ("orders", "warehouse", "message"),
    [
        (
            WAVE,
            "nowhere",
            "--warehouse 'nowhere' is not a warehouse (known: central, fwd_north, fwd_south)",
        ),
        (WAVE, "central", "warehouse 'central' has no routed lane"),
        (
            "order_id,station,units\no1,s_port,5\n",
            "fwd_north",
            "line 2, column station (='s_port') is not a station",
        ),
        (
            "order_id,station,units\no1,n_mall,-5\n",
            "fwd_north",
            "line 2, column units (='-5') must be a whole number > 0",
        ),
        ("order_id,station\no1,n_mall\n", "fwd_north", "missing column(s) units"),
        (
            "order_id,station,units\no1,n_mall,50\no2,n_park,60\n",
            "fwd_north",
            "region 'north' (default): total demand (=110) exceeds the fleet's capacity (=3 vehicles × 30 = 90)",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    tmp_path: Path, orders: str, warehouse: str, message: str
) -> None:
    result, _ = plan(tmp_path, orders, warehouse=warehouse)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
