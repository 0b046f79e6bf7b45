"""Loopback TCP proxies a test or a bench can cut, as a network outage does (the chaos
run between agents and the broker, the Patroni cluster between its members and etcd)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable

__all__ = ["ProxyLoop", "TcpProxy"]


class TcpProxy:
    """A loopback TCP proxy per agent, on one asyncio loop in a thread; `cut` holds all
    traffic (both ways, new connections too) for a while, as a network outage does: bytes
    wait, and the endpoints' keepalives decide whether the connection survives."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._flowing = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._writers):
            writer.close()
        self._flowing.set()  # let held pipes see their closed sockets

    def cut(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        loop.call_soon_threadsafe(self._flowing.clear)
        loop.call_soon_threadsafe(loop.call_later, seconds, self._flowing.set)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._flowing.wait()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


class ProxyLoop:
    """One asyncio loop in a thread serving :class:`TcpProxy` instances."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="tcp-proxies",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        self.proxies: list[TcpProxy] = []

    def add(self, upstream_port: int) -> TcpProxy:
        proxy = TcpProxy(upstream_port)
        asyncio.run_coroutine_threadsafe(proxy.start(), self.loop).result(10)
        self.proxies.append(proxy)
        return proxy

    def cut(self, proxies: Iterable[TcpProxy], seconds: float) -> None:
        """Hold every byte (both ways, new connections too) through ``proxies`` for a while."""
        for proxy in proxies:
            proxy.cut(self.loop, seconds)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        for proxy in self.proxies:
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
