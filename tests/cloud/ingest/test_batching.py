"""How the worker cuts batches from its inbox, and how it lets go of it at shutdown."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from cloud.ingest.prepare import Inbound
from cloud.ingest.worker import IngestOptions, IngestWorker

NOW = datetime(2026, 11, 22, 8, 30, tzinfo=UTC)


def worker(**options: object) -> IngestWorker:
    # Nothing connects until run(): no broker or database is needed to cut batches.
    return IngestWorker(
        IngestOptions(
            database_url="postgresql://127.0.0.1:1/none",
            mqtt_url="mqtt://127.0.0.1:1",
            client_id="t",
            **options,  # type: ignore[arg-type]
        )
    )


def fill(w: IngestWorker, count: int, size: int) -> None:
    for n in range(count):
        w._inbox.put(Inbound("ct/v1/a/b/c/telemetry", bytes(size), NOW, n + 1))


def test_a_batch_ends_at_the_message_limit() -> None:
    w = worker(batch_messages=10, batch_seconds=5.0)
    fill(w, 25, 100)
    assert [len(w._collect(threading.Event())) for _ in range(3)] == [10, 10, 5]


def test_a_batch_ends_once_it_holds_batch_bytes() -> None:
    # Large messages: the byte budget (2,500 B) ends the batch long before 500 messages.
    w = worker(batch_messages=500, batch_bytes=2_500, batch_seconds=5.0)
    fill(w, 10, 1_000)
    batch = w._collect(threading.Event())
    assert len(batch) == 3  # 3,000 B: the message that crosses the budget is the last
    assert w._inbox.qsize() == 7


def test_a_closing_worker_does_not_block_the_network_thread_on_a_full_inbox() -> None:
    w = worker(receive_maximum=1)  # inbox of 2
    fill(w, 2, 10)
    w._closing.set()
    done = threading.Event()

    def receive() -> None:
        w._on_publish(b"ct/v1/a/b/c/telemetry", b"x", 9)
        done.set()

    thread = threading.Thread(target=receive)
    thread.start()
    assert done.wait(5), "on_message stayed blocked on the full inbox"
    thread.join()
    assert w._inbox.qsize() == 2  # left unacknowledged: the broker redelivers it
