"""Planner commands (`twin plan ...`): one optimisation at a time, outside the simulation."""
