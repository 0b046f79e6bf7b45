"""The log in real PostgreSQL: batched appends, atomicity, concurrent appenders, proofs."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from ledger import InMemoryNodeStore, MerkleTree, verify_consistency, verify_inclusion
from ledger.canonical import canonical_bytes, event_leaf_hash
from ledger.errors import StoreError, TreeError
from ledger.hashing import leaf_hash
from ledger.service.pg_store import PgLog
from tests.ledger._events import custody_event

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]


def reference_tree(events: list[dict[str, Any]]) -> MerkleTree:
    tree = MerkleTree(InMemoryNodeStore())
    tree.append_many(event_leaf_hash(e) for e in events)
    return tree


def test_batch_append_matches_the_in_memory_tree(conn: Conn) -> None:
    log = PgLog(conn)
    events = [custody_event(i) for i in range(1_000)]
    first = log.append(events[:1])
    rest = log.append(events[1:])
    assert (first.first_index, rest.first_index, rest.size) == (0, 1, 1_000)
    ref = reference_tree(events)
    head = log.head()
    assert (head.size, head.root) == (1_000, ref.root())
    tree = log.tree()
    for size in (1, 2, 3, 7, 8, 513, 1_000):
        assert tree.root(size) == ref.root(size)
    for index in (0, 1, 500, 998, 999):
        proof = tree.inclusion_proof(index, 777 if index < 777 else 1_000)
        size = 777 if index < 777 else 1_000
        assert proof == ref.inclusion_proof(index, size)
        verify_inclusion(event_leaf_hash(events[index]), index, size, proof, ref.root(size))
    proof = tree.consistency_proof(333, 1_000)
    verify_consistency(333, 1_000, proof, ref.root(333), ref.root(1_000))


def test_entries_keep_canonical_bytes_and_event(conn: Conn) -> None:
    log = PgLog(conn)
    event = {"b": [1.0, 2], "a": "東京", "c": {"y": None, "x": True}}
    log.append([event])
    entry = log.entry(0)
    assert (
        entry.canonical
        == canonical_bytes(event)
        == '{"a":"東京","b":[1,2],"c":{"x":true,"y":null}}'.encode()
    )
    assert entry.leaf_hash == event_leaf_hash(event)
    assert canonical_bytes(entry.event) == entry.canonical
    assert log.index_of(entry.leaf_hash) == 0
    with pytest.raises(TreeError, match="no entry"):
        log.index_of(b"\x00" * 32)


def test_a_failed_batch_leaves_nothing_behind(conn: Conn) -> None:
    log = PgLog(conn)
    log.append([custody_event(i) for i in range(5)])
    before = log.head()
    # A row squatting on the next index makes the batch's COPY fail half-way through.
    conn.execute(
        "INSERT INTO ledger_entries (idx, leaf_hash, canonical, event) VALUES (7, %s, '', '{}')",
        (b"\x00" * 32,),
    )
    with pytest.raises(StoreError, match="appending 10 entries failed"):
        log.append([custody_event(i) for i in range(5, 15)])
    assert log.head() == before
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM ledger_nodes)"
    ).fetchone()
    assert counts == (6, 5 + 2 + 1)  # 5 leaves + nodes of sizes 2, 4; plus the squatter
    conn.execute("DELETE FROM ledger_entries WHERE idx = 7")
    log.append([custody_event(i) for i in range(5, 15)])
    assert log.head().root == reference_tree([custody_event(i) for i in range(15)]).root()


def test_append_inside_a_caller_transaction_commits_with_it(conn: Conn) -> None:
    log = PgLog(conn)

    def fail_after_append() -> None:
        with conn.transaction():
            log.append([custody_event(1)])
            raise RuntimeError("the caller's transaction fails after the append")

    with pytest.raises(RuntimeError):
        fail_after_append()
    assert log.head().size == 0
    with conn.transaction():
        log.append([custody_event(1)])
    assert log.head().size == 1


def test_concurrent_appenders_give_one_consistent_tree(ledger_db: str) -> None:
    writers, batches, per_batch = 4, 10, 50
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(w: int) -> None:
        try:
            with psycopg.connect(ledger_db, autocommit=True) as c:
                log = PgLog(c)
                start.wait()
                for b in range(batches):
                    base = (w * batches + b) * per_batch
                    log.append([custody_event(base + i) for i in range(per_batch)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(ledger_db, autocommit=True) as c:
        rows = c.execute("SELECT canonical FROM ledger_entries ORDER BY idx").fetchall()
        head = PgLog(c).head()
        # Batches are contiguous: each batch of 50 landed in one run of indices.
        assert len(rows) == head.size == writers * batches * per_batch
        ref = MerkleTree(InMemoryNodeStore())
        ref.append_many(leaf_hash(bytes(r[0])) for r in rows)
        assert head.root == ref.root()
        assert PgLog(c).tree().root() == ref.root()
        firsts = c.execute(
            "SELECT idx, canonical FROM ledger_entries WHERE idx %% %s = 0 ORDER BY idx",
            (per_batch,),
        ).fetchall()
        for idx, canonical in firsts:
            batch = c.execute(
                "SELECT canonical FROM ledger_entries WHERE idx >= %s AND idx < %s ORDER BY idx",
                (idx, idx + per_batch),
            ).fetchall()
            numbers = [int(bytes(b[0]).split(b"/21/")[1][:8]) for b in batch]
            assert numbers == list(range(numbers[0], numbers[0] + per_batch))
            assert bytes(canonical) == bytes(batch[0][0])
