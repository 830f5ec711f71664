"""The SimPy world: entities, demand, the Ledger, and the run of one replication.

Nothing is imported here, so reading a ledger constant or a disruption window does not load
SimPy; the world itself is `twin.model.world` (`World`, `simulate`, `RunRecord`).
"""
