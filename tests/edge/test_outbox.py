"""Tests of the durable outbox: round trips, sequence numbers, eviction, crashes, threads."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from edge.errors import EdgeError, OutboxError
from edge.outbox import EVICTABLE_KINDS, Kind, Outbox, OutboxMessage, OutboxStats

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


def seal_json(kind: Kind, seq: int, items: list[dict[str, Any]]) -> bytes:
    """Stand-in for signing: the envelope just carries kind, seq and items."""
    return json.dumps({"kind": kind.value, "seq": seq, "items": items}).encode()


def items_of(message: OutboxMessage) -> list[dict[str, Any]]:
    body = json.loads(message.data)
    assert body["seq"] == message.seq
    assert body["kind"] == message.kind
    items: list[dict[str, Any]] = body["items"]
    return items


def drain(box: Outbox) -> list[OutboxMessage]:
    """Seal everything left and return every stored message in seq order."""
    box.seal(seal_json, max_items=1000)
    return box.pending_messages(1_000_000)


def test_add_seal_pending_ack_round_trip(tmp_path: Path) -> None:
    clock = FakeClock()
    with Outbox(tmp_path / "outbox.db", clock=clock) as box:
        box.add(Kind.TELEMETRY, [{"probe": "t1", "c": 4.5}, {"probe": "t2", "c": None}])
        clock.tick()
        box.add("stock", [{"sku": "A", "count": 12}])
        clock.tick(10)
        assert box.stats() == OutboxStats(
            pending_items=3,
            pending_messages=0,
            stored_bytes=box.stats().stored_bytes,
            oldest_age_s=11.0,
            evicted_items=0,
            evicted_messages=0,
            next_seq=1,
        )

        assert box.seal(seal_json, max_items=100) == 2
        messages = box.pending_messages(10)
        # Stock is sealed before telemetry within a round; one sequence across kinds.
        assert [(m.seq, m.kind, m.item_count) for m in messages] == [
            (1, Kind.STOCK, 1),
            (2, Kind.TELEMETRY, 2),
        ]
        assert items_of(messages[1]) == [{"probe": "t1", "c": 4.5}, {"probe": "t2", "c": None}]
        assert messages[1].created_at == 1_000.0  # the oldest item's time, not sealing time
        assert box.stats().pending_items == 0

        box.ack(1)
        box.ack(1)  # a duplicate PUBACK is harmless
        box.ack(999)  # so is an unknown seq
        assert [m.seq for m in box.pending_messages(10)] == [2]
        box.ack(2)
        stats = box.stats()
        assert (stats.pending_messages, stats.stored_bytes, stats.oldest_age_s) == (0, 0, None)
        assert stats.next_seq == 3


def test_free_deletes_receipted_messages_in_one_go(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        box.add("telemetry", [{"i": i} for i in range(6)])
        box.seal(seal_json, max_items=1)
        before = box.stats().stored_bytes
        assert [m.seq for m in box.messages([5, 2, 9, 2])] == [2, 5]  # held ones, by seq
        assert box.free([1, 2, 5, 42]) == 3  # 42 was never there
        assert box.free([1]) == 0  # a repeated receipt frees nothing twice
        assert [m.seq for m in box.pending_messages(10)] == [3, 4, 6]
        assert box.stats().stored_bytes < before
        assert box.free(range(1, 1_200)) == 3  # more seqs than one SQL statement binds
        assert box.stats().stored_bytes == 0


def test_every_reserved_will_seq_ends_up_published(tmp_path: Path) -> None:
    """The armed will becomes an ordinary state message when the next connection arms its
    own (the broker may or may not have fired it) or the agent stops (the death notice)."""
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        first = box.arm_will(lambda seq: f"will-{seq}".encode())
        assert (first.seq, first.data, first.released) == (1, b"will-1", None)
        assert box.pending_messages(10) == []  # armed, not published by us
        box.add("telemetry", [{"i": 1}])
        box.seal(seal_json, max_items=10)  # seq 2
        second = box.arm_will(lambda seq: f"will-{seq}".encode())  # a reconnect
        assert (second.seq, second.released) == (3, 1)
        assert [(m.seq, m.kind, m.data) for m in box.pending_messages(10) if m.seq != 2] == [
            (1, Kind.STATE, b"will-1")
        ]
    with Outbox(path) as box:  # kill -9: the armed will survived; the next start releases it
        third = box.arm_will(lambda seq: f"will-{seq}".encode())
        assert third.released == 3
        assert box.release_will() == 4  # a clean stop: the death notice goes out too
        assert box.release_will() is None
        assert [m.seq for m in box.pending_messages(10)] == [1, 2, 3, 4]


def test_split_backfill_sorts_requested_seqs_by_what_the_outbox_knows(tmp_path: Path) -> None:
    clock = FakeClock()
    with Outbox(tmp_path / "o.db", budget_bytes=700, clock=clock) as box:
        for i in range(8):  # eight one-reading messages, 1..8
            box.add("telemetry", [{"i": i, "pad": "x" * 40}])
            box.seal(seal_json, max_items=1)
            clock.tick()
        held = [m.seq for m in box.pending_messages(100)]
        evicted = box.recent_evicted_seqs()
        assert evicted  # the budget evicted the oldest
        box.free([held[-1]])  # receipted and freed
        box.arm_will(lambda seq: b"will")  # seq 9, armed
        split = box.split_backfill([(1, 12)])
        assert split.evicted == evicted
        assert split.held == held[:-1]
        assert split.not_held == [held[-1]]
        assert split.unknown == [9, 10, 11, 12]  # the armed will, and never allocated


def test_seal_splits_batches_and_honours_limits(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        box.add("telemetry", [{"i": i} for i in range(7)])
        box.add("events", [{"e": i} for i in range(3)])
        assert box.seal(seal_json, max_items=3, kinds=["events"]) == 1
        assert box.seal(seal_json, max_items=3, max_batches=2) == 2
        assert box.seal(seal_json, max_items=3) == 1
        assert box.seal(seal_json, max_items=3) == 0
        messages = box.pending_messages(10)
        assert [m.kind for m in messages] == [Kind.EVENTS] + [Kind.TELEMETRY] * 3
        assert [i["i"] for m in messages[1:] for i in items_of(m)] == list(range(7))
        assert [m.seq for m in box.pending_messages(2, after_seq=2)] == [3, 4]
        with pytest.raises(ValueError, match="max_items"):
            box.seal(seal_json, max_items=0)


def test_seq_strictly_increases_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        box.add("telemetry", [{"i": 1}])
        box.seal(seal_json, max_items=10)
        assert box.reserve_seq() == 2
        box.ack(1)
    with Outbox(path) as box:
        assert box.stats().next_seq == 3
        assert box.reserve_seq() == 3
        box.put_message("state", 3, b"birth")
        box.add("telemetry", [{"i": 2}])
        box.seal(seal_json, max_items=10)
    with Outbox(path) as box:
        assert [(m.seq, m.kind, m.data[:5]) for m in box.pending_messages(10)] == [
            (3, Kind.STATE, b"birth"),
            (4, Kind.TELEMETRY, b'{"kin'),
        ]
        assert box.reserve_seq() == 5


def test_put_message_accepts_only_reserved_unused_seqs(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        seq = box.reserve_seq()
        with pytest.raises(OutboxError, match=r"expected a reserved seq in \[1, 2\), got 2"):
            box.put_message("state", 2, b"x")
        box.put_message("state", seq, b"x")
        with pytest.raises(OutboxError, match="already stored"):
            box.put_message("state", seq, b"y")
        assert box.stats().next_seq == 2


def test_seal_fn_exception_rolls_back(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        box.add("events", [{"e": 1}, {"e": 2}])

        def broken(kind: Kind, seq: int, items: list[dict[str, Any]]) -> bytes:
            raise RuntimeError("signing key unavailable")

        with pytest.raises(RuntimeError, match="signing key"):
            box.seal(broken, max_items=10)
        stats = box.stats()
        assert (stats.pending_items, stats.pending_messages, stats.next_seq) == (2, 0, 1)
        assert box.seal(seal_json, max_items=10) == 1
        assert [m.seq for m in box.pending_messages(10)] == [1]


def test_bad_items_reject_the_whole_batch(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        with pytest.raises(OutboxError, match=r"telemetry item 1 .*NaN"):
            box.add("telemetry", [{"c": 1.0}, {"c": float("nan")}])
        with pytest.raises(OutboxError, match="item 0"):
            box.add("stock", [{"when": object()}])
        with pytest.raises(OutboxError, match=r"expected a kind in \{telemetry, stock"):
            box.add("config", [{"a": 1}])
        box.add("telemetry", [])
        assert box.stats().pending_items == 0


def test_closed_outbox_refuses_work_and_errors_share_a_root(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.close()
    box.close()
    with pytest.raises(EdgeError, match="closed"):
        box.add("telemetry", [{"a": 1}])


def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    Outbox(path).close()
    Outbox(path).close()  # idempotent
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(OutboxError, match="schema version 99"):
        Outbox(path)


def test_acks_from_another_thread_while_adding(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    stop = threading.Event()
    acked: list[int] = []
    errors: list[BaseException] = []

    def network_thread() -> None:
        try:
            while not stop.is_set() or box.pending_messages(1):
                for message in box.pending_messages(50):
                    box.ack(message.seq)
                    acked.append(message.item_count)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    thread = threading.Thread(target=network_thread)
    thread.start()
    try:
        for batch in range(150):
            box.add("telemetry", [{"b": batch, "n": n} for n in range(4)])
            if batch % 5 == 0:
                box.seal(seal_json, max_items=7)
        box.seal(seal_json, max_items=7)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors
    assert sum(acked) == 600
    stats = box.stats()
    assert (stats.pending_items, stats.pending_messages, stats.stored_bytes) == (0, 0, 0)
    box.close()


def item_bytes(tmp_path: Path, item: dict[str, Any]) -> int:
    with Outbox(tmp_path / "measure.db") as box:
        box.add("telemetry", [item])
        return box.stats().stored_bytes


def test_eviction_takes_oldest_telemetry_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.outbox")
    assert frozenset({Kind.TELEMETRY}) == EVICTABLE_KINDS
    size = item_bytes(tmp_path, {"id": "x000"})
    clock = FakeClock()
    with Outbox(tmp_path / "o.db", budget_bytes=10 * size, clock=clock) as box:
        box.add("events", [{"id": "e000"}, {"id": "e001"}])
        clock.tick()
        box.add("stock", [{"id": "s000"}, {"id": "s001"}])
        for i in range(10):
            clock.tick()
            box.add("telemetry", [{"id": f"t{i:03}"}])
        # 14 items of equal size against room for 10: the four oldest readings went.
        stats = box.stats()
        assert (stats.pending_items, stats.stored_bytes) == (10, 10 * size)
        assert (stats.evicted_items, stats.evicted_messages) == (4, 0)
    # Envelopes of tiny batches outweigh their items, so look at what is left with room.
    with Outbox(tmp_path / "o.db") as box:
        kept = {m.kind: [i["id"] for i in items_of(m)] for m in drain(box)}
        assert box.stats().evicted_items == 4
    assert sum("evicting oldest telemetry" in r.getMessage() for r in caplog.records) == 1
    assert kept == {
        Kind.EVENTS: ["e000", "e001"],
        Kind.STOCK: ["s000", "s001"],
        Kind.TELEMETRY: [f"t{i:03}" for i in range(4, 10)],
    }


def test_eviction_takes_sealed_telemetry_by_age_and_remembers_seqs(tmp_path: Path) -> None:
    clock = FakeClock()
    with Outbox(tmp_path / "o.db", budget_bytes=2_000, clock=clock) as box:
        box.add("telemetry", [{"id": i} for i in range(6)])
        box.seal(seal_json, max_items=2)  # seqs 1..3, 2 readings each
        clock.tick()
        box.add("telemetry", [{"id": 99}])  # pending, newer than every sealed message
        clock.tick()
        box.put_message("telemetry", box.reserve_seq(), b"x" * 100)  # seq 4, newest
        for n in range(30):
            clock.tick()
            box.add("events", [{"id": f"custody-{n}", "pad": "p" * 40}])
            if box.stats().evicted_messages == 3:
                break
        stats = box.stats()
        assert (stats.evicted_messages, stats.evicted_items) == (3, 6)
        assert box.recent_evicted_seqs() == [1, 2, 3]
        assert stats.pending_items == 1 + n + 1  # the newer reading survives so far
        assert [m.seq for m in box.pending_messages(10)] == [4]
        first = n + 1
        for n in range(first, first + 19):
            clock.tick()
            box.add("events", [{"id": f"custody-{n}", "pad": "p" * 40}])
        stats = box.stats()
        # The pending reading (older) went before the newer sealed message, then that too.
        assert (stats.evicted_messages, stats.evicted_items) == (4, 8)
        assert box.recent_evicted_seqs(2) == [3, 4]
        assert stats.pending_items == n + 1  # every custody event is still here


def test_lower_budget_applies_on_reopen(tmp_path: Path) -> None:
    clock = FakeClock()
    with Outbox(tmp_path / "o.db", clock=clock) as box:
        for i in range(10):
            clock.tick()
            box.add("telemetry", [{"i": i}])
        box.add("stock", [{"sku": "A"}])
        budget = box.stats().stored_bytes // 2
    with Outbox(tmp_path / "o.db", budget_bytes=budget, clock=clock) as box:
        stats = box.stats()
        assert stats.stored_bytes <= budget
        ids = [i.get("i", i.get("sku")) for m in drain(box) for i in items_of(m)]
    assert ids[0] == "A"
    assert ids[1:] == list(range(10 - len(ids) + 1, 10))


def test_non_evictable_data_over_budget_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.outbox")
    with Outbox(tmp_path / "o.db", budget_bytes=500) as box:
        for n in range(20):
            box.add("events", [{"id": n, "pad": "p" * 40}])
            box.add("stock", [{"id": n, "pad": "p" * 40}])
        stats = box.stats()
        assert stats.pending_items == 40
        assert stats.stored_bytes > 500
        assert (stats.evicted_items, stats.evicted_messages) == (0, 0)
    warnings = [r for r in caplog.records if "never evicted" in r.getMessage()]
    assert len(warnings) == 1  # once per episode, not once per add


CHILD = textwrap.dedent(
    """
    import json, sys
    from edge.outbox import Outbox

    def seal(kind, seq, items):
        return json.dumps({"kind": kind.value, "seq": seq, "items": items}).encode()

    box = Outbox(sys.argv[1])
    batch = 0
    while True:
        box.add("telemetry", [{"b": batch, "n": n} for n in range(5)])
        print(batch, flush=True)
        if batch % 7 == 3:
            box.seal(seal, max_items=8)
        batch += 1
    """
)


def test_sigkill_loses_no_committed_batch(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reported = []
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            reported.append(int(line))
            if len(reported) >= 150:
                break
        os.kill(child.pid, signal.SIGKILL)
        reported += [int(line) for line in child.stdout]  # printed before the kill landed
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert len(reported) >= 150

    with Outbox(path) as box:
        before = [m.seq for m in box.pending_messages(1_000_000)]
        messages = drain(box)
    seqs = [m.seq for m in messages]
    assert seqs == sorted(set(seqs))
    assert all(s > max(before, default=0) for s in seqs[len(before) :])
    found = [(i["b"], i["n"]) for m in messages for i in items_of(m)]
    assert len(found) == len(set(found)), "an item was duplicated"
    batches: dict[int, int] = {}
    for b, _ in found:
        batches[b] = batches.get(b, 0) + 1
    assert set(reported) <= set(batches), "a committed batch was lost"
    assert set(batches.values()) == {5}, "a batch was half committed"


class OutboxMachine(RuleBasedStateMachine):
    """Random add/seal/ack/reopen never loses or duplicates an item; seqs only go up."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="outbox-sm-"))
        self.box = Outbox(self.dir / "o.db")
        self.added = 0
        self.delivered: list[int] = []
        self.last_seq = 0

    def seal_fn(self, fail_after: int | None) -> Any:
        sealed: list[int] = []

        def seal(kind: Kind, seq: int, items: list[dict[str, Any]]) -> bytes:
            if fail_after is not None and len(sealed) >= fail_after:
                raise RuntimeError("seal failed")
            assert seq > self.last_seq
            self.last_seq = seq
            sealed.append(seq)
            return seal_json(kind, seq, items)

        return seal

    @rule(kind=st.sampled_from(Kind), n=st.integers(0, 4))
    def add(self, kind: Kind, n: int) -> None:
        self.box.add(kind, [{"id": self.added + i} for i in range(n)])
        self.added += n

    @rule(
        max_items=st.integers(1, 3),
        max_batches=st.none() | st.integers(1, 3),
        fail_after=st.none() | st.integers(0, 2),
    )
    def seal(self, max_items: int, max_batches: int | None, fail_after: int | None) -> None:
        try:
            self.box.seal(self.seal_fn(fail_after), max_items=max_items, max_batches=max_batches)
        except RuntimeError:
            # The failed message's seq was rolled back and will be handed out again.
            self.last_seq = self.box.stats().next_seq - 1

    @precondition(lambda self: self.box.stats().pending_messages > 0)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        message = data.draw(st.sampled_from(self.box.pending_messages(100)))
        self.box.ack(message.seq)
        self.box.ack(message.seq)
        self.delivered += [i["id"] for i in items_of(message)]

    @rule()
    def reserve(self) -> None:
        seq = self.box.reserve_seq()
        assert seq > self.last_seq
        self.last_seq = seq

    @rule()
    def reopen(self) -> None:
        self.box.close()
        self.box = Outbox(self.dir / "o.db")
        assert self.box.stats().next_seq == self.last_seq + 1

    @invariant()
    def counts_add_up(self) -> None:
        stats = self.box.stats()
        in_messages = sum(m.item_count for m in self.box.pending_messages(10_000))
        assert stats.pending_items + in_messages + len(self.delivered) == self.added
        assert stats.evicted_items == 0

    def teardown(self) -> None:
        try:
            messages = drain(self.box)
            ids = self.delivered + [i["id"] for m in messages for i in items_of(m)]
            assert sorted(ids) == list(range(self.added))
            assert [m.seq for m in messages] == sorted({m.seq for m in messages})
        finally:
            self.box.close()
            shutil.rmtree(self.dir, ignore_errors=True)


TestOutboxMachine = OutboxMachine.TestCase
TestOutboxMachine.settings = settings(
    max_examples=50, stateful_step_count=30, deadline=None, database=None
)
