"""Where webhooks may go: public addresses only, unless private ones are allowed.

A tenant chooses its webhook URL, so without this check the cloud could be told to POST to
its own private network (the database, a metadata service). Private, loopback, link-local
and reserved addresses are refused unless allowed (development, tests, on-premises
deployments). The check resolves the host at delivery time; a DNS answer changing between
the check and the connection is not covered (a proxy would be).
"""

from __future__ import annotations

import ipaddress
import socket

import httpx

__all__ = ["refused_destination"]


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


def refused_destination(url: str) -> str | None:
    """Why ``url`` must not be called (a non-public address, or unresolvable), else None."""
    host = httpx.URL(url).host
    if not host:
        return f"no host in {url!r}"
    port = httpx.URL(url).port or (443 if url.startswith("https") else 80)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot resolve {host}: {exc}"
    addresses = sorted({str(info[4][0]) for info in infos})
    private = [a for a in addresses if not _public(a)]
    if private:
        return f"{host} resolves to non-public address(es) {', '.join(private)}"
    return None
