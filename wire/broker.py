"""Broker addresses as URLs (``mqtt://host:port``, ``mqtts://user:pass@host:port``).

Shared by the edge agent (its config file) and the cloud (``CT_MQTT_URL``). A TLS broker
whose certificate is signed by a private CA names the CA file:
``mqtts://user:pass@host:8883?cafile=/etc/channeltrace/ca.pem``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["BrokerAddress", "parse_mqtt_url"]


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # PEM CA bundle for TLS; None: the system's trust store


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
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"cafile"})
    if unknown:
        raise ValueError(f"MQTT URL has unknown options {unknown}: {url!r}")
    ca_file = options.get("cafile") or None
    if ca_file is not None and not tls:
        raise ValueError(f"cafile needs mqtts://: {url!r}")
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ca_file=ca_file,
    )
