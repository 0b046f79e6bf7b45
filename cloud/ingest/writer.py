"""The database side of an ingest worker: commit prepared batches, whatever it takes.

A batch is written in one transaction (:func:`cloud.ingest.store.write_batch`). While the
database is unreachable, or changing primaries (a Patroni failover), the writer waits and
retries with backoff (:func:`cloud.db.retrying`), holding the batch unacknowledged, so the
broker stops sending (Receive Maximum) instead of RAM filling up. A commit whose outcome is
unknown (the connection broke during COMMIT) is retried like any other: ``(device, seq)``
absorbs the repeat, and nothing is acknowledged until a commit has returned, which with
synchronous replication means the synchronous standby has it too.
A batch the database *refuses* (a constraint, a missing partition) is split to find the
poison message, which becomes an ``unstorable`` dead letter, so one bad row never blocks
the stream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import tenacity

from cloud.db import is_transient, retrying
from cloud.ingest.prepare import Accepted, DeadLetter
from cloud.ingest.store import WriteResult, write_batch

__all__ = ["UNSTORABLE", "BatchWriter", "write_one_by_one"]

_logger = logging.getLogger(__name__)
UNSTORABLE = "unstorable"


def write_one_by_one(
    conn: psycopg.Connection[Any], accepted: list[Accepted], dead: list[DeadLetter]
) -> WriteResult:
    """Write each message in its own transaction; refused ones become dead letters."""
    results: list[WriteResult] = []
    for item in accepted:
        try:
            results.append(write_batch(conn, [item], []))
        except psycopg.Error as exc:
            if is_transient(exc):
                raise  # the database, not the message: the whole batch is retried
            letter = DeadLetter(
                item.inbound, UNSTORABLE, f"database refused it: {exc}", item.device_id, item.seq,
                authenticated=True,
            )  # fmt: skip
            results.append(write_batch(conn, [], [letter]))
    results.append(write_batch(conn, [], dead))
    return WriteResult(
        stored=[a for r in results for a in r.stored],
        duplicates=[a for r in results for a in r.duplicates],
        dead_letters=[d for r in results for d in r.dead_letters],
        rows=sum(r.rows for r in results),
    )


class BatchWriter:
    """Owns one connection; :meth:`write` returns only once the batch is committed."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        *,
        on_retry: Callable[[], None] = lambda: None,
    ) -> None:
        self._connect = connect
        self._on_retry = on_retry
        self._conn: psycopg.Connection[Any] | None = None

    def write(
        self, accepted: list[Accepted], dead: list[DeadLetter], stop: threading.Event
    ) -> WriteResult | None:
        """Commit, retrying while the database is down; None only if ``stop`` came first."""
        try:
            for attempt in retrying(what="ingest commit", stop=stop, on_retry=self._retried):
                with attempt:
                    return self._write_once(accepted, dead)
        except tenacity.RetryError:
            return None  # stopped while waiting for the database: nothing acknowledged
        return None  # pragma: no cover - the loop returns or raises

    def _write_once(self, accepted: list[Accepted], dead: list[DeadLetter]) -> WriteResult:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            try:
                return write_batch(self._conn, accepted, dead)
            except psycopg.Error as exc:
                if is_transient(exc):
                    raise
                _logger.error("batch refused by the database (%s); isolating", exc)
                return write_one_by_one(self._conn, accepted, dead)
        except psycopg.Error as exc:
            if is_transient(exc):
                self.close()  # a new connection finds the primary, wherever it is now
            raise

    def _retried(self, _exc: BaseException) -> None:
        self._on_retry()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
