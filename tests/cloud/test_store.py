"""Exactly-once storage of prepared batches in real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from cloud.ingest.prepare import Accepted, DeadLetter, Inbound, prepare
from cloud.ingest.store import WriteResult, write_batch
from cloud.migrate import migrate
from cloud.registry import register_device
from wire import Kind, Metric, Reading, TelemetryBatch, seal

from ._messages import T0, Device, events, state, stock, telemetry

pytestmark = pytest.mark.integration


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
    # Not autocommit, like the ingest worker: write_batch must commit on its own.
    with psycopg.connect(db) as connection:
        yield connection


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read through a separate connection, so only committed data is seen."""
    with psycopg.connect(url, autocommit=True) as other:
        return other.execute(sql, params).fetchall()


def count(url: str, table: str) -> int:
    return int(query(url, f"SELECT count(*) FROM {table}")[0][0])


def write(
    conn: psycopg.Connection[Any], *accepted: Accepted, dead: tuple[DeadLetter, ...] = ()
) -> WriteResult:
    return write_batch(conn, list(accepted), list(dead))


# --- exactly once -------------------------------------------------------------------------


def test_rows_are_stored_once_with_their_ingest_log(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    a = device.accept(device.inbound(Kind.TELEMETRY, 1, telemetry(4.0, 4.5, 5.0)))
    b = device.accept(device.inbound(Kind.STOCK, 2, stock()))
    c = device.accept(device.inbound(Kind.EVENTS, 3, events("shipping")))

    result = write(conn, a, b, c)

    assert [s.seq for s in result.stored] == [1, 2, 3]
    assert (result.duplicates, result.dead_letters, result.rows) == ([], [], 3 + 3 + 1)
    assert query(db, "SELECT time, device_id, seq, sensor, metric, value FROM readings"
                     " ORDER BY time") == [
        (T0 + timedelta(seconds=i), "gw-0001", 1, "probe-1", "temperature_c", v)
        for i, v in enumerate((4.0, 4.5, 5.0))
    ]  # fmt: skip
    assert (count(db, "stock_counts"), count(db, "scans"), count(db, "custody_inbox")) == (1, 2, 1)
    assert query(db, "SELECT event FROM custody_inbox") == [
        ({"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping"},)
    ]
    log = query(db, "SELECT seq, kind, digest, item_count, duplicates FROM ingest_log ORDER BY seq")
    assert log == [
        (1, "telemetry", a.digest, 3, 0),
        (2, "stock", b.digest, 3, 0),
        (3, "events", c.digest, 1, 0),
    ]
    assert query(db, "SELECT last_seen_at FROM devices") == [(a.inbound.received_at,)]


def test_faulted_reading_is_stored_with_null_value(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    batch = TelemetryBatch(
        sent_at=T0,
        readings=[Reading(sensor="p1", metric=Metric.HUMIDITY_PCT, ts=T0, value=None, fault="crc")],
    )
    write(conn, device.accept(device.inbound(Kind.TELEMETRY, 1, batch)))
    assert query(db, "SELECT value, fault FROM readings") == [(None, "crc")]


def test_skew_and_both_times_are_logged(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    sent_at = T0 - timedelta(hours=1)
    inbound = device.inbound(Kind.TELEMETRY, 1, telemetry(1.0, sent_at=sent_at), received_at=T0)
    write(conn, device.accept(inbound))
    assert query(
        db, "SELECT received_at, device_sent_at, clock_skew_s, skew_flagged FROM ingest_log"
    ) == [(T0, sent_at, 3600.0, True)]


def test_redelivery_is_a_duplicate_not_new_rows(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    inbound = device.inbound(Kind.TELEMETRY, 1, telemetry(4.0, 4.5))
    write(conn, device.accept(inbound))

    again = Inbound(inbound.topic, inbound.data, inbound.received_at + timedelta(minutes=1))
    result = write(conn, device.accept(again))
    result_2 = write(conn, device.accept(again))

    assert result.stored == []
    assert result_2.stored == []
    assert [d.seq for d in result.duplicates] == [1]
    assert (result.rows, result.dead_letters) == (0, [])
    assert count(db, "readings") == 2
    assert query(db, "SELECT duplicates, last_duplicate_at FROM ingest_log") == [
        (2, again.received_at)
    ]
    assert count(db, "dead_letters") == 0


def test_different_content_under_a_used_seq_is_a_replay(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    write(conn, device.accept(device.inbound(Kind.TELEMETRY, 1, telemetry(4.0))))
    forged = device.inbound(Kind.TELEMETRY, 1, telemetry(-30.0))  # validly signed, seq reused

    result = write(conn, device.accept(forged))

    assert (result.stored, result.duplicates) == ([], [])
    assert [(d.reason, d.device_id, d.seq) for d in result.dead_letters] == [
        ("replay", "gw-0001", 1)
    ]
    assert query(db, "SELECT value FROM readings") == [(4.0,)]
    assert query(db, "SELECT reason, device_id, seq, topic, payload FROM dead_letters") == [
        ("replay", "gw-0001", 1, forged.topic, forged.data)
    ]
    assert query(db, "SELECT duplicates FROM ingest_log") == [(0,)]


def test_repeats_inside_one_batch(conn: psycopg.Connection[Any], db: str, device: Device) -> None:
    first = device.inbound(Kind.TELEMETRY, 1, telemetry(4.0))
    other = device.inbound(Kind.TELEMETRY, 1, telemetry(99.0))
    second = device.inbound(Kind.TELEMETRY, 2, telemetry(5.0))
    batch = [device.accept(i) for i in (first, first, other, second, first)]

    result = write(conn, *batch)

    assert [s.seq for s in result.stored] == [1, 2]
    assert [d.seq for d in result.duplicates] == [1, 1]
    assert [(d.reason, d.seq, d.inbound.data) for d in result.dead_letters] == [
        ("replay", 1, other.data)
    ]
    assert query(db, "SELECT seq, value FROM readings ORDER BY seq") == [(1, 4.0), (2, 5.0)]
    assert query(db, "SELECT seq, duplicates FROM ingest_log ORDER BY seq") == [(1, 2), (2, 0)]
    assert query(db, "SELECT reason, seq FROM dead_letters") == [("replay", 1)]


def test_new_and_known_messages_mixed_in_one_batch(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    old = device.inbound(Kind.TELEMETRY, 1, telemetry(1.0))
    write(conn, device.accept(old))
    new = device.inbound(Kind.TELEMETRY, 2, telemetry(2.0))
    forged = device.inbound(Kind.TELEMETRY, 1, telemetry(3.0))

    result = write(conn, device.accept(new), device.accept(old), device.accept(forged))

    assert [s.seq for s in result.stored] == [2]
    assert [d.seq for d in result.duplicates] == [1]
    assert [d.reason for d in result.dead_letters] == ["replay"]
    assert query(db, "SELECT seq, value FROM readings ORDER BY seq") == [(1, 1.0), (2, 2.0)]


def test_replay_repeated_inside_one_batch_is_not_counted_as_a_duplicate(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    write(conn, device.accept(device.inbound(Kind.TELEMETRY, 1, telemetry(4.0))))
    forged = device.accept(device.inbound(Kind.TELEMETRY, 1, telemetry(-30.0)))

    result = write(conn, forged, forged)

    assert result.duplicates == []
    assert [(d.reason, d.seq) for d in result.dead_letters] == [("replay", 1), ("replay", 1)]
    assert query(db, "SELECT duplicates FROM ingest_log") == [(0,)]
    assert query(db, "SELECT count(*) FROM dead_letters WHERE reason = 'replay'") == [(2,)]


# --- dead letters -------------------------------------------------------------------------


def test_dead_letters_keep_reason_detail_and_raw_bytes(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    raw = b"\x00CT\x00\x01\xff garbage \x00\x00"
    letters = []
    for topic, data in ((str(device.topic(Kind.TELEMETRY)), raw), ("ct/v1/x", b"\x00")):
        result = prepare(Inbound(topic, data, T0), lambda _d: None, skew_flag_seconds=60)
        assert isinstance(result, DeadLetter)
        letters.append(result)

    written = write(conn, dead=tuple(letters))

    assert written.dead_letters == letters
    stored = query(
        db, "SELECT received_at, topic, reason, detail, device_id, seq, payload"
        " FROM dead_letters ORDER BY id"
    )  # fmt: skip
    assert stored == [
        (T0, d.inbound.topic, d.reason, d.detail, None, None, d.inbound.data) for d in letters
    ]
    assert bytes(stored[0][6]) == raw
    assert count(db, "ingest_log") == 0


def test_dead_letters_and_accepted_commit_together(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    good = device.accept(device.inbound(Kind.TELEMETRY, 1, telemetry(1.0)))
    bad = prepare(
        Inbound(str(device.topic(Kind.TELEMETRY)), b"junk", T0), lambda _d: None,
        skew_flag_seconds=60,
    )  # fmt: skip
    assert isinstance(bad, DeadLetter)

    write(conn, good, dead=(bad,))

    assert (count(db, "readings"), count(db, "dead_letters"), count(db, "ingest_log")) == (1, 1, 1)


def test_nul_character_in_a_signed_payload_is_dead_lettered_not_poisoning(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    good = device.accept(device.inbound(Kind.TELEMETRY, 1, telemetry(1.0)))
    batch = TelemetryBatch(
        sent_at=T0,
        readings=[Reading(sensor="p1", metric=Metric.HUMIDITY_PCT, ts=T0, fault="bad\x00")],
    )
    inbound = device.inbound(Kind.TELEMETRY, 2, batch)
    letter = prepare(inbound, lambda _d: device.identity, skew_flag_seconds=60)
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "malformed"
    assert "U+0000" in letter.detail

    write(conn, good, dead=(letter,))

    assert count(db, "readings") == 1
    assert query(db, "SELECT reason, payload FROM dead_letters") == [("malformed", inbound.data)]


def test_nul_character_in_dead_letter_text_is_escaped(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    topic = device.topic(Kind.TELEMETRY)
    inbound = Inbound(str(topic) + "\x00", seal(topic, 1, b"{}", device.key), T0)
    letter = DeadLetter(inbound, "malformed", "detail with \x00 inside")

    write(conn, dead=(letter,))

    assert query(db, "SELECT topic, detail, payload FROM dead_letters") == [
        (str(topic) + "\\x00", "detail with \\x00 inside", inbound.data)
    ]


def test_content_the_database_refuses_is_isolated_not_blocking(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    """A poison message (one PostgreSQL refuses) becomes a dead letter; the rest is stored."""
    from dataclasses import replace

    from cloud.ingest.writer import write_one_by_one

    good = device.accept(device.inbound(Kind.TELEMETRY, 1, telemetry(1.0)))
    template = device.accept(device.inbound(Kind.TELEMETRY, 2, telemetry(2.0)))
    row = template.rows["readings"][0]
    # Bypass prepare's checks to simulate content only the database refuses.
    poison = replace(template, rows={"readings": [(*row[:6], "p\x00", *row[7:])]})
    with pytest.raises(psycopg.DataError):
        write(conn, good, poison)

    result = write_one_by_one(conn, [good, poison], [])

    assert [a.seq for a in result.stored] == [1]
    assert [(d.reason, d.seq) for d in result.dead_letters] == [("unstorable", 2)]
    assert count(db, "readings") == 1
    assert query(db, "SELECT reason, payload FROM dead_letters") == [
        ("unstorable", poison.inbound.data)
    ]


# --- device state ------------------------------------------------------------------------


class States:
    """Feeds state messages of one device through prepare + write_batch."""

    def __init__(self, conn: psycopg.Connection[Any], db: str, device: Device) -> None:
        self.conn, self.db, self.device = conn, db, device

    def send(self, seq: int, status: str, *, will_seq: int | None = None) -> str:
        message = state(status, will_seq=will_seq, ts=T0 + timedelta(seconds=seq))
        write(self.conn, self.device.accept(self.device.inbound(Kind.STATE, seq, message)))
        return self.status

    @property
    def status(self) -> str:
        return str(query(self.db, "SELECT status FROM devices")[0][0])


@pytest.fixture
def states(conn: psycopg.Connection[Any], db: str, device: Device) -> States:
    return States(conn, db, device)


def test_session_lifecycle(states: States, db: str) -> None:
    assert states.status == "registered"
    assert states.send(2, "online", will_seq=1) == "online"  # the will's seq is reserved first
    assert states.send(3, "heartbeat") == "online"
    assert states.send(1, "offline") == "offline"  # the will of this session fires
    assert states.send(4, "heartbeat") == "offline"  # late heartbeat of the closed session
    assert states.send(6, "online", will_seq=5) == "online"  # a new session
    assert query(db, "SELECT will_seq, last_state->>'status' FROM devices") == [(5, "online")]


def test_late_will_of_an_old_session_does_not_close_the_new_one(states: States) -> None:
    assert states.send(2, "online", will_seq=1) == "online"
    assert states.send(4, "online", will_seq=3) == "online"  # reconnected; old will never seen
    assert states.send(1, "offline") == "online"  # the old will arrives late
    assert states.send(5, "heartbeat") == "online"
    assert states.send(3, "offline") == "offline"  # the current will does close it


def test_late_birth_of_a_closed_session_does_not_revive_it(states: States) -> None:
    assert states.send(4, "online", will_seq=3) == "online"
    assert states.send(3, "offline") == "offline"
    assert states.send(2, "online", will_seq=1) == "offline"  # birth of an older session


def test_heartbeat_without_birth_marks_online(states: States) -> None:
    # A gateway whose birth was lost still shows it is alive.
    assert states.send(1, "heartbeat") == "online"


def test_state_repeated_in_one_batch_is_applied_once(
    conn: psycopg.Connection[Any], states: States, device: Device
) -> None:
    birth = device.accept(device.inbound(Kind.STATE, 2, state("online", will_seq=1)))
    will = device.accept(device.inbound(Kind.STATE, 1, state("offline")))
    result = write(conn, birth, will, birth)
    assert sorted(s.seq for s in result.stored) == [1, 2]
    assert len(result.duplicates) == 1
    # State is applied in seq order: the will (seq 1) already closes the session that the
    # birth (seq 2) opened, so the birth must not reopen it.
    assert states.status == "offline"


# --- concurrency --------------------------------------------------------------------------


def write_retrying(db: str, batch: list[Accepted]) -> WriteResult:
    """What the ingest worker does: a rolled-back transaction (deadlock) is retried."""
    with psycopg.connect(db) as conn:
        for _attempt in range(5):
            try:
                return write_batch(conn, batch, [])
            except psycopg.errors.TransactionRollback:
                continue
    raise AssertionError("write_batch kept rolling back")


@pytest.mark.parametrize("reverse_second", [False, True], ids=["same-order", "reverse-order"])
def test_concurrent_writers_store_each_seq_exactly_once(
    db: str, device: Device, reverse_second: bool
) -> None:
    prepared = [
        device.accept(device.inbound(Kind.TELEMETRY, seq, telemetry(float(seq))))
        for seq in range(1, 41)
    ]
    # Two workers received overlapping redeliveries: seqs 1-30 and 11-40.
    batches = [prepared[:30], prepared[10:][:: -1 if reverse_second else 1]]
    barrier = threading.Barrier(len(batches))
    results: list[WriteResult] = []
    errors: list[BaseException] = []

    def worker(batch: list[Accepted]) -> None:
        try:
            barrier.wait()
            results.append(write_retrying(db, batch))
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    stored = sorted(a.seq for r in results for a in r.stored)
    duplicates = sorted(a.seq for r in results for a in r.duplicates)
    assert stored == list(range(1, 41))
    assert duplicates == list(range(11, 31))
    assert all(r.dead_letters == [] for r in results)
    assert query(db, "SELECT seq, count(*) FROM readings GROUP BY seq ORDER BY seq") == [
        (seq, 1) for seq in range(1, 41)
    ]
    assert query(db, "SELECT sum(duplicates) FROM ingest_log") == [(20,)]


def test_heartbeat_evicted_seqs_are_kept_for_the_gap_job(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    from wire import Health, StateMessage

    def heartbeat(seq: int, evicted: list[int]) -> Accepted:
        message = StateMessage(
            status="heartbeat",
            ts=T0 + timedelta(seconds=seq),
            health=Health(outbox_depth=0, evicted_readings=len(evicted), evicted_seqs=evicted),
        )
        return device.accept(device.inbound(Kind.STATE, seq, message))

    write(conn, heartbeat(10, [2, 3, 4]))
    write(conn, heartbeat(11, [3, 4, 7]))  # overlaps the previous report

    assert query(db, "SELECT seq FROM evicted_seqs ORDER BY seq") == [(2,), (3,), (4,), (7,)]


def test_device_alarms_are_stored_once(
    conn: psycopg.Connection[Any], db: str, device: Device
) -> None:
    from wire import StateMessage
    from wire.models import AlarmEvent

    alarm = AlarmEvent(sensor="p1", metric=Metric.TEMPERATURE_C, state="raised", bound="max",
                       limit=18.0, value=19.5, ts=T0)  # fmt: skip
    message = StateMessage(status="alarm", ts=T0, alarm=alarm)
    accepted = device.accept(device.inbound(Kind.STATE, 12, message))
    write(conn, accepted)
    write(conn, accepted)  # redelivered

    assert query(db, "SELECT sensor, state, bound, limit_value, value FROM device_alarms") == [
        ("p1", "raised", "max", 18.0, 19.5)
    ]
    # An alarm says nothing about the session: status is untouched.
    assert query(db, "SELECT status FROM devices") == [("registered",)]
