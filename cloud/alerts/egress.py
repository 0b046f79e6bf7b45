"""Where webhooks may go: public addresses only, unless private ones are allowed.

A tenant chooses its webhook URL, so without this check the cloud could be told to POST to
its own private network (the database, a metadata service). Private, loopback, link-local
and reserved addresses are refused unless allowed (development, tests, on-premises
deployments), and so are IPv6 forms that lead to one (IPv4-mapped, NAT64, 6to4, Teredo).
The check resolves the host at delivery time; a DNS answer changing between the check and
the connection is not covered (a proxy would be).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Final

import httpx

__all__ = ["public_address", "refused_destination"]


_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_SIIT: Final = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 IPv4-translated
# Refused whole: the local-use NAT64 prefix (RFC 8215: it leads into the operator's own
# network, and Python calls it global) and the deprecated IPv4-compatible form.
_REFUSED: Final = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("::/96"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form reaches (mapped, 6to4, NAT64, SIIT, Teredo client)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _SIIT:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def public_address(address: str) -> bool:
    """Whether ``address`` is a public unicast address, also through IPv6 forms that
    embed an IPv4 address (``64:ff9b::10.0.0.1`` is 10.0.0.1 behind a NAT64 gateway,
    ``2002:a00:1::`` is 10.0.0.1 over 6to4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in _REFUSED):
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return embedded.is_global and not embedded.is_multicast
    return True


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
    private = [a for a in addresses if not public_address(a)]
    if private:
        return f"{host} resolves to non-public address(es) {', '.join(private)}"
    return None
