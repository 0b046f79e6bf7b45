"""paho's MQTT client as the gateway and the ingest both use it: reconnection with jitter.

paho doubles its reconnection delay from a minimum to a maximum, the same for every client.
After a broker restart a fleet of gateways (or a set of ingest workers) would then come back
in lockstep, every one at 1 s, 2 s, 4 s …, and hit the broker together each time. Each
attempt here first waits a random part of the current delay (up to half of it), so the
attempts spread out while the growth stays paho's.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

__all__ = [
    "JITTER_FRACTION",
    "ReconnectingClient",
    "next_reconnect_delay",
    "reconnect_jitter",
    "sleep_unless",
]

#: The most of paho's current delay an attempt adds, drawn uniformly.
JITTER_FRACTION = 0.5


def _current_delay(client: mqtt.Client) -> float | None:
    # paho 2.x internal (pinned in pyproject.toml; cloud.ingest.mqtt checks it at import):
    # None until a connection attempt failed, then the delay of the last wait.
    value = getattr(client, "_reconnect_delay", None)
    return None if value is None else float(value)


def next_reconnect_delay(client: mqtt.Client, min_s: float, max_s: float) -> float:
    """How long paho waits before its next attempt (doubling from min to max), jitter aside."""
    current = _current_delay(client)
    return float(min_s if current is None else min(current * 2, max_s))


def reconnect_jitter(current_delay: float | None, draw: float) -> float:
    """Seconds an attempt waits beyond paho's delay; ``draw`` uniform in [0, 1)."""
    return 0.0 if current_delay is None else current_delay * JITTER_FRACTION * draw


def sleep_unless(
    stopping: Callable[[], bool],
    seconds: float,
    *,
    step: float = 0.1,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Sleep ``seconds`` in steps, returning early once ``stopping()`` (as paho's own wait
    does, so that stopping the network thread never waits for a jittered attempt)."""
    for index in range(math.ceil(seconds / step)):
        if stopping():
            return
        sleep(min(step, seconds - index * step))


class ReconnectingClient(mqtt.Client):
    """paho's client that spreads its reconnection attempts and remembers why the last
    one failed (for the log and ``edge status``)."""

    last_connect_error: OSError | None = None

    def reconnect(self) -> MQTTErrorCode:
        wait = reconnect_jitter(_current_delay(self), random.random())  # noqa: S311 - not a secret
        # paho 2.x internal, as its own wait reads it: loop_stop() is under way.
        sleep_unless(lambda: bool(getattr(self, "_thread_terminate", False)), wait)
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_connect_error = exc
            raise
