"""Prometheus metrics of the cloud services, and the loopback HTTP endpoint serving them.

Names follow the Prometheus conventions (``_total`` counters, base units). Every ingest
worker process serves its own registry on its own port (``CT_METRICS_PORT``); a scrape
config lists the workers, and sums across them give fleet totals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["IngestMetrics", "serve_metrics"]

_logger = logging.getLogger(__name__)

# Batch commits take milliseconds; lags up to minutes happen while draining a backlog.
_BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Receipt lag reported by devices: seconds normally, hours through an outage.
_RECEIPT_LAG_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0)


@dataclass(frozen=True, slots=True)
class IngestMetrics:
    """The ingest worker's instruments, registered in ``registry``."""

    registry: CollectorRegistry
    messages: Counter
    rows: Counter
    duplicates: Counter
    dead_letters: Counter
    db_retries: Counter
    batch_seconds: Histogram
    lag_seconds: Histogram
    queue_depth: Gauge
    receipts: Counter
    backfill_requests: Counter
    device_receipt_lag: Histogram
    device_receipt_lag_max: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> IngestMetrics:
        reg = registry if registry is not None else CollectorRegistry()
        return cls(
            registry=reg,
            messages=Counter(
                "ct_ingest_messages",
                "Messages taken off the broker, by outcome (stored, duplicate, dead_letter).",
                ["outcome"],
                registry=reg,
            ),
            rows=Counter("ct_ingest_rows", "Rows committed, by table.", ["table"], registry=reg),
            duplicates=Counter(
                "ct_ingest_duplicates",
                "Redeliveries of an already stored (device, seq), absorbed.",
                registry=reg,
            ),
            dead_letters=Counter(
                "ct_ingest_dead_letters", "Messages refused, by reason.", ["reason"], registry=reg
            ),
            db_retries=Counter(
                "ct_ingest_db_retries",
                "Attempts that found the database unavailable (the batch waits, unacked).",
                registry=reg,
            ),
            batch_seconds=Histogram(
                "ct_ingest_batch_seconds",
                "Time to verify, write and commit one batch.",
                buckets=_BATCH_BUCKETS,
                registry=reg,
            ),
            lag_seconds=Histogram(
                "ct_ingest_lag_seconds",
                "Receive-to-commit time of the oldest message of each batch.",
                buckets=_LAG_BUCKETS,
                registry=reg,
            ),
            queue_depth=Gauge(
                "ct_ingest_queue_depth",
                "Messages received from the broker and not yet committed.",
                registry=reg,
            ),
            receipts=Counter(
                "ct_ingest_receipts",
                "Storage receipts published to devices (coalesced: a few a second per device).",
                registry=reg,
            ),
            backfill_requests=Counter(
                "ct_ingest_backfill_requests",
                "Requests asking an online device to publish the seqs of a gap again.",
                registry=reg,
            ),
            device_receipt_lag=Histogram(
                "ct_device_receipt_lag_seconds",
                "Age of a device's oldest reading not yet receipted, as its heartbeats report.",
                buckets=_RECEIPT_LAG_BUCKETS,
                registry=reg,
            ),
            device_receipt_lag_max=Gauge(
                "ct_device_receipt_lag_max_seconds",
                "The largest receipt lag reported in heartbeats this worker stored in the last"
                " minute.",
                registry=reg,
            ),
        )


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread.

    Returns the server: ``shutdown()`` then ``server_close()`` stop it (tests do; the
    services let it die with the process). ``port`` 0 picks a free port (``server_port``).
    """
    server, _thread = start_http_server(port, addr=host, registry=registry)
    _logger.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server
