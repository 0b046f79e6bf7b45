"""Per-device sequence gaps from ingest_log, with evictions told apart from losses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from cloud import storage
from cloud.migrate import migrate
from tests.cloud.storage._data import DEVICE, T0, seed

pytestmark = pytest.mark.integration


def log(conn: psycopg.Connection[Any], seqs: Iterable[int], device: str = DEVICE) -> None:
    conn.execute(
        "INSERT INTO ingest_log (device_id, seq, kind, digest, received_at, item_count)"
        " SELECT %s, s, 'telemetry', '\\x00', %s, 1 FROM unnest(%s::int8[]) AS s",
        (device, T0, list(seqs)),
    )


def gaps(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT device_id, from_seq, to_seq, evicted_seqs, lost_seqs, backfilled_at IS NOT NULL"
        " FROM ingest_gaps ORDER BY device_id, from_seq, to_seq"
    ).fetchall()


def test_gaps_are_found_backfilled_and_split(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seed(conn, devices=(DEVICE, "dev-2"))
        log(conn, [3, 4, 5, 9, 10, 15])  # history starts at 3: nothing before it is a gap
        log(conn, [1, 2], device="dev-2")
        assert storage.detect_gaps(conn) == 2
        assert gaps(conn) == [(DEVICE, 6, 8, 0, 3, False), (DEVICE, 11, 14, 0, 4, False)]

        # Nothing new: nothing changes. Then a late delivery fills part of 11..14 and the
        # device moves on with a fresh gap after its last checked seq.
        assert storage.detect_gaps(conn) == 0
        log(conn, [12, 13, 18])
        log(conn, [4_000], device="dev-2")
        assert storage.detect_gaps(conn) == 4
        assert gaps(conn) == [
            (DEVICE, 6, 8, 0, 3, False),
            (DEVICE, 11, 11, 0, 1, False),
            (DEVICE, 11, 14, 0, 4, True),
            (DEVICE, 14, 14, 0, 1, False),
            (DEVICE, 16, 17, 0, 2, False),
            ("dev-2", 3, 3_999, 0, 3_997, False),
        ]
        log(conn, [6, 7, 8])
        storage.detect_gaps(conn)
        assert (DEVICE, 6, 8, 0, 3, True) in gaps(conn)


def test_evicted_seqs_from_heartbeats_are_not_losses(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seed(conn)
        log(conn, [1, 2, 7, 8])
        storage.detect_gaps(conn)
        assert gaps(conn) == [(DEVICE, 3, 6, 0, 4, False)]
        # The heartbeat reporting the eviction may come after the gap was seen.
        state = {"status": "heartbeat", "health": {"outbox_depth": 0, "evicted_seqs": [3, 4, 5]}}
        conn.execute("UPDATE devices SET last_state = %s WHERE id = %s", (Jsonb(state), DEVICE))
        storage.detect_gaps(conn)
        assert gaps(conn) == [(DEVICE, 3, 6, 3, 1, False)]
