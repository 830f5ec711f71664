"""Decision logic as plain Python: sees `State`, returns `Decision`s; imports no simulation code."""

from twin.policies import forecast, preposition, procurement, production, replenishment
from twin.policies.registry import REGISTRY, Policy, PolicyKind, PolicyParams, PolicyRegistry

__all__ = [
    "REGISTRY",
    "Policy",
    "PolicyKind",
    "PolicyParams",
    "PolicyRegistry",
    "forecast",
    "preposition",
    "procurement",
    "production",
    "replenishment",
]
