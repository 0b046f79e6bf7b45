"""The read API: sites, devices, readings, stock and completeness over HTTP (FastAPI)."""

from cloud.api.app import create_app

__all__ = ["create_app"]
