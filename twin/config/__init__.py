"""Scenario configuration: pydantic models, YAML loading and readable errors."""

from twin.config.loader import load_scenario, read_yaml, scenario_from_data
from twin.config.schema import Scenario

__all__ = ["Scenario", "load_scenario", "read_yaml", "scenario_from_data"]
