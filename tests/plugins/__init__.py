"""Pytest plugins loaded from pyproject (addopts -p)."""
