"""Demo helper: the real API (FastAPI under uvicorn) on a free loopback port, in-process."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from channeltrace._process import LOOPBACK, free_port

__all__ = ["ApiClient", "serve_api"]


class ApiClient:
    """GET/POST JSON against the demo's API (our own http://127.0.0.1 URL only)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def get(
        self, path: str, *, accept: str = "application/json", headers: dict[str, str] | None = None
    ) -> Any:
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path, headers={"Accept": accept, **(headers or {})}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            body = response.read()
        return json.loads(body) if accept == "application/json" else body.decode()

    def post(self, path: str, document: Any, *, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path,
            data=json.dumps(document).encode(),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                **(headers or {}),
            },
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.loads(response.read())


@contextmanager
def serve_api(database_url: str) -> Iterator[ApiClient]:
    import uvicorn

    from cloud.api.app import create_app
    from cloud.settings import CloudSettings

    port = free_port()
    app = create_app(CloudSettings(database_url=database_url))
    server = uvicorn.Server(
        uvicorn.Config(app, host=LOOPBACK, port=port, log_level="error", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start within 15 s")
        time.sleep(0.05)
    try:
        yield ApiClient(f"http://{LOOPBACK}:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
