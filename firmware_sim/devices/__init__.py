"""Simulated devices: climate probes with faults, stock flows and scanners.

The lowest floor of the simulator: the edge agent's ``sim`` sensor and scanner drivers use
these models, so they import nothing above ``wire`` (no edge, no cloud).
"""

from firmware_sim.devices.climate import PROFILES, ClimateProfile, ClimateSensor

__all__ = ["PROFILES", "ClimateProfile", "ClimateSensor"]
