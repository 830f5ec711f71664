"""Bad scenario files: one test per class of mistake, each pinning the exact problem line.

Every case is checked twice: in-process (`load_scenario` raises `ConfigError` whose `problems` are
the lines) and through the real command (`python -m twin validate FILE`: exit code 2, the lines on
stderr, no traceback).
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from twin.config import load_scenario, scenario_from_data
from twin.errors import ConfigError
from twin.policies import REGISTRY
from twin.units import parse_duration

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"


def tiny() -> dict[str, Any]:
    """A fresh, mutable copy of scenarios/tiny.yaml as plain data."""
    return copy.deepcopy(yaml.safe_load(TINY.read_text(encoding="utf-8")))


def write(tmp_path: Path, data: Any, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def cli_problems(path: Path) -> list[str]:
    """Run `twin validate path`; assert exit code 2 and no traceback; return the problem lines."""
    proc = subprocess.run(
        [sys.executable, "-m", "twin", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines, "no message on stderr"
    if lines[0] == "error:":
        return lines[1:]
    assert lines[0].startswith("error: "), lines
    return [lines[0].removeprefix("error: "), *lines[1:]]


def api_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    return info.value.problems


def assert_problems(path: Path, expected: list[str]) -> None:
    """Both the API and the CLI report exactly `expected` (order free)."""
    assert sorted(api_problems(path)) == sorted(expected)
    assert sorted(cli_problems(path)) == sorted(expected)


def duration_message(text: str) -> str:
    """What the duration parser itself says about `text` (the config layer must pass it through)."""
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    return str(info.value)


# --- the tiny scenario itself is fine -----------------------------------------------------------


def test_tiny_is_valid_and_round_trips_through_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, tiny(), "ok.yaml")
    scenario = load_scenario(path)
    assert scenario.horizon == 96.0
    assert scenario.sites["fwd_north"].inbound_handling == 0.5


# --- one class of bad input per test ------------------------------------------------------------


def test_missing_field(tmp_path: Path) -> None:
    data = tiny()
    del data["sites"]["central"]["pick_pack"]
    path = write(tmp_path, data)
    assert_problems(path, [f"{path}: sites.central.pick_pack is required"])


def test_missing_top_level_field(tmp_path: Path) -> None:
    data = tiny()
    del data["horizon"]
    path = write(tmp_path, data)
    assert_problems(path, [f"{path}: horizon is required"])


def test_wrong_type_string_for_a_number(tmp_path: Path) -> None:
    data = tiny()
    data["skus"]["serum"]["price"] = "cheap"
    path = write(tmp_path, data)
    assert_problems(path, [f"{path}: skus.serum.price (='cheap') must be a number"])


def test_wrong_type_string_for_a_whole_number(tmp_path: Path) -> None:
    data = tiny()
    data["sites"]["central"]["pick_pack"]["workers"] = "four"
    path = write(tmp_path, data)
    assert_problems(
        path, [f"{path}: sites.central.pick_pack.workers (='four') must be a whole number"]
    )


def test_negative_capacity(tmp_path: Path) -> None:
    data = tiny()
    data["sites"]["fwd_north"]["pick_pack"]["workers"] = -5
    path = write(tmp_path, data)
    assert_problems(path, [f"{path}: sites.fwd_north.pick_pack.workers (=-5) must be > 0"])


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    data = tiny()
    data["sites"]["fwd_north"]["inbound_handlng"] = data["sites"]["fwd_north"].pop(
        "inbound_handling"
    )
    path = write(tmp_path, data)
    assert_problems(
        path,
        [
            f"{path}: sites.fwd_north.inbound_handlng (='30min') is not a known key; "
            "did you mean 'inbound_handling'?"
        ],
    )


def test_unknown_key_of_a_required_field_reports_both(tmp_path: Path) -> None:
    data = tiny()
    pick_pack = data["sites"]["fwd_north"]["pick_pack"]
    pick_pack["wrokers"] = pick_pack.pop("workers")
    path = write(tmp_path, data)
    assert_problems(
        path,
        [
            f"{path}: sites.fwd_north.pick_pack.workers is required",
            f"{path}: sites.fwd_north.pick_pack.wrokers (=3) is not a known key; did you mean 'workers'?",
        ],
    )


def test_unknown_policy_kind_lists_known_kinds(tmp_path: Path) -> None:
    data = tiny()
    data["policies"]["elastic"]["kind"] = "elastc_on_backlog"
    path = write(tmp_path, data)
    known = ", ".join(REGISTRY.names)
    assert {"base_stock", "s_S", "elastic_on_backlog"} <= set(REGISTRY.names)
    assert_problems(
        path,
        [
            f"{path}: policies.elastic.kind (='elastc_on_backlog') unknown policy kind "
            f"'elastc_on_backlog'; known kinds: {known} (or a dotted path to your own class)"
        ],
    )


def test_unparsable_yaml_names_line_and_column(tmp_path: Path) -> None:
    lines = yaml.safe_dump(tiny(), sort_keys=False).splitlines()
    row = lines.index("horizon: 4d")
    lines[row] = "horizon: 4d: oops"  # a second ':' on the line, at column 12
    path = tmp_path / "broken.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # libyaml says "... in this context", the pure-Python parser "... here"
    problems = api_problems(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        f"{path}:{row + 1}:12: not valid YAML: mapping values are not allowed "
    )
    assert cli_problems(path) == problems


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    assert_problems(path, [f"{path}: file not found"])


def test_lane_to_an_unknown_site(tmp_path: Path) -> None:
    data = tiny()
    assert (data["lanes"][1]["from"], data["lanes"][1]["to"]) == ("central", "fwd_north")
    data["lanes"][1]["to"] = "fwd_nroth"
    path = write(tmp_path, data)
    assert_problems(
        path, [f"{path}: lanes[1].to (='fwd_nroth') is not a site; did you mean 'fwd_north'?"]
    )


def test_lane_from_an_unknown_site_without_close_match(tmp_path: Path) -> None:
    data = tiny()
    data["lanes"].append({"from": "mars", "to": "west", "transit": "1h"})
    path = write(tmp_path, data)
    index = len(data["lanes"]) - 1
    assert_problems(path, [f"{path}: lanes[{index}].from (='mars') is not a site"])


def test_bad_duration(tmp_path: Path) -> None:
    data = tiny()
    data["sites"]["central"]["inbound_handling"] = "2x"
    path = write(tmp_path, data)
    message = duration_message("2x")
    assert "'2x'" in message and "90min" in message
    assert_problems(path, [f"{path}: sites.central.inbound_handling (='2x') {message}"])


def test_bad_duration_inside_a_distribution_shorthand(tmp_path: Path) -> None:
    data = tiny()
    data["lanes"][0]["transit"] = "2x"
    path = write(tmp_path, data)
    assert_problems(path, [f"{path}: lanes[0].transit (='2x') {duration_message('2x')}"])


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = tiny()
    data["sites"]["fwd_north"]["pick_pack"]["workers"] = -5
    data["skus"]["serum"]["price"] = "cheap"
    path = write(tmp_path, data)
    assert_problems(
        path,
        [
            f"{path}: sites.fwd_north.pick_pack.workers (=-5) must be > 0",
            f"{path}: skus.serum.price (='cheap') must be a number",
        ],
    )


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("90min", 1.5),
        ("36h", 36.0),
        ("2d", 48.0),
        ("30min", 0.5),
        ("1w", 168.0),
        ("3600s", 1.0),
        (6, 6.0),
        (2.5, 2.5),
        ("4", 4.0),
        ("0h", 0.0),
    ],
)
def test_parse_duration(text: object, hours: float) -> None:
    assert parse_duration(text) == pytest.approx(hours, rel=1e-12)


@pytest.mark.parametrize(
    "bad",
    ["2x", "", "h", "-1h", "abc", "2 parsecs", "1e400h", True, None, [1], -3, math.inf, math.nan],
)
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_durations_in_a_scenario_are_hours() -> None:
    data = tiny()
    data["horizon"] = "3d"
    data["sites"]["central"]["inbound_handling"] = "90min"
    data["sites"]["north"]["sla"] = "36h"
    scenario = scenario_from_data(data, "x.yaml")
    assert scenario.horizon == 72.0
    assert scenario.sites["central"].inbound_handling == 1.5
    assert scenario.sites["north"].sla == 36.0


# --- messages that once read badly -------------------------------------------------------------


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        scenario_from_data(data, "F")
    return info.value.problems


def test_empty_list_message() -> None:
    data = tiny()
    data["lanes"][0]["transit"] = {"dist": "empirical", "values": []}
    assert problems_of(data) == ["F: lanes[0].transit.values (=[]) must have at least 1 item"]


def test_empty_mapping_message() -> None:
    data = tiny()
    data["skus"] = {}
    (line, *_) = problems_of(data)
    assert line == "F: skus (={}) must have at least 1 item"


def test_policy_model_check_names_the_policy() -> None:
    data = tiny()
    data["policies"]["central_replenishment"]["s"] = 2000
    assert problems_of(data) == ["F: policies.central_replenishment s (=2000) must be < S (=1400)"]


def test_short_location_is_not_reported_missing() -> None:
    data = tiny()
    data["sites"]["west"]["location"] = [1]
    assert problems_of(data) == ["F: sites.west.location (=[1]) is missing item [1]"]


def test_a_policy_that_cannot_be_built_on_the_network_is_a_config_error(tmp_path: Path) -> None:
    # a policy checks its parameters against the network when built: that happens at load,
    # so `twin validate` reports it instead of `twin run` failing with a traceback
    data = tiny()
    data["policies"]["pre"] = {
        "kind": "preposition_by_audience",
        "review": "6h",
        "target": 100,
        "lead": "12h",
        "events": [{"start": "2d", "duration": "3h", "skus": {"lipstik": 500}}],
    }
    with pytest.raises(ConfigError) as info:
        scenario_from_data(data, "F")
    (line,) = info.value.problems
    assert line.startswith("F: policies.pre cannot be built: ")
    assert "'lipstik'" in line
