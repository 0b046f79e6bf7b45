"""Is the gateway's clock disciplined, and by how much is it off? Asked of the kernel.

A Raspberry Pi has no battery-backed clock: after a power cut it boots at the last saved
time until NTP (systemd-timesyncd, chrony, ntpd) corrects it. All of those steer the kernel
clock through ``adjtimex(2)``, and the kernel keeps the verdict: ``STA_UNSYNC`` is set until
a time daemon has synchronised the clock, and ``offset`` is the correction still being
slewed in. Reading it (``modes = 0``) needs no privilege. Where the call is unavailable
(not Linux, seccomp) the clock is reported as unsynchronised with an unknown offset: we
never claim a sync we cannot see.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from dataclasses import dataclass

__all__ = ["ClockStatus", "read_clock_status"]

_logger = logging.getLogger(__name__)

_TIME_ERROR = 5  # adjtimex return value: clock not synchronised
_STA_UNSYNC = 0x0040
_STA_NANO = 0x2000


class _Timeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long))


class _Timex(ctypes.Structure):
    """``struct timex`` from <sys/timex.h>; ctypes adds the same padding as the C compiler."""

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        # The kernel reserves 11 ints; extra room guards against ABI variants (time64).
        ("_reserved", ctypes.c_int * 32),
    )


@dataclass(frozen=True, slots=True)
class ClockStatus:
    synced: bool
    offset_s: float | None  # correction still pending; None when unknown
    max_error_s: float | None = None
    source: str = "adjtimex"


_UNKNOWN = ClockStatus(synced=False, offset_s=None, source="unknown")
_libc: ctypes.CDLL | None = None


def _adjtimex() -> ctypes.CDLL | None:
    global _libc  # noqa: PLW0603 - one lookup per process
    if _libc is None and sys.platform.startswith("linux"):
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        except OSError as exc:
            _logger.warning("cannot load libc for adjtimex: %s", exc)
    return _libc


def read_clock_status() -> ClockStatus:
    """The kernel's view of clock synchronisation; unsynchronised when it cannot be read."""
    libc = _adjtimex()
    if libc is None or not hasattr(libc, "adjtimex"):
        return _UNKNOWN
    timex = _Timex()  # modes = 0: read only
    state = libc.adjtimex(ctypes.byref(timex))
    if state < 0:
        _logger.debug("adjtimex failed: errno %d", ctypes.get_errno())
        return _UNKNOWN
    scale = 1e9 if timex.status & _STA_NANO else 1e6
    synced = state != _TIME_ERROR and not timex.status & _STA_UNSYNC
    return ClockStatus(
        synced=synced,
        # Without a time source the pending correction is meaningless (0), not "on time".
        offset_s=timex.offset / scale if synced else None,
        max_error_s=timex.maxerror / 1e6,
    )
