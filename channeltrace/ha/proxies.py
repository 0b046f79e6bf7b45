"""Loopback TCP proxies a test can cut: chaos.py's :class:`TcpProxy` on a loop thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable

from channeltrace.chaos import TcpProxy

__all__ = ["ProxyLoop", "TcpProxy"]


class ProxyLoop:
    """One asyncio loop in a thread serving :class:`TcpProxy` instances (chaos.py's)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ha-proxies",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        self._proxies: list[TcpProxy] = []

    def add(self, upstream_port: int) -> TcpProxy:
        proxy = TcpProxy(upstream_port)
        asyncio.run_coroutine_threadsafe(proxy.start(), self.loop).result(10)
        self._proxies.append(proxy)
        return proxy

    def cut(self, proxies: Iterable[TcpProxy], seconds: float) -> None:
        """Hold every byte (both ways, new connections too) through ``proxies`` for a while."""
        for proxy in proxies:
            proxy.cut(self.loop, seconds)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        for proxy in self._proxies:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(proxy.close(), self.loop).result(10)
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._drain(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    @staticmethod
    async def _drain() -> None:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
