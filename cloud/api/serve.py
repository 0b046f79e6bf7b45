"""How the API is put under uvicorn, in one place for ``cloud api``, the demo and tests.

Forwarded headers are the app's business (:mod:`cloud.api.middleware.proxies`, from
``CT_TRUSTED_PROXIES``): uvicorn's own proxy handling is switched off, because by default
it believes ``X-Forwarded-For`` from 127.0.0.1 and would rewrite the client before the app
can check the real peer. Its ``forwarded_allow_ips`` is still set to the same list, so the
two never disagree should anyone switch it back on.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import FastAPI

from cloud.settings import ApiSection

__all__ = ["uvicorn_config"]


def uvicorn_config(
    app: FastAPI, settings: ApiSection, *, host: str, port: int, **options: Any
) -> uvicorn.Config:
    """A uvicorn config serving ``app`` on ``host:port``; ``options`` pass through."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=False,
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies],
        server_header=False,  # the server's name and version are nobody's business
        **options,
    )
