"""Decision logic as plain Python: sees `State`, returns `Decision`s; imports no simulation code."""

from twin.policies import (
    dispatch,
    forecast,
    preposition,
    procurement,
    production,
    replenishment,
    sourcing,
)
from twin.policies.registry import REGISTRY, Policy, PolicyKind, PolicyParams, PolicyRegistry

__all__ = [
    "REGISTRY",
    "Policy",
    "PolicyKind",
    "PolicyParams",
    "PolicyRegistry",
    "dispatch",
    "forecast",
    "preposition",
    "procurement",
    "production",
    "replenishment",
    "sourcing",
]
