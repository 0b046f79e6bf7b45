"""Demo helper: the real API (FastAPI under uvicorn) on a free loopback port, in-process.

The client authenticates like any program would: with a brand API key created for the
demo's tenant (docs/security.md); the public routes (resolver, ledger proofs) ignore it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from channeltrace._process import LOOPBACK, free_port
from channeltrace.errors import ApiRequestFailed

__all__ = ["ApiClient", "serve_api"]


_MAX_DETAIL = 300  # characters of an error body shown on the one line


def _error_detail(body: bytes) -> str:
    """The server's own words: a problem document's detail/title, else the body's start."""
    text = body.decode("utf-8", "replace").strip()
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        words = document.get("detail") or document.get("title") or document.get("message")
        if isinstance(words, str | list | dict):
            text = words if isinstance(words, str) else json.dumps(words)
    text = " ".join(text.split())
    return text[:_MAX_DETAIL] + ("…" if len(text) > _MAX_DETAIL else "") or "(empty body)"


class ApiClient:
    """GET/POST JSON against the demo's API (our own http://127.0.0.1 URL only).

    An error answer raises :class:`ApiRequestFailed` with its status and the server's words.
    """

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.base_url = base_url
        self._auth = {"X-API-Key": api_key} if api_key else {}

    def get(
        self, path: str, *, accept: str = "application/json", headers: dict[str, str] | None = None
    ) -> Any:
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path, headers={"Accept": accept, **self._auth, **(headers or {})}
        )
        body = self._send(request, "GET", path, timeout=30)
        return json.loads(body) if accept == "application/json" else body.decode()

    def post(self, path: str, document: Any, *, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path,
            data=json.dumps(document).encode(),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                **self._auth,
                **(headers or {}),
            },
        )
        return json.loads(self._send(request, "POST", path, timeout=60))

    @staticmethod
    def _send(request: urllib.request.Request, method: str, path: str, timeout: float) -> bytes:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise ApiRequestFailed(method, path, exc.code, _error_detail(exc.read())) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiRequestFailed(method, path, None, str(reason)) from None


@contextmanager
def serve_api(database_url: str, tenant: str | None = None) -> Iterator[ApiClient]:
    """Serve the API; the client carries a brand API key of ``tenant`` (default: the demo's)."""
    import psycopg
    import uvicorn

    from channeltrace.demo_fleet import TENANT
    from cloud.api.serve import uvicorn_config
    from cloud.app import create_app
    from cloud.auth.apikeys import create_api_key
    from cloud.settings import Settings, parse_networks

    with psycopg.connect(database_url, autocommit=True) as conn:
        api_key = create_api_key(conn, tenant_id=tenant or TENANT, role="brand", label="demo")

    port = free_port()
    # The demo runs on the public development secrets, so it says development itself
    # (the default is production, which refuses them). Its client plays the TLS proxy
    # in front of the resolver, whose X-Region header places a consumer's scan: the one
    # trusted proxy is loopback, where only the demo's own client connects from.
    settings = Settings(
        database_url=database_url,
        environment="development",
        trusted_proxies=parse_networks(LOOPBACK),
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn_config(app, settings, host=LOOPBACK, port=port, log_level="error",
                       access_log=False)
    )  # fmt: skip
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start within 15 s")
        time.sleep(0.05)
    try:
        yield ApiClient(f"http://{LOOPBACK}:{port}", api_key)
    finally:
        server.should_exit = True
        thread.join(10)
