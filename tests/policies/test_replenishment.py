"""Policies on hand-built `State`s with known answers, their import boundary, and user classes.

Network used throughout: factory `f` → central `c` → forward `n` and `s`; SKUs `a` and `b`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

import twin.policies
from twin.config import scenario_from_data
from twin.model.world import simulate
from twin.policies import REGISTRY
from twin.policies.production import ElasticOnBacklog
from twin.policies.replenishment import BaseStock, MinMax
from twin.state import Decision, ElasticActivation, NetworkInfo, ProductionOrder, State, Transfer

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "scenarios" / "tiny.yaml"

NET = NetworkInfo(
    skus=("a", "b"),
    warehouses=("c", "n", "s"),
    central=("c",),
    forward=("n", "s"),
    factories=("f",),
    source_of={"c": "f", "n": "c", "s": "c"},
)


def state(
    on_hand: dict[str, dict[str, int]] | None = None,
    inbound: dict[str, dict[str, int]] | None = None,
    backorders: dict[str, dict[str, int]] | None = None,
    **kwargs: Any,
) -> State:
    return State(
        time=10.0,
        on_hand=on_hand or {},
        inbound=inbound or {},
        backorders=backorders or {},
        **kwargs,
    )


def build(kind: str, **params: Any) -> Any:
    k = REGISTRY.resolve(kind)
    return k.build(k.params.model_validate(params), NET)


# --- the state ----------------------------------------------------------------------------------


def test_position_is_on_hand_plus_inbound_minus_backorders() -> None:
    st = state({"n": {"a": 30}}, {"n": {"a": 12}}, {"n": {"a": 50}})
    assert st.position("n", "a") == 30 + 12 - 50
    assert st.position("n", "b") == 0
    assert st.position("nowhere", "a") == 0


# --- base stock ---------------------------------------------------------------------------------


def test_registry_builds_the_documented_classes() -> None:
    assert isinstance(build("base_stock", sites="forward", target=5), BaseStock)
    assert isinstance(build("s_S", sites="forward", s=1, S=5), MinMax)
    assert isinstance(build("elastic_on_backlog", on_above=5), ElasticOnBacklog)


def test_base_stock_orders_the_gap_to_target_by_transfer() -> None:
    policy = build("base_stock", sites="forward", target=100)
    st = state(
        on_hand={"n": {"a": 30, "b": 100}, "s": {"a": 120, "b": 99}},
        inbound={"n": {"a": 20}},
        backorders={"n": {"a": 5}},
    )
    decisions = policy.decide(st)
    # n/a: position 30 + 20 - 5 = 45 -> 55; n/b at target; s/a above; s/b one short
    assert sorted(decisions, key=repr) == sorted(
        [
            Transfer(origin="c", destination="n", sku="a", quantity=55),
            Transfer(origin="c", destination="s", sku="b", quantity=1),
        ],
        key=repr,
    )


def test_base_stock_orders_nothing_at_or_above_target() -> None:
    policy = build("base_stock", sites="forward", target=50)
    st = state(
        on_hand={"n": {"a": 50, "b": 49}, "s": {"a": 40, "b": 0}},
        inbound={"n": {"b": 1}, "s": {"a": 10, "b": 80}},
    )
    assert policy.decide(st) == []


def test_base_stock_covers_backorders() -> None:
    policy = build("base_stock", sites=["n"], target=10)
    decisions = policy.decide(state(backorders={"n": {"a": 25}}, on_hand={"n": {"b": 10}}))
    assert decisions == [Transfer(origin="c", destination="n", sku="a", quantity=35)]


def test_base_stock_per_sku_targets_with_default() -> None:
    policy = build("base_stock", sites=["s"], target={"a": 7})
    assert policy.decide(state()) == [Transfer("c", "s", "a", 7)]  # b has no target: skipped
    policy = build("base_stock", sites=["s"], target={"a": 7, "default": 3})
    assert policy.decide(state()) == [Transfer("c", "s", "a", 7), Transfer("c", "s", "b", 3)]


def test_base_stock_at_central_orders_production() -> None:
    policy = build("base_stock", sites="central", target=1000)
    st = state(on_hand={"c": {"a": 400, "b": 1000}, "n": {"a": 0}}, inbound={"c": {"a": 150}})
    assert policy.decide(st) == [
        ProductionOrder(factory="f", sku="a", quantity=450, destination="c")
    ]


# --- (s, S) -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (-10, 110),
        (0, 100),
        (19, 81),
        (20, 80),
        (21, None),
        (99, None),
        (100, None),
        (150, None),
    ],
)
def test_min_max_orders_up_to_big_s_only_at_or_below_small_s(
    position: int, expected: int | None
) -> None:
    policy = build("s_S", sites=["n"], s=20, S=100)
    if position >= 0:
        st = state(on_hand={"n": {"a": position, "b": 500}})
    else:
        st = state(on_hand={"n": {"b": 500}}, backorders={"n": {"a": -position}})
    decisions = policy.decide(st)
    if expected is None:
        assert decisions == []
    else:
        assert decisions == [Transfer(origin="c", destination="n", sku="a", quantity=expected)]


def test_min_max_counts_inbound_in_the_position() -> None:
    policy = build("s_S", sites=["n"], s=20, S=100)
    # on hand 5 alone is below s, but 5 + 30 inbound is not
    assert policy.decide(state(on_hand={"n": {"a": 5, "b": 500}}, inbound={"n": {"a": 30}})) == []


def test_min_max_at_central_orders_production_forward_transfers() -> None:
    policy = build("s_S", sites="all", s={"a": 10, "b": 0}, S={"a": 60, "b": 5})
    st = state(on_hand={"c": {"a": 10, "b": 0}, "n": {"a": 11, "b": 1}, "s": {"a": 0, "b": 3}})
    assert sorted(policy.decide(st), key=repr) == sorted(
        [
            ProductionOrder(factory="f", sku="a", quantity=50, destination="c"),
            ProductionOrder(factory="f", sku="b", quantity=5, destination="c"),
            Transfer(origin="c", destination="s", sku="a", quantity=60),
        ],
        key=repr,
    )


def test_min_max_rejects_s_not_below_big_s() -> None:
    kind = REGISTRY.resolve("s_S")
    with pytest.raises(ValueError, match=r"s \(=100\) must be < S \(=100\)"):
        kind.params.model_validate({"s": 100, "S": 100})


def test_forward_replenishment_uses_each_warehouses_own_source() -> None:
    net = NetworkInfo(
        skus=("a",),
        warehouses=("c1", "n"),
        central=("c1",),
        forward=("n",),
        factories=("f9",),
        source_of={"c1": "f9", "n": "c1"},
    )
    kind = REGISTRY.resolve("base_stock")
    policy = kind.build(kind.params.model_validate({"sites": "all", "target": 4}), net)
    assert policy.decide(state()) == [
        ProductionOrder(factory="f9", sku="a", quantity=4, destination="c1"),
        Transfer(origin="c1", destination="n", sku="a", quantity=4),
    ]


# --- elastic capacity ---------------------------------------------------------------------------


def elastic_state(status: str, queued: int, live: tuple[str, ...] = ()) -> State:
    return state(
        production_queue={"f": {"a": queued - queued // 3, "b": queued // 3}},
        elastic={"f": status},
        live_events=live,
    )


ON, OFF = [ElasticActivation("f", True)], [ElasticActivation("f", False)]


@pytest.mark.parametrize(
    ("status", "queued", "live", "expected"),
    [
        ("off", 801, (), ON),  # above the threshold
        ("off", 800, (), []),  # at it: not above
        ("off", 0, ("launch",), ON),  # a livestream is on air
        ("on", 200, (), OFF),  # down to off_below
        ("on", 201, (), []),  # between the thresholds: keep it on (hysteresis)
        ("pending", 100, (), OFF),  # still activating, no longer needed
        ("on", 0, ("launch",), []),  # stays on while live
        ("off", 500, (), []),  # between the thresholds: stay off
        ("unavailable", 5000, ("launch",), []),  # not reserved now: nothing to switch
    ],
)
def test_elastic_on_backlog(
    status: str, queued: int, live: tuple[str, ...], expected: list[Decision]
) -> None:
    policy = build("elastic_on_backlog", on_above=800, off_below=200)
    assert policy.decide(elastic_state(status, queued, live)) == expected


def test_elastic_ignores_livestreams_when_on_live_is_false() -> None:
    policy = build("elastic_on_backlog", on_above=800, off_below=200, on_live=False)
    assert policy.decide(elastic_state("off", 0, ("launch",))) == []
    assert policy.decide(elastic_state("on", 0, ("launch",))) == OFF


def test_elastic_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="off_below"):
        REGISTRY.resolve("elastic_on_backlog").params.model_validate(
            {"on_above": 10, "off_below": 11}
        )


# --- the import boundary ------------------------------------------------------------------------


def test_importing_policies_loads_no_simulation_code() -> None:
    code = textwrap.dedent("""
        import sys
        import twin.policies
        bad = sorted(m for m in sys.modules
                     if m == "simpy" or m.startswith("simpy.") or m.startswith("twin.model"))
        print(",".join(bad))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == ""


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_policy_sources_import_no_simulation_code() -> None:
    files = sorted(Path(twin.policies.__file__).parent.rglob("*.py"))
    assert len(files) >= 3
    for path in files:
        for name in _imported_modules(path):
            assert name != "simpy" and not name.startswith("simpy."), (path, name)
            assert not name.startswith("twin.model"), (path, name)


# --- user policies by dotted path ---------------------------------------------------------------


class HoldEverything:
    """A user policy defined right here: never orders anything, remembers what it saw."""

    def __init__(self, params: Any, network: NetworkInfo) -> None:
        self.params = params
        self.network = network
        self.seen: list[float] = []

    def decide(self, state: State) -> list[Decision]:
        self.seen.append(state.time)
        return []


def test_resolve_a_class_by_its_dotted_path() -> None:
    path = f"{HoldEverything.__module__}.{HoldEverything.__qualname__}"
    kind = REGISTRY.resolve(path)
    assert kind.build is HoldEverything
    policy = kind.build(kind.params.model_validate({"anything": 1}), NET)
    assert policy.decide(state()) == []
    assert policy.seen == [10.0]


USER_MODULE = '''
from pydantic import BaseModel, ConfigDict
from twin.state import Transfer


class TopUp:
    """Send `units` of every SKU to one forward warehouse at every review."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        to: str
        units: int

    def __init__(self, params, network):
        self.params, self.network = params, network

    def decide(self, state):
        dest = self.params.to
        return [Transfer(self.network.source_of[dest], dest, sku, self.params.units)
                for sku in self.network.skus]


class NoDecide:
    pass
'''


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"user_policies_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TWIN_POLICY_MODULES", f"some_other_package, {name}")
    return name


def test_user_class_in_its_own_module_resolves_and_validates(user_module: str) -> None:
    for spelling in (f"{user_module}.TopUp", f"{user_module}:TopUp"):
        kind = REGISTRY.resolve(spelling)
        policy = kind.build(kind.params.model_validate({"to": "n", "units": 3}), NET)
        assert policy.decide(state()) == [Transfer("c", "n", "a", 3), Transfer("c", "n", "b", 3)]
    with pytest.raises(ValueError):
        REGISTRY.resolve(f"{user_module}.TopUp").params.model_validate({"to": "n", "unit": 3})


def test_user_policy_runs_in_a_scenario(user_module: str) -> None:
    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    data["policies"] = {
        "mine": {"kind": f"{user_module}.TopUp", "review": "12h", "to": "fwd_north", "units": 2}
    }
    record = simulate(scenario_from_data(data, "tiny+user"), 0)
    mine = [d for _, name, d in record.decisions if name == "mine"]
    assert len(mine) == 2 * 8  # two SKUs at t = 0, 12, ..., 84 (horizon 96 h)
    assert set(mine) == {Transfer("central", "fwd_north", k, 2) for k in ("lipstick", "serum")}


def test_user_policy_parameters_are_checked_at_load(user_module: str) -> None:
    from twin.errors import ConfigError

    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    data["policies"] = {"mine": {"kind": f"{user_module}.TopUp", "to": "fwd_north", "units": "x"}}
    with pytest.raises(ConfigError) as info:
        scenario_from_data(data, "F")
    assert info.value.problems == ["F: policies.mine.units (='x') must be a whole number"]


def test_a_module_not_allowed_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scenario's kind must not run code it chose: importing a module runs it."""
    marker = tmp_path / "ran"
    (tmp_path / "sneaky_policies.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass P:\n    def decide(self, s): return []\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("TWIN_POLICY_MODULES", raising=False)
    with pytest.raises(LookupError, match="would import module 'sneaky_policies'"):
        REGISTRY.resolve("sneaky_policies.P")
    assert not marker.exists()
    monkeypatch.setenv("TWIN_POLICY_MODULES", "sneaky_policies")
    assert REGISTRY.resolve("sneaky_policies.P").name == "sneaky_policies.P"
    assert marker.exists()


def test_bad_dotted_paths_are_lookup_errors(user_module: str) -> None:
    with pytest.raises(LookupError, match="cannot import policy class"):
        REGISTRY.resolve(f"{user_module}.Missing")
    with pytest.raises(LookupError, match="TWIN_POLICY_MODULES=no_such_package_xyz"):
        REGISTRY.resolve("no_such_package_xyz.Policy")  # not allowed, so never imported
    with pytest.raises(LookupError, match="no decide"):
        REGISTRY.resolve(f"{user_module}.NoDecide")
    with pytest.raises(LookupError, match=r"known kinds: .*base_stock"):
        REGISTRY.resolve("basestock")
