"""The SimPy world: entities, demand, the Ledger, and the run of one replication."""

from twin.model.world import RunRecord, World, simulate

__all__ = ["RunRecord", "World", "simulate"]
