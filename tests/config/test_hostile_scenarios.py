"""Hostile scenario files (issue 13): every one is a `ConfigError` naming the file and the field.

Scenario files arrive in pull requests and are untrusted. Each case here once gave a traceback,
hung or ate memory; now `twin validate` must exit 2 with one clear message, no traceback, in
bounded time. The costly cases (deep nesting, billion laughs, huge and special files) run the
real command under a timeout; the rest call `load_scenario`. A hypothesis property test mutates a
valid scenario with hostile values: loading either succeeds or raises `ConfigError`.
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.config import load_scenario, read_yaml, scenario_from_data
from twin.config.limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, MAX_VARIANTS
from twin.errors import ConfigError
from twin.experiments.overrides import apply_overrides, load_designs, parse_value

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"
TINY_TEXT = TINY.read_text(encoding="utf-8")
CLI_TIMEOUT = 60.0
"""A hung case fails here rather than stalling the suite; a clean one takes about a second (more
on a loaded machine, mostly starting Python)."""
FAST = 3.0
"""Seconds reading a bomb (deep nesting, billion laughs, huge files) may take in-process."""
MEMORY_CAP = 1536 * 2**20
"""Address space of each `twin validate` run (bytes); a clean one needs well under 1 GB, the
billion-laughs file used to grow past 3 GB."""


def _cap_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def tiny() -> dict[str, Any]:
    """A fresh, mutable copy of scenarios/tiny.yaml as plain data."""
    return copy.deepcopy(yaml.safe_load(TINY_TEXT))


def write_text(tmp_path: Path, text: str, name: str = "hostile.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """tiny.yaml with one piece of text replaced (so the rest of the file stays as written)."""
    assert old in TINY_TEXT, old
    return write_text(tmp_path, TINY_TEXT.replace(old, new, 1))


def validate_cli(path: Path | str) -> str:
    """Run `python -m twin validate path` under a time and memory cap: exit 2, one message naming
    the file, no traceback; the message."""
    proc = subprocess.run(
        [sys.executable, "-m", "twin", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=CLI_TIMEOUT,
        preexec_fn=_cap_memory if sys.platform == "linux" else None,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.startswith("error: "), proc.stderr[:500]
    assert len(proc.stderr) < 2000, "the message must be short, whatever the input"
    assert str(path) in proc.stderr, "the message names the file"
    return proc.stderr


def seconds_to_refuse(path: Path | str, expected: str) -> float:
    """In-process: `read_yaml` refuses `path` with `expected` in its message; the seconds taken."""
    start = time.monotonic()
    with pytest.raises(ConfigError, match=expected):
        read_yaml(path)
    return time.monotonic() - start


def problems_of(path: Path) -> str:
    """`load_scenario(path)` must raise `ConfigError` naming the file; its message."""
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    text = str(info.value)
    assert str(path) in text, text
    assert len(text) < 2000, text[:500]
    return text


# --- files that are bombs: through the real command, in bounded time ------------------------


def test_deep_nesting_is_refused_quickly(tmp_path: Path) -> None:
    path = write_text(tmp_path, "name: " + "[" * 900 + "]" * 900 + "\n")
    message = validate_cli(path)
    assert f"is nested more than {MAX_DEPTH} levels deep" in message
    assert "name[0][0][0]" in message  # the field path, shortened
    assert seconds_to_refuse(path, "nested more than") < FAST


def test_deep_block_mapping_is_refused(tmp_path: Path) -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(900)) + "  " * 900 + "x: 1\n"
    message = problems_of(write_text(tmp_path, text))
    assert f"is nested more than {MAX_DEPTH} levels deep" in message
    assert "k0.k1.k2.k3..." in message


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    lines.append("name: *a9")
    path = write_text(tmp_path, "\n".join(lines) + "\n")
    assert path.stat().st_size < 1024
    message = validate_cli(path)
    assert f"makes the file expand to more than {MAX_NODES:,} values" in message
    assert seconds_to_refuse(path, "expand to more than") < FAST


def test_alias_bomb_in_a_variant_is_refused(tmp_path: Path) -> None:
    bomb = ["x0: &x0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    bomb += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 8)]
    text = "\n".join(bomb) + "\n" + TINY_TEXT + "variants:\n  v: {seed: *x7}\n"
    path = write_text(tmp_path, text)
    with pytest.raises(ConfigError, match="expand to more than"):
        load_designs(path)


def test_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    message = problems_of(write_text(tmp_path, TINY_TEXT + "extra: &loop [1, *loop]\n"))
    assert "extra[1] uses the alias *loop inside its own anchor" in message


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:  # 50 MB, sparse: the size alone must refuse it
        file.truncate(50 * 1024 * 1024)
    message = validate_cli(path)
    assert f"at most {MAX_FILE_BYTES / 2**20:g} MB" in message
    assert seconds_to_refuse(path, "MB") < FAST


def test_long_string_is_refused(tmp_path: Path) -> None:
    path = edited(tmp_path, "name: tiny", "name: " + "x" * (MAX_FILE_BYTES - 10_000))
    message = validate_cli(path)
    assert "name (='xxxx" in message and "characters long; at most" in message
    assert seconds_to_refuse(path, "characters long") < FAST


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: "/dev/zero", "is not a regular file"),
        (lambda tmp: _fifo(tmp), "is not a regular file"),
        (lambda tmp: tmp, "is a folder"),
        (lambda tmp: tmp / "nowhere.yaml", "file not found"),
        (lambda tmp: _garbage(tmp), "is not UTF-8 text"),
    ],
    ids=["dev-zero", "fifo", "directory", "missing", "binary-garbage"],
)
def test_special_files(tmp_path: Path, make: Any, expected: str) -> None:
    path = make(tmp_path)
    assert expected in validate_cli(path)
    assert seconds_to_refuse(path, expected) < FAST


def _fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(bytes(range(256)) * 16)
    return path


def test_valid_utf8_with_controls_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "controls.yaml"
    path.write_bytes(b"name: tiny\x00\x01\x02\n")
    assert "not valid YAML" in problems_of(path)


# --- duplicate keys, odd keys and ids ----------------------------------------------------------


def test_duplicate_key_names_its_path(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        "    pick_pack: {workers: 3, rate: 25}\n    inbound_handling: 30min\n  fwd_south:",
        "    pick_pack: {workers: 3, rate: 25, workers: 9}\n"
        "    inbound_handling: 30min\n  fwd_south:",
    )
    message = problems_of(path)
    assert "sites.fwd_north.pick_pack.workers is given twice in one mapping" in message


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    message = problems_of(write_text(tmp_path, TINY_TEXT + "horizon: 9d\n"))
    assert ": horizon is given twice in one mapping (first at line 5)" in message


def test_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    """`<<: *base` then an explicit key overrides the merged one: that is YAML, not a duplicate."""
    path = edited(
        tmp_path,
        "  fwd_south:\n    kind: warehouse\n    role: forward\n    location: [10, -40]\n"
        "    initial_stock: 300\n",
        "  fwd_south:\n    <<: *fwd\n    location: [10, -40]\n    initial_stock: 300\n",
    )
    text = path.read_text(encoding="utf-8").replace("  fwd_north:\n", "  fwd_north: &fwd\n")
    path.write_text(text, encoding="utf-8")
    assert load_scenario(path).sites["fwd_south"].location == (10.0, -40.0)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ('"\\ud83d"', "not valid text"),  # a lone surrogate: crashed in twin.rng
        ('"bad\\x07id"', "control character"),
        ("x" * 300, "characters long; at most 100"),
    ],
    ids=["lone-surrogate", "control-char", "long"],
)
def test_odd_sku_id(tmp_path: Path, key: str, expected: str) -> None:
    message = problems_of(edited(tmp_path, "  serum:     {", f"  {key}:     {{"))
    if "invalid Unicode character escape" in message:  # libyaml refuses it while scanning
        assert ".yaml:9:" in message
        return
    assert ": skus" in message and expected in message


def test_odd_ids_through_the_python_api() -> None:
    """Data that did not come through the YAML reader gets the same checks from the schema."""
    for bad, expected in [("\ud83d", "not valid text"), ("a\nb", "control character")]:
        data = tiny()
        data["skus"][bad] = data["skus"].pop("serum")
        data["demand"]["baseline"]["sku_mix"] = {"lipstick": 1}
        with pytest.raises(ConfigError, match=expected) as info:
            scenario_from_data(data, "api.yaml")
        assert "api.yaml: skus[" in str(info.value)
        data = tiny()
        data["lanes"][0]["carrier"] = bad
        with pytest.raises(ConfigError, match=r"api.yaml: lanes\[0\]\.carrier"):
            scenario_from_data(data, "api.yaml")


# --- policies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [".x", "...", "a..b", ":", "x.", "1abc.x", "os.path:"])
def test_policy_kind_that_is_no_dotted_path(tmp_path: Path, kind: str) -> None:
    message = problems_of(edited(tmp_path, "kind: base_stock", f"kind: {kind!r}"))
    assert "policies.forward_replenishment.kind" in message


def test_unknown_sku_in_per_sku_level(tmp_path: Path) -> None:
    path = edited(tmp_path, "target: 250", "target: {default: 3, no_such_sku: 5}")
    message = problems_of(path)
    assert "policies.forward_replenishment.target.no_such_sku names no SKU" in message


def test_unknown_sku_in_priority(tmp_path: Path) -> None:
    path = edited(tmp_path, "target: 250", "target: 250, priority: {lipstik: 2}")
    assert "policies.forward_replenishment.priority.lipstik names no SKU" in problems_of(path)


def test_known_skus_and_default_in_levels_load(tmp_path: Path) -> None:
    path = edited(tmp_path, "target: 250", "target: {default: 3, serum: 5, lipstick: 9}")
    assert load_scenario(path).policies["forward_replenishment"].params["target"]["serum"] == 5


@pytest.mark.parametrize("value", ["1e30", "1.0e+30", ".inf", "-5", "10000000000000"])
def test_absurd_policy_level(tmp_path: Path, value: str) -> None:
    message = problems_of(edited(tmp_path, "target: 250", f"target: {value}"))
    assert "policies.forward_replenishment.target" in message


# --- numbers: non-finite and absurd -------------------------------------------------------------

FIELDS = {
    "orders_per_hour": (
        "orders_per_hour: 20",
        "orders_per_hour: {}",
        "demand.baseline.orders_per_hour",
    ),
    "weight": ("weight: 2,", "weight: {},", "sites.north.weight"),
    "order_size_mean": (
        "order_size_mean: 1.2",
        "order_size_mean: {}",
        "skus.lipstick.order_size_mean",
    ),
    "p90": ("p90: 60", "p90: {}", "demand.livestreams.launch.uplift.p90"),
    "horizon": ("horizon: 4d", "horizon: {}", "horizon"),
    "capacity": ("capacity: 60 ", "capacity: {} ", "sites.factory.capacity"),
    "workers": ("workers: 4,", "workers: {},", "sites.central.pick_pack.workers"),
    "review": ("review: 6h", "review: {}", "policies.forward_replenishment.review"),
    "sla": ("sla: 48h", "sla: {}", "sites.north.sla"),
    "transit": ("transit: 4h", "transit: {}", "lanes[0].transit"),
    "unit_cost": ("unit_cost: 8", "unit_cost: {}", "skus.lipstick.unit_cost"),
    "location": ("location: [15, 50]", "location: [15, {}]", "sites.north.location[1]"),
    "elastic": ("capacity: 40", "capacity: {}", "sites.factory.elastic.capacity"),
    "holding": (
        "holding_rate_per_year: 0.25",
        "holding_rate_per_year: {}",
        "costs.holding_rate_per_year",
    ),
}
HOSTILE_NUMBERS = [".inf", "-.inf", ".nan", "inf", "nan", "1e308", "1e30", "1.0e+30", "1e400"]


@pytest.mark.parametrize("value", HOSTILE_NUMBERS)
@pytest.mark.parametrize("field", sorted(FIELDS))
def test_non_finite_or_absurd_number(tmp_path: Path, field: str, value: str) -> None:
    old, new, where = FIELDS[field]
    message = problems_of(edited(tmp_path, old, new.format(value)))
    assert f": {where} " in message, message


@pytest.mark.parametrize("text", ["'inf'", "'1e30h'", "1e308d", "'nan h'", "9999999999h"])
def test_absurd_durations(tmp_path: Path, text: str) -> None:
    path = edited(tmp_path, "inbound_handling: 1h", f"inbound_handling: {text}")
    assert ": sites.central.inbound_handling " in problems_of(path)


def test_routing_time_limit_and_fleet_are_bounded() -> None:
    data = yaml.safe_load((REPO / "scenarios" / "routed_last_mile.yaml").read_text("utf-8"))
    lane = next(i for i, lane in enumerate(data["lanes"]) if "routing" in lane)
    for key, value in [("time_limit", math.inf), ("time_limit", 1e30)]:
        bad = copy.deepcopy(data)
        bad["lanes"][lane]["routing"][key] = value
        with pytest.raises(ConfigError, match=rf"lanes\[{lane}\]\.routing\.{key} "):
            scenario_from_data(bad, "routed.yaml")
    bad = copy.deepcopy(data)
    bad["lanes"][lane]["routing"]["fleet"]["vehicles"] = 10**6
    with pytest.raises(ConfigError, match=r"routing\.fleet\.vehicles \(=1000000\) must be <="):
        scenario_from_data(bad, "routed.yaml")


def test_presale_promise_must_be_finite() -> None:
    data = tiny()
    data["demand"]["livestreams"]["launch"]["presale"] = {
        "share": 0.2,
        "opens": "2d",
        "promise": math.inf,
    }
    with pytest.raises(ConfigError, match=r"launch\.presale\.promise"):
        scenario_from_data(data, "api.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: 123456789012345678901234567890123456789", "digits; at most"),
        ("seed: 0x" + "f" * 5000, "digits; at most"),
        ("seed: 18446744073709551615", "must be within"),
        ("start: 2026-13-45", "is not a valid date"),
    ],
    ids=["long-int", "5000-digit-hex", "uint64", "bad-date"],
)
def test_numbers_and_dates_the_parser_refuses(tmp_path: Path, text: str, expected: str) -> None:
    message = problems_of(edited(tmp_path, "seed: 7", text))
    assert expected in message


def test_run_refuses_what_validate_refuses(tmp_path: Path) -> None:
    """`run` reads files the same way: a bad value stops it before any replication."""
    path = edited(tmp_path, "orders_per_hour: 20", "orders_per_hour: 1e30")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "twin",
            "run",
            str(path),
            "--reps",
            "1",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=CLI_TIMEOUT,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert f"{path}: demand.baseline.orders_per_hour (='1e30') must be <=" in proc.stderr


# --- --set values and variants ----------------------------------------------------------------


def test_set_values_go_through_the_same_limits() -> None:
    bomb = "&a [1,1,1,1,1,1,1,1,1,1]"  # an alias bomb inside one --set value
    text = "[" + ", ".join(["[" + ", ".join(["*a"] * 10) + "]"] * 10) + "]"
    with pytest.raises(ConfigError, match="expand to more than"):
        parse_value(f"[{bomb}, " + ", ".join([text] * 60) + "]")
    with pytest.raises(ConfigError, match="nested more than"):
        parse_value("[" * 200 + "]" * 200)
    with pytest.raises(ConfigError, match="finite"):
        parse_value(".inf")
    assert parse_value("inf") == "inf"  # text; the field then asks for a finite number
    with pytest.raises(ConfigError, match=r"--set: demand\.baseline\.orders_per_hour"):
        scenario_from_data(
            apply_overrides(tiny(), {"demand.baseline.orders_per_hour": parse_value("inf")}),
            "--set",
        )


def test_copying_shared_data_is_bounded() -> None:
    """`apply_overrides` copies shared structures apart; a Python-made bomb cannot blow it up."""
    shared: Any = [1] * 10
    for _ in range(9):
        shared = [shared] * 10
    data = tiny()
    data["extra"] = shared
    with pytest.raises(ConfigError, match="expands to more than"):
        apply_overrides(data, {"seed": 1})
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    data = tiny()
    data["extra"] = cyclic
    with pytest.raises(ConfigError):
        apply_overrides(data, {"seed": 1})


def test_variant_values_are_checked(tmp_path: Path) -> None:
    text = TINY_TEXT + "variants:\n  hot: {demand.baseline.orders_per_hour: .nan}\n"
    with pytest.raises(ConfigError, match=r"demand\.baseline\.orders_per_hour"):
        load_designs(write_text(tmp_path, text))
    text = TINY_TEXT + "variants:\n  hot: {demand.baseline.orders_per_hour: 1e30}\n"
    with pytest.raises(ConfigError, match=r"variants\.hot: demand\.baseline\.orders_per_hour"):
        load_designs(write_text(tmp_path, text))


def test_too_many_variants(tmp_path: Path) -> None:
    variants = "".join(f"  v{i}: {{seed: {i}}}\n" for i in range(MAX_VARIANTS + 1))
    with pytest.raises(ConfigError, match=f"at most {MAX_VARIANTS} are allowed"):
        load_designs(write_text(tmp_path, TINY_TEXT + "variants:\n" + variants))


# --- the bundled scenarios still load ---------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_scenarios_load(path: Path) -> None:
    assert load_designs(path)


# --- property: any hostile mutation of a valid scenario is loaded or refused cleanly -----------


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _leaves(value, (*path, key))]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in _leaves(value, (*path, i))]
    return [path]


LEAVES = _leaves(tiny())
ODD_TEXT = [
    "\ud83d",
    "\udfff\ud83d",
    "x" * 20_000,
    "\x00",
    "\x1b[31mred",
    "",
    " ",
    ".x",
    "...",
    "os.system",
    "inf",
    "-inf",
    "nan",
    "1e308",
    "1e30h",
    "-5h",
    "99999999999999999999d",
    "2026-13-45",
    "default",
]
HOSTILE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e30, 1e15, 1e6 + 1, -1.0, 0.0, 5e-324, 2.0**63]),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 2**63, 2**64, 10**4400]),
    st.sampled_from(ODD_TEXT),
    st.text(max_size=30),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(
        st.sampled_from(["default", "serum", "x", "\ud83d"]), st.integers(), max_size=3
    ),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=3), max_leaves=8),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    leaf=st.sampled_from(LEAVES),
    value=HOSTILE,
    rename=st.one_of(st.none(), st.sampled_from(ODD_TEXT)),
)
def test_hostile_mutation_loads_or_is_a_config_error(
    leaf: tuple[Any, ...], value: Any, rename: str | None
) -> None:
    data = tiny()
    parent = data
    for part in leaf[:-1]:
        parent = parent[part]
    if rename is not None and isinstance(parent, dict):  # a hostile key instead of a value
        parent[rename] = parent.pop(leaf[-1])
    else:
        parent[leaf[-1]] = value
    try:
        scenario_from_data(data, "mutant.yaml")
    except ConfigError as exc:
        text = str(exc)
        assert text.startswith("mutant.yaml"), text[:300]
        assert len(text) < 5000
    try:
        dumped = yaml.safe_dump(data, allow_unicode=False)
    except (yaml.YAMLError, ValueError, OverflowError):
        return  # not every Python value has a YAML text
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mutant.yaml"
        path.write_text(dumped, encoding="utf-8")
        try:
            load_scenario(path)
        except ConfigError as exc:
            assert str(path) in str(exc)


def test_a_huge_whole_number_from_python_is_refused_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    """Built in Python (no file reader), a 4400-digit kind is refused before pydantic, which would
    print Python's refusal to render it as an ignored exception."""
    data = tiny()
    data["sites"]["central"]["kind"] = 10**4400
    with pytest.raises(ConfigError, match=r"sites\.central\.kind is a whole number of more than 30"):
        scenario_from_data(data, "mutant.yaml")
    assert "Exception ignored" not in capfd.readouterr().err


def test_shared_python_data_is_walked_within_the_value_budget() -> None:
    """A list shared at every level (2**30 paths from 31 lists) is refused in well under a second."""
    shared: list = [1]
    for _ in range(30):
        shared = [shared, shared]
    started = time.monotonic()
    with pytest.raises(ConfigError, match="expands to more than 50,000 values"):
        scenario_from_data({"name": "x", "skus": shared}, "api")
    assert time.monotonic() - started < 5.0
