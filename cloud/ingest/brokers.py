"""One ingest process, several brokers: a worker per broker, all writing to one database.

Gateways that fail over between independent brokers (``[broker] urls`` of the agent) may
publish to any of them, so every broker needs consumers. Each :class:`IngestWorker` keeps
its own MQTT session on its broker (a stable client id per broker, derived from the
process's id and the broker's address), its own batches and receipts; the database's
``(device, seq)`` key makes a message that arrives through two brokers (a gateway that
republished after failing over) stored once. Receipts go back through the broker the
device's message came in on, which is the one the device is connected to.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence

from cloud.ingest.worker import IngestWorker
from cloud.metrics import IngestMetrics
from wire.broker import parse_mqtt_url

__all__ = ["broker_client_id", "run_workers"]

_logger = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def broker_client_id(base: str, url: str, brokers: int) -> str:
    """``base`` for a single broker; ``base@host-port`` per broker when there are several
    (stable across restarts and list reorderings: the broker keeps that session's queue)."""
    if brokers <= 1:
        return base
    broker = parse_mqtt_url(url)
    return f"{base}@{_UNSAFE.sub('-', broker.host)}-{broker.port}"


def run_workers(
    workers: Sequence[IngestWorker], stop: threading.Event, metrics: IngestMetrics | None = None
) -> None:
    """Run each worker in its own thread until ``stop``; a worker that fails stops them all
    (the process exits and is restarted whole, like a single worker). Workers sharing
    ``metrics`` report their queues summed and their device receipt lags maxed."""
    if metrics is not None and len(workers) > 1:
        metrics.queue_depth.set_function(lambda: sum(w.queue_depth() for w in workers))
        metrics.device_receipt_lag_max.set_function(
            lambda: max(w.max_reported_lag() for w in workers)
        )
    if len(workers) == 1:
        workers[0].run(stop)
        return
    failed: list[BaseException] = []

    def run(worker: IngestWorker) -> None:
        try:
            worker.run(stop)
        except BaseException as exc:
            failed.append(exc)
            _logger.exception("ingest worker %s failed; stopping", worker.options.client_id)
            stop.set()

    threads = [
        threading.Thread(target=run, args=(w,), name=f"ingest-{i}") for i, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise failed[0]
