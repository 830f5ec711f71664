"""Overrides: `--set`, `variants:` and grid points name real fields or fail saying which."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from twin.config.loader import load_scenario, read_yaml
from twin.errors import ConfigError
from twin.experiments.overrides import (
    apply_overrides,
    load_designs,
    override_scenario,
    parse_assignment,
    parse_path,
    parse_value,
)

TINY = Path("scenarios/tiny.yaml")


@pytest.fixture(scope="module")
def tiny_data() -> dict:
    return read_yaml(TINY)


def test_paths_and_values_parse_like_yaml() -> None:
    assert parse_path("lanes[3].capacity") == ("lanes", 3, "capacity")
    assert parse_path("lanes.3.capacity") == ("lanes", 3, "capacity")
    assert parse_value("0.5") == 0.5 and parse_value("7") == 7 and parse_value("1e3") == 1000.0
    assert parse_value("12h") == "12h" and parse_value("true") is True
    assert parse_value("[9h, 21h]") == ["9h", "21h"]
    assert parse_assignment("seed = 9") == ("seed", 9)
    for bad in ("seed", "=3"):
        with pytest.raises(ConfigError, match="PATH=VALUE"):
            parse_assignment(bad)
    with pytest.raises(ConfigError, match="not a field path"):
        parse_path("lanes..x")


def test_an_override_changes_that_field_and_nothing_else(tiny_data: dict) -> None:
    base = load_scenario(TINY)
    changed = override_scenario(tiny_data, {"policies.forward_replenishment.target": 111})
    assert changed.policies["forward_replenishment"].params["target"] == 111
    assert changed.model_copy(update={"policies": base.policies}) == base
    assert tiny_data["policies"]["forward_replenishment"]["target"] == 250  # input untouched


def test_fields_left_at_their_default_can_be_set(tiny_data: dict) -> None:
    lane = next(i for i, lane in enumerate(tiny_data["lanes"]) if "cost_per_unit" not in lane)
    done = override_scenario(tiny_data, {f"lanes[{lane}].cost_per_unit": 0.5})
    assert done.lanes[lane].cost_per_unit == 0.5
    # a policy parameter the file leaves at its default is a field too
    assert "priority" not in tiny_data["policies"]["forward_replenishment"]
    done = apply_overrides(tiny_data, {"policies.forward_replenishment.priority": ["x"]})
    assert done["policies"]["forward_replenishment"]["priority"] == ["x"]


def test_unknown_paths_are_named_with_a_suggestion(tiny_data: dict) -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(tiny_data, {"policies.forward_replenishment.targte": 3, "sede": 1})
    lines = err.value.problems
    assert lines[0] == (
        "--set: policies.forward_replenishment.targte names no field of the scenario "
        "(did you mean 'target'?)"
    )
    assert lines[1].startswith("--set: sede names no field") and "'seed'" in lines[1]
    with pytest.raises(ConfigError, match=r"lanes\[99\].* has no item 99 .*a list of"):
        apply_overrides(tiny_data, {"lanes.99.capacity": 1})
    with pytest.raises(ConfigError, match="which is a value"):
        apply_overrides(tiny_data, {"seed.x": 1})


def test_a_value_of_the_wrong_type_names_the_field(tiny_data: dict) -> None:
    with pytest.raises(ConfigError, match=r"^--set: horizon \(='soon'\)"):
        override_scenario(tiny_data, {"horizon": "soon"})
    with pytest.raises(ConfigError, match=r"policies\.central_replenishment\.s \(='many'\)"):
        override_scenario(tiny_data, {"policies.central_replenishment.s": "many"})


def test_variants_are_designs_named_after_the_base(tmp_path: Path, tiny_data: dict) -> None:
    data = {
        **tiny_data,
        "variants": {
            "lean": {"policies.forward_replenishment.target": 125},
            "slow_review": {"policies.central_replenishment.review": "1d"},
        },
    }
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(data))
    designs = load_designs(path, {"seed": 11})
    base = designs[tiny_data["name"]]
    assert list(designs) == [tiny_data["name"], "lean", "slow_review"]
    assert {d.seed for d in designs.values()} == {11}  # --set reaches every variant
    assert designs["lean"].policies["forward_replenishment"].params["target"] == 125
    assert designs["slow_review"].policies["central_replenishment"].review == 24.0
    assert designs["lean"].name == f"{base.name}/lean"
    assert load_scenario(path) == base.model_copy(update={"seed": tiny_data.get("seed", 0)})


def test_a_bad_variant_names_the_file_and_the_variant(tmp_path: Path, tiny_data: dict) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump({**tiny_data, "variants": {"oops": {"horizn": "2d"}}}))
    with pytest.raises(ConfigError, match=rf"^{path}: variants.oops: horizn names no field"):
        load_designs(path)
    path.write_text(yaml.safe_dump({**tiny_data, "variants": ["a"]}))
    with pytest.raises(ConfigError, match="variants must map each variant name"):
        load_designs(path)


def test_setting_a_site_leaves_sites_merged_from_it_alone() -> None:
    data = read_yaml("scenarios/flagship_live_sale.yaml")  # fwd_bj/cd/gz merge fwd_sh's anchor
    done = override_scenario(
        {k: v for k, v in data.items() if k != "variants"}, {"sites.fwd_sh.pick_pack.workers": 20}
    )
    workers = {sid: done.sites[sid].pick_pack.workers for sid in ("fwd_sh", "fwd_bj", "fwd_gz")}
    assert workers == {"fwd_sh": 20, "fwd_bj": 12, "fwd_gz": 12}
