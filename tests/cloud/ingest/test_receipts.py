"""Storage receipts, cloud side (cloud/ingest/receipts.py): the pure rules (ranges, progress,
coalescing, backfill ranges), then the issuer against real PostgreSQL with real signed
messages written by the real store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.prepare import prepare
from cloud.ingest.receipts import Coalescer, Progress, ReceiptIssuer, backfill_ranges, merge
from cloud.ingest.store import write_batch
from cloud.migrate import migrate
from cloud.registry import register_device
from wire import (
    BackfillAnswer,
    BackfillRequest,
    Kind,
    Receipt,
    StateMessage,
    Topic,
    open_message,
    to_ranges,
)
from wire.models import MAX_BACKFILL_SEQS, MAX_RANGES

from .._messages import T0, Device, state, telemetry

CLOUD = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)

# --- pure rules ---------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.sets(st.integers(1, 100)), st.lists(st.integers(1, 100)))
def test_merge_agrees_with_a_set(start: set[int], added: list[int]) -> None:
    assert merge(to_ranges(start), added) == to_ranges(start | set(added))


def test_progress_advances_over_what_follows_without_a_hole() -> None:
    p = Progress()
    p.absorb([1, 2, 3, 5, 6, 9], scanned_to=9)
    assert (p.through, p.beyond) == (3, [(5, 6), (9, 9)])
    assert p.holes() == [(4, 4), (7, 8)]
    p.absorb([4], scanned_to=9)  # a late commit (the other worker) fills the first hole
    assert (p.through, p.beyond, p.holes()) == (6, [(9, 9)], [(7, 8)])
    p.absorb([7, 8, 10], scanned_to=10)
    assert (p.through, p.beyond, p.holes()) == (10, [], [])


def test_progress_holes_stop_at_what_was_read() -> None:
    p = Progress()
    p.absorb([2, 3], scanned_to=3)
    assert p.holes() == [(1, 1)]
    p.absorb([], scanned_to=5)  # nothing settled up to 5: 4 and 5 are holes too
    assert p.holes() == [(1, 1), (4, 5)]


def test_progress_rebases_on_another_workers_mark() -> None:
    p = Progress()
    p.absorb([1, 5, 6, 8], scanned_to=8)
    p.rebase(5)  # the other worker settled 1..5
    assert (p.through, p.beyond, p.scanned_to) == (6, [(8, 8)], 8)
    p.rebase(3)  # never lowered
    assert p.through == 6


def test_backfill_ranges_skip_the_pending_will_and_stay_bounded() -> None:
    assert backfill_ranges([(4, 4)], skip=4) == []  # only the current will: nothing to ask
    assert backfill_ranges([(3, 6)], skip=4) == [(3, 3), (5, 6)]
    assert backfill_ranges([(1, MAX_BACKFILL_SEQS * 2)], skip=None) == [(1, MAX_BACKFILL_SEQS)]
    many = [(3 * i + 1, 3 * i + 1) for i in range(200)]
    assert len(backfill_ranges(many, skip=None)) == MAX_RANGES


def test_coalescing_a_busy_device_gets_a_few_receipts_a_second() -> None:
    c = Coalescer(min_interval_s=0.25)
    c.touch(["gw-1", "gw-2"])
    assert c.due(100.0, limit=10) == ["gw-1", "gw-2"]
    assert c.due(100.0, limit=10) == []  # nothing new
    sent = 0
    for step in range(100):  # gw-1 commits every 10 ms for one second
        now = 100.0 + 0.01 * (step + 1)
        c.touch(["gw-1"])
        sent += len(c.due(now, limit=10))
    assert sent == 4  # at 100.25, 100.5, 100.75 and 101.0: not 100
    assert c.pending() == 0
    c.touch(["gw-3", "gw-1"])
    assert c.due(101.05, limit=10) == ["gw-3"]  # gw-1 waits out its interval
    assert c.due(101.25, limit=10) == ["gw-1"]


# --- the issuer against PostgreSQL --------------------------------------------------------


def issuer(
    db: str, published: Published, made: list[ReceiptIssuer], **options: Any
) -> ReceiptIssuer:
    made.append(ReceiptIssuer(lambda: psycopg.connect(db), CLOUD, published, **options))
    return made[-1]


@dataclass
class Published:
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)

    def __call__(self, topic: str, data: bytes, retain: bool) -> bool:
        self.messages.append((topic, data, retain))
        return True

    def receipts(self, device: Device) -> list[Receipt]:
        return [_open(device, t, d) for t, d, _ in self.messages if t.endswith("/receipt")]

    def backfills(self, device: Device) -> list[BackfillRequest]:
        return [_open(device, t, d) for t, d, _ in self.messages if t.endswith("/backfill")]


def _open(device: Device, topic: str, data: bytes) -> Any:
    opened = open_message(topic, data, lambda _d: [CLOUD.public_key()])
    assert opened.topic.device == device.device_id
    assert opened.envelope.seq == opened.payload.highest  # type: ignore[union-attr]
    return opened.payload


@pytest.fixture
def device() -> Device:
    return Device()


@pytest.fixture
def db(database_url: str, device: Device) -> str:
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        register_device(conn, device.registration)
    return database_url


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db) as connection:
        yield connection


def store(conn: psycopg.Connection[Any], device: Device, *seqs: int, **extra: Any) -> None:
    accepted = [
        device.accept(device.inbound(Kind.TELEMETRY, seq, telemetry(float(seq)))) for seq in seqs
    ]
    write_batch(conn, accepted, [])


def heartbeat(conn: psycopg.Connection[Any], device: Device, seq: int, **fields: Any) -> None:
    message = StateMessage.model_validate(
        {"status": "heartbeat", "ts": T0, **fields}, strict=False
    )
    write_batch(conn, [device.accept(device.inbound(Kind.STATE, seq, message))], [])


@pytest.fixture
def issuers(db: str) -> Iterator[list[ReceiptIssuer]]:
    made: list[ReceiptIssuer] = []
    yield made
    for issuer in made:
        issuer.close()


def query(db: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Through a connection of its own: only committed data, no transaction left open."""
    with psycopg.connect(db, autocommit=True) as other:
        return [tuple(r) for r in other.execute(sql.encode(), params).fetchall()]


@pytest.mark.integration
def test_receipts_say_what_is_stored_through_and_beyond_a_gap(
    db: str, conn: psycopg.Connection[Any], device: Device, issuers: list[ReceiptIssuer]
) -> None:
    published = Published()
    receipts = issuer(db, published, issuers)
    store(conn, device, 1, 2, 3, 5, 6)
    receipts.issue([device.device_id])
    (receipt,) = published.receipts(device)
    assert (receipt.through, receipt.ranges) == (3, [(5, 6)])
    assert all(retain for t, _, retain in published.messages if t.endswith("/receipt"))
    store(conn, device, 4, 7)
    receipts.issue([device.device_id])
    assert (published.receipts(device)[-1].through, published.receipts(device)[-1].ranges) == (
        7,
        [],
    )
    through = query(
        db, "SELECT settled_through FROM device_receipts WHERE device_id = %s", (device.device_id,)
    )
    assert through == [(7,)]
    # A second worker starting cold reads the mark and goes on from there.
    other = Published()
    store(conn, device, 8)
    issuer(db, other, issuers).issue([device.device_id])
    assert other.receipts(device)[-1].through == 8


@pytest.mark.integration
def test_evicted_not_held_and_refused_seqs_settle(
    db: str, conn: psycopg.Connection[Any], device: Device, issuers: list[ReceiptIssuer]
) -> None:
    published = Published()
    receipts = issuer(db, published, issuers)
    store(conn, device, 1)
    heartbeat(conn, device, 5, health={"outbox_depth": 0, "evicted_seqs": [2]})
    answer = BackfillAnswer(request=4, not_held=[(3, 3)])
    heartbeat(conn, device, 6, backfill=answer.model_dump())
    # Seq 4: signed by the device but 2 days in the future: refused for good, kept as a
    # dead letter, and settled (publishing it again would change nothing).
    future = device.inbound(
        Kind.TELEMETRY, 4, telemetry(1.0, ts=T0 + timedelta(days=2)), received_at=T0
    )
    letter = prepare(future, lambda _d: device.identity, skew_flag_seconds=60)
    write_batch(conn, [], [letter])  # type: ignore[list-item]
    receipts.issue([device.device_id])
    assert published.receipts(device)[-1].through == 6
    rows = query(
        db, "SELECT seq, reason FROM settled_seqs WHERE device_id = %s ORDER BY seq",
        (device.device_id,),
    )  # fmt: skip
    assert rows == [(3, "not_held"), (4, "dead_letter")]
    assert query(db, "SELECT seq FROM evicted_seqs WHERE device_id = %s", (device.device_id,)) == [
        (2,)
    ]


@pytest.mark.integration
def test_unauthenticated_dead_letters_settle_nothing(
    db: str, conn: psycopg.Connection[Any], device: Device, issuers: list[ReceiptIssuer]
) -> None:
    impostor = Device(device_id=device.device_id)  # same id, another key: bad signature
    inbound = impostor.inbound(Kind.TELEMETRY, 1, telemetry(1.0))
    letter = prepare(inbound, lambda _d: device.identity, skew_flag_seconds=60)
    write_batch(conn, [], [letter])  # type: ignore[list-item]
    store(conn, device, 2)
    published = Published()
    issuer(db, published, issuers).issue([device.device_id])
    assert (published.receipts(device)[-1].through, published.receipts(device)[-1].ranges) == (
        0,
        [(2, 2)],
    )


@pytest.mark.integration
def test_a_gap_of_an_online_device_is_asked_for_once_it_stays_open(
    db: str, conn: psycopg.Connection[Any], device: Device, issuers: list[ReceiptIssuer]
) -> None:
    # Online, with seq 10 reserved for its current last will (the birth says so).
    birth = device.inbound(Kind.STATE, 11, state("online", will_seq=10))
    write_batch(conn, [device.accept(birth)], [])
    store(conn, device, *range(1, 5), *range(7, 10), 12)
    published = Published()
    receipts = issuer(db, published, issuers, backfill_after_s=0.0, backfill_every_s=3600)
    receipts.issue([device.device_id])  # first sight of the hole
    assert published.backfills(device) == []
    receipts.issue([device.device_id])  # still open: ask (not for 10, the pending will)
    (request,) = published.backfills(device)
    assert request.ranges == [(5, 6)]
    assert not [r for t, _, r in published.messages if t.endswith("/backfill") and r]
    receipts.issue([device.device_id])  # asked already: not again within backfill_every_s
    assert len(published.backfills(device)) == 1
    assert published.receipts(device)[-1].ranges == [(7, 9), (11, 12)]


@pytest.mark.integration
def test_the_issuer_thread_coalesces_and_survives_a_database_outage(
    db: str, conn: psycopg.Connection[Any], device: Device
) -> None:
    published = Published()
    attempts: list[int] = []

    def connect() -> psycopg.Connection[Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise psycopg.OperationalError("the database is restarting")
        return psycopg.connect(db)

    receipts = ReceiptIssuer(connect, CLOUD, published, min_interval_s=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=receipts.run, args=(stop,))
    thread.start()
    try:
        store(conn, device, 1, 2)
        receipts.touch([device.device_id])
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not published.receipts(device) and datetime.now(UTC) < deadline:
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join()
    assert published.receipts(device)[-1].through == 2
    assert len(attempts) >= 2


def test_topics_of_cloud_kinds() -> None:
    assert str(Topic("a", "s", "d", Kind.RECEIPT)) == "ct/v1/a/s/d/receipt"
    assert BackfillRequest(ranges=[(1, 2)], issued_at=T0).highest == 2
