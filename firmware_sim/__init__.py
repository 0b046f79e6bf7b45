"""Simulated sensors, scanners and warehouses to develop, demo and load-test against."""

from firmware_sim.climate import PROFILES, ClimateProfile, ClimateSensor

__all__ = ["PROFILES", "ClimateProfile", "ClimateSensor"]
