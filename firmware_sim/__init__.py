"""Simulated sensors, scanners and warehouses to develop, demo and load-test against.

Two floors: :mod:`firmware_sim.devices` (device models the edge agent's ``sim`` drivers use;
below ``edge``) and :mod:`firmware_sim.tools` (fleets, swarm, load generator, registration;
above ``edge`` and ``cloud``). This package module imports neither.
"""
