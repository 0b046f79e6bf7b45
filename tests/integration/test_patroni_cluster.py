"""The Patroni cluster of the tests (issue 18): what its settings promise, on real processes.

3 etcd members, 3 Patroni nodes (PostgreSQL 15). One primary, two streaming replicas, one
of them synchronous; a commit has reached the synchronous standby when it returns; after
``kill -9`` of the primary's node the synchronous standby is promoted with every
committed row, and libpq multi-host URLs find the new primary.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
import pytest

from channeltrace.ha import PatroniCluster

pytestmark = pytest.mark.integration


def _lsn(value: str) -> int:
    high, low = value.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def test_one_primary_two_streaming_replicas_and_a_commit_is_on_the_synchronous_standby(
    make_patroni_cluster: Callable[..., PatroniCluster],
) -> None:
    cluster = make_patroni_cluster()
    roles = sorted(m["role"] for m in cluster.members())
    assert roles == ["leader", "replica", "sync_standby"], cluster.members()
    url = cluster.create_database("ct_ha")
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN"
            " ('synchronous_commit', 'synchronous_standby_names', 'wal_log_hints')"
        ).fetchall())  # fmt: skip
        assert settings["synchronous_commit"] == "on"
        assert settings["synchronous_standby_names"] not in ("", None)
        assert settings["wal_log_hints"] == "on"
        conn.execute("CREATE TABLE acked (n int PRIMARY KEY)")
        for n in range(20):
            conn.execute("INSERT INTO acked VALUES (%s)", (n,))
            # The commit returned: the synchronous standby has flushed it already.
            commit_lsn = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
            flushed = conn.execute(
                "SELECT flush_lsn::text FROM pg_stat_replication WHERE sync_state = 'sync'"
            ).fetchone()
            assert commit_lsn is not None
            assert flushed is not None
            assert _lsn(flushed[0]) >= _lsn(commit_lsn[0]) - 8192  # only our own record after
        streaming = conn.execute(
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        ).fetchone()
        assert streaming == (2,)
    # Replicas answer the readers' URL and are read-only. A commit is flushed on the
    # synchronous standby when it returns, not yet replayed: a replica may be a moment behind.
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(cluster.reader_url("ct_ha", "standby")) as conn:
                assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
                if conn.execute("SELECT count(*) FROM acked").fetchone() == (20,):
                    break
        except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
            pass  # the database or table is not replayed there yet
        assert time.monotonic() < deadline, "the replicas never replayed the 20 commits"
        time.sleep(0.1)


def test_kill_9_of_the_primary_promotes_the_synchronous_standby_with_every_commit(
    make_patroni_cluster: Callable[..., PatroniCluster],
) -> None:
    cluster = make_patroni_cluster()
    url = cluster.create_database("ct_ha")
    old = cluster.primary()
    sync = next(m["name"] for m in cluster.members() if m["role"] == "sync_standby")
    committed = 0
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT inet_server_port()").fetchone() == (old.port,)
        conn.execute("CREATE TABLE acked (n int PRIMARY KEY)")
        for n in range(200):
            conn.execute("INSERT INTO acked VALUES (%s)", (n,))
            committed += 1
    killed_at = time.monotonic()
    cluster.kill_node(old)
    new = cluster.wait_for_primary(60, not_member=old.member)
    took = time.monotonic() - killed_at
    assert new.member == sync, f"promoted {new.member}, the synchronous standby was {sync}"
    with psycopg.connect(url, autocommit=True) as conn:
        port = conn.execute("SELECT inet_server_port()").fetchone()
        assert port == (new.port,), f"the writers' URL reached {port}, the primary is {new.port}"
        row = conn.execute("SELECT count(*) FROM acked").fetchone()
        assert row == (committed,), f"after {took:.1f} s: {row} of {committed} commits"
    # The old node comes back as a replica of the new primary (pg_rewind if it must).
    old.start()
    cluster.wait_healthy(90)
    assert cluster.primary().member == new.member
