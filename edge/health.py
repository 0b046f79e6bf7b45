"""Health figures the heartbeat reports: outbox, process, host and clock."""

from __future__ import annotations

import logging
import os
import resource
import shutil
import time
from pathlib import Path

from edge.clock import ClockStatus
from edge.delivery import DeliveryCounts
from edge.outbox import OutboxStats
from wire import Health

__all__ = ["CpuMeter", "collect_health", "mem_available_bytes", "rss_bytes"]

_logger = logging.getLogger(__name__)


class CpuMeter:
    """CPU use of this process since the previous call, in percent of one core."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), time.process_time())

    def percent(self) -> float:
        now = (time.monotonic(), time.process_time())
        wall, cpu = now[0] - self._last[0], now[1] - self._last[1]
        self._last = now
        return round(100.0 * cpu / wall, 2) if wall > 0 else 0.0


def rss_bytes() -> int:
    """Resident memory of this process now (Linux), else its peak."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: fall back to the peak, which is what the OS offers
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def mem_available_bytes() -> int | None:
    """``MemAvailable`` of the host (Linux); None where the kernel does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError) as exc:
        _logger.debug("cannot read /proc/meminfo: %s", exc)
    return None


def collect_health(
    stats: OutboxStats,
    evicted_seqs: list[int],
    cpu: CpuMeter,
    data_dir: Path,
    clock: ClockStatus,
    *,
    delivery: DeliveryCounts | None = None,
    receipts: bool = False,
) -> Health:
    return Health(
        outbox_depth=stats.pending_items + stats.pending_messages,
        outbox_oldest_age_s=stats.oldest_age_s,
        evicted_readings=stats.evicted_items,
        evicted_seqs=evicted_seqs[-1000:],
        cpu_pct=cpu.percent(),
        rss_bytes=rss_bytes(),
        mem_available_bytes=mem_available_bytes(),
        disk_free_bytes=shutil.disk_usage(data_dir).free,
        clock_offset_s=clock.offset_s,
        clock_synced=clock.synced,
        # With receipts everything in the outbox waits for one: its oldest entry is the lag.
        receipt_lag_s=(stats.oldest_age_s or 0.0) if receipts else None,
        puback_refusals=delivery.refusals if delivery is not None else None,
        republished=delivery.republished if delivery is not None else None,
    )
