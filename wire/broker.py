"""Broker addresses as URLs (``mqtt://host:port``, ``mqtts://user:pass@host:port``).

Shared by the edge agent (its config file) and the cloud (``CT_MQTT_URL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["BrokerAddress", "parse_mqtt_url"]


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def parse_mqtt_url(url: str) -> BrokerAddress:
    """Parse a broker URL; raises :class:`ValueError` naming what is wrong."""
    if any(c.isspace() or ord(c) < 32 or c in "\"'\\" for c in url):
        raise ValueError(f"MQTT URL must not contain spaces, control characters or quotes: {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://; got {url!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT URL has no host: {url!r}")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
