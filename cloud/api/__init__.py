"""The read API: sites, devices, readings, stock and completeness over HTTP (FastAPI).

Routers, dependencies, errors, middleware and queries; the app that mounts them with the
console and the ledger's routes is made by :func:`cloud.app.create_app`. Nothing here
imports :mod:`cloud.console` or :mod:`cloud.app`.
"""
