"""Writing a batch of prepared messages in one transaction, exactly once per (device, seq).

The ingest log row of a message and its data rows commit together, so after a
crash either both exist or neither does; a redelivered message then finds its
ingest log row and is counted as a duplicate instead of being stored twice.

Seqs the device will never get stored, though it really sent them, are *settled* in the same
transaction (``settled_seqs``): authenticated messages refused for good and kept as dead
letters, and seqs a device's backfill answer says it no longer holds. Storage receipts
count them with the stored ones (cloud/ingest/receipts.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cloud.ingest.prepare import Accepted, DeadLetter

__all__ = ["COLUMNS", "MAX_ANSWER_SEQS", "WriteResult", "write_batch"]

_BASE = ("received_at", "tenant_id", "site_id", "device_id", "seq")
# Seqs taken from one list of a backfill answer (a request asks for at most 10,000).
MAX_ANSWER_SEQS = 10_000
COLUMNS: dict[str, tuple[str, ...]] = {
    "readings": ("time", *_BASE, "sensor", "metric", "value", "fault"),
    "stock_counts": ("time", *_BASE, "gtin", "quantity", "location", "method"),
    "scans": ("time", *_BASE, "code", "direction", "reader", "gtin"),
    "custody_inbox": (*_BASE, "event"),
}
_TYPES: dict[str, tuple[str, ...]] = {
    "readings": (
        "timestamptz", "timestamptz", "text", "text", "text", "int8",
        "text", "text", "float8", "text",
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class WriteResult:
    stored: list[Accepted]
    duplicates: list[Accepted]
    dead_letters: list[DeadLetter]
    rows: int


def _split_in_batch(
    accepted: Sequence[Accepted],
) -> tuple[list[Accepted], list[Accepted], list[DeadLetter]]:
    """Resolve repeats of one (device, seq) inside the batch itself."""
    first: dict[tuple[str, int], Accepted] = {}
    dups: list[Accepted] = []
    replays: list[DeadLetter] = []
    for item in accepted:
        key = (item.device_id, item.seq)
        seen = first.get(key)
        if seen is None:
            first[key] = item
        elif seen.digest == item.digest:
            dups.append(item)
        else:
            replays.append(_replay(item))
    return list(first.values()), dups, replays


def _replay(item: Accepted) -> DeadLetter:
    return DeadLetter(
        item.inbound,
        "replay",
        f"{item.device_id} seq {item.seq} was already used for a different message",
        item.device_id,
        item.seq,
        authenticated=True,
    )


def write_batch(
    conn: psycopg.Connection[Any], accepted: Sequence[Accepted], dead: Sequence[DeadLetter]
) -> WriteResult:
    """Store ``accepted`` and ``dead`` in one transaction; the caller acks after it returns."""
    # A fixed lock order keeps concurrent workers from deadlocking on the same rows.
    ordered = sorted(accepted, key=lambda a: (a.device_id, a.seq))
    unique, duplicates, dead_letters = _split_in_batch(ordered)
    dead_letters = [*dead, *dead_letters]
    stored: list[Accepted] = []
    rows = 0
    with conn.transaction(), conn.cursor() as cur:
        if unique:
            inserted = _insert_log(cur, unique)
            conflicts = [a for a in unique if (a.device_id, a.seq) not in inserted]
            stored = [a for a in unique if (a.device_id, a.seq) in inserted]
            if conflicts:
                known = _known_digests(cur, conflicts)
                replayed: set[tuple[str, int]] = set()
                for item in conflicts:
                    if known.get((item.device_id, item.seq)) == item.digest:
                        duplicates.append(item)
                    else:
                        dead_letters.append(_replay(item))
                        replayed.add((item.device_id, item.seq))
                # In-batch copies of a replay are replays too, not duplicates of the stored
                # message (which has other content).
                dead_letters += [_replay(d) for d in duplicates if (d.device_id, d.seq) in replayed]
                duplicates = [d for d in duplicates if (d.device_id, d.seq) not in replayed]
            rows = _copy_rows(cur, stored)
            _update_devices(cur, stored)
        if duplicates:
            cur.executemany(
                "UPDATE ingest_log SET duplicates = duplicates + 1, last_duplicate_at = %s"
                " WHERE device_id = %s AND seq = %s",
                [(d.inbound.received_at, d.device_id, d.seq) for d in duplicates],
            )
        if dead_letters:
            _copy_dead_letters(cur, dead_letters)
            _settle_dead_letters(cur, dead_letters)
    return WriteResult(stored, duplicates, dead_letters, rows)


def _settle_dead_letters(cur: psycopg.Cursor[Any], letters: Sequence[DeadLetter]) -> None:
    """A message the device signed but the cloud refuses for good (its bytes are kept in
    dead_letters) will not be stored however often it is sent: settle its seq, so that the
    device's receipt frees it. Unauthenticated letters settle nothing: anyone can send those."""
    settled = sorted(
        {(d.device_id, d.seq) for d in letters
         if d.authenticated and d.device_id is not None and d.seq is not None}
    )  # fmt: skip
    if settled:
        cur.execute(
            "INSERT INTO settled_seqs (device_id, seq, reason)"
            " SELECT s.device_id, s.seq, 'dead_letter'"
            " FROM unnest(%s::text[], %s::int8[]) AS s(device_id, seq)"
            " JOIN devices d ON d.id = s.device_id ON CONFLICT DO NOTHING",
            ([d for d, _ in settled], [q for _, q in settled]),
        )


def _insert_log(cur: psycopg.Cursor[Any], items: Sequence[Accepted]) -> set[tuple[str, int]]:
    cur.execute(
        "INSERT INTO ingest_log (device_id, seq, kind, digest, received_at, device_sent_at,"
        " clock_skew_s, skew_flagged, item_count)"
        " SELECT * FROM unnest(%s::text[], %s::int8[], %s::text[], %s::bytea[],"
        " %s::timestamptz[], %s::timestamptz[], %s::float8[], %s::bool[], %s::int4[])"
        " ON CONFLICT (device_id, seq) DO NOTHING RETURNING device_id, seq",
        (
            [a.device_id for a in items],
            [a.seq for a in items],
            [a.kind for a in items],
            [a.digest for a in items],
            [a.inbound.received_at for a in items],
            [a.sent_at for a in items],
            [a.clock_skew_s for a in items],
            [a.skew_flagged for a in items],
            [a.item_count for a in items],
        ),
    )
    return {(str(r[0]), int(r[1])) for r in cur.fetchall()}


def _known_digests(
    cur: psycopg.Cursor[Any], items: Sequence[Accepted]
) -> dict[tuple[str, int], bytes]:
    cur.execute(
        "SELECT l.device_id, l.seq, l.digest FROM ingest_log l"
        " JOIN unnest(%s::text[], %s::int8[]) AS k(device_id, seq)"
        " ON l.device_id = k.device_id AND l.seq = k.seq",
        ([a.device_id for a in items], [a.seq for a in items]),
    )
    return {(str(r[0]), int(r[1])): bytes(r[2]) for r in cur.fetchall()}


def _copy_rows(cur: psycopg.Cursor[Any], items: Sequence[Accepted]) -> int:
    total = 0
    for table, columns in COLUMNS.items():
        batch = [row for item in items for row in item.rows.get(table, ())]
        if not batch:
            continue
        types = _TYPES.get(table)
        fmt = " (FORMAT BINARY)" if types else ""
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN{fmt}"
        with cur.copy(statement.encode()) as copy:
            if types:
                copy.set_types(list(types))
            for row in batch:
                copy.write_row(_adapt(table, row))
        total += len(batch)
    return total


def _adapt(table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    if table == "custody_inbox":
        return (*row[:-1], Jsonb(row[-1]))
    return row


def _update_devices(cur: psycopg.Cursor[Any], items: Sequence[Accepted]) -> None:
    last_seen: dict[str, datetime] = {}
    for item in items:
        seen = last_seen.get(item.device_id)
        if seen is None or item.inbound.received_at > seen:
            last_seen[item.device_id] = item.inbound.received_at
    if last_seen:
        # One statement for the batch, not one per device. Rows are locked in id order
        # first, so that two workers updating the same devices cannot deadlock.
        ordered = sorted(last_seen.items())
        cur.execute(
            "SELECT 1 FROM devices WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
            ([device for device, _ in ordered],),
        )
        cur.execute(
            "UPDATE devices d SET last_seen_at = GREATEST(d.last_seen_at, s.ts)"
            " FROM unnest(%s::text[], %s::timestamptz[]) AS s(id, ts) WHERE d.id = s.id",
            ([device for device, _ in ordered], [ts for _, ts in ordered]),
        )
    for item in sorted((i for i in items if i.state is not None), key=lambda i: i.seq):
        _apply_state(cur, item)


def _apply_state(cur: psycopg.Cursor[Any], item: Accepted) -> None:
    """Online/offline from birth, heartbeat and death, robust to late and repeated messages.

    A birth opens a session and names the seq of that session's last will; only that
    will (or the agent's own clean death, which reuses its bytes) closes the session.
    Late messages of older sessions change nothing.
    """
    state = item.state
    assert state is not None
    doc = Jsonb(json.loads(state.model_dump_json(exclude_none=True)))
    if state.health is not None and state.health.evicted_seqs:
        # Heartbeats carry only the latest evictions: keep every one the gap job must
        # tell from a loss, whenever it runs.
        cur.execute(
            "INSERT INTO evicted_seqs (device_id, seq) SELECT %s, unnest(%s::int8[])"
            " ON CONFLICT DO NOTHING",
            (item.device_id, list(state.health.evicted_seqs)),
        )
    if state.backfill is not None:
        _record_backfill_answer(cur, item.device_id, state)
    if state.status == "alarm" and state.alarm is not None:
        alarm = state.alarm
        cur.execute(
            "INSERT INTO device_alarms (device_id, seq, sensor, metric, state, bound,"
            " limit_value, value, time, received_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (item.device_id, item.seq, alarm.sensor, alarm.metric.value, alarm.state,
             alarm.bound, alarm.limit, alarm.value, alarm.ts, item.inbound.received_at),
        )  # fmt: skip
        return
    if state.status == "online":
        cur.execute(
            "UPDATE devices SET status = 'online', last_state = %s,"
            " will_seq = COALESCE(%s, will_seq), state_seq = %s"
            " WHERE id = %s AND (will_seq IS NULL OR will_seq < %s)",
            (doc, state.will_seq, item.seq, item.device_id, state.will_seq or item.seq),
        )
    elif state.status == "heartbeat":
        cur.execute(
            "UPDATE devices SET status = 'online', last_state = %s, state_seq = %s"
            " WHERE id = %s AND status IN ('online', 'registered')"
            " AND (state_seq IS NULL OR state_seq < %s)",
            (doc, item.seq, item.device_id, item.seq),
        )
    elif state.status == "offline":
        cur.execute(
            # Remembering the will's seq makes a late birth of the same session a no-op.
            "UPDATE devices SET status = 'offline', last_state = %s,"
            " will_seq = GREATEST(will_seq, %s)"
            " WHERE id = %s AND status <> 'retired' AND (will_seq IS NULL OR will_seq <= %s)",
            (doc, item.seq, item.device_id, item.seq),
        )


def _record_backfill_answer(cur: psycopg.Cursor[Any], device_id: str, state: Any) -> None:
    """What the device said it no longer holds: evicted seqs (not a loss) and not held ones
    (lost); both settle the seqs for receipts. Resent seqs arrive as ordinary messages."""
    answer = state.backfill
    for table, ranges, extra in (
        ("evicted_seqs", answer.evicted, ""),
        ("settled_seqs", answer.not_held, ", 'not_held'"),
    ):
        if not ranges:
            continue
        columns = "(device_id, seq, reason)" if extra else "(device_id, seq)"
        cur.execute(
            f"INSERT INTO {table} {columns}"  # noqa: S608 - table names are ours, values bound
            f" SELECT %s, s{extra} FROM ("
            "  SELECT generate_series(r.lo, r.hi) AS s"
            "  FROM unnest(%s::int8[], %s::int8[]) AS r(lo, hi) LIMIT %s) q"
            " ON CONFLICT DO NOTHING",
            (device_id, [lo for lo, _ in ranges], [hi for _, hi in ranges], MAX_ANSWER_SEQS),
        )


def _copy_dead_letters(cur: psycopg.Cursor[Any], items: Sequence[DeadLetter]) -> None:
    with cur.copy(
        b"COPY dead_letters (received_at, topic, reason, detail, device_id, seq, payload)"
        b" FROM STDIN"
    ) as copy:
        for d in items:
            copy.write_row(
                (
                    d.inbound.received_at,
                    _text(d.inbound.topic),
                    d.reason,
                    _text(d.detail),
                    d.device_id,
                    d.seq,
                    d.inbound.data,
                )
            )


def _text(value: str) -> str:
    """PostgreSQL text cannot hold U+0000; keep the evidence visible instead."""
    return value.replace("\x00", "\\x00")
