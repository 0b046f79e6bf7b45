"""What colour a site has on the channel map: a pure rule over its devices and alerts."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = ["SiteStatus", "site_status"]


class SiteStatus(StrEnum):
    """Worst first: an open alert beats an offline device beats a silent one."""

    ALERT = "alert"
    OFFLINE = "offline"
    STALE = "stale"
    OK = "ok"
    UNMONITORED = "unmonitored"  # no devices (a shop or a factory we only trace through)


def site_status(device_states: Iterable[str], open_alerts: int) -> SiteStatus:
    """Status of a site from its devices' ``online_state`` values and open alert count.

    ``online_state`` is :data:`cloud.api.schemas.OnlineState`; retired devices do not count.
    """
    states = [s for s in device_states if s != "retired"]
    if open_alerts > 0:
        return SiteStatus.ALERT
    if not states:
        return SiteStatus.UNMONITORED
    if "offline" in states:
        return SiteStatus.OFFLINE
    if any(s in ("stale", "never_seen") for s in states):
        return SiteStatus.STALE
    return SiteStatus.OK
