"""Checkpoints and anchoring on a real anvil chain: once per growth, crash-safe, concurrent."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ledger.checkpoint import open_checkpoint
from ledger.errors import ChainUnavailableError, StoreError
from ledger.note import LogKey
from ledger.service.anchor import Web3Anchorer, deploy_anchor_contract
from ledger.service.anchor_job import AnchorOutcome
from ledger.service.jobs import anchor_latest, make_checkpoint
from ledger.service.pg_store import PgLog
from ledger.service.records import recent_anchors
from tests.ledger._events import custody_event
from tests.plugins.anvil import Anvil

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
Conn = psycopg.Connection[Any]
KEY = LogKey.generate("test.channeltrace.example/log")


@pytest.fixture
def contract(anvil: Anvil) -> str:
    return deploy_anchor_contract(anvil.url, anvil.private_keys[0])


@pytest.fixture
def anchorer(anvil: Anvil, contract: str) -> Web3Anchorer:
    return Web3Anchorer(anvil.url, contract, anvil.private_keys[0], poll_latency=0.01)


def grow(conn: Conn, start: int, count: int) -> None:
    PgLog(conn).append([custody_event(i) for i in range(start, start + count)])
    assert make_checkpoint(conn, KEY) is not None


def anchors_on_chain(anchorer: Web3Anchorer, conn: Conn) -> list[tuple[int, bytes]]:
    roots = conn.execute("SELECT root FROM ledger_checkpoints ORDER BY size").fetchall()
    return [(a.size, a.tx_hash) for (root,) in roots for a in anchorer.find_anchors(bytes(root))]


def test_checkpoints_only_when_the_tree_grew(conn: Conn) -> None:
    assert make_checkpoint(conn, KEY) is None  # empty log
    PgLog(conn).append([custody_event(i) for i in range(3)])
    made = make_checkpoint(conn, KEY)
    assert made is not None
    cp = open_checkpoint(made.note, KEY.verifier(), origin=KEY.name)
    assert (cp.size, cp.root) == (3, PgLog(conn).head().root)
    assert make_checkpoint(conn, KEY) is None


def test_refuses_to_sign_a_tree_inconsistent_with_its_last_checkpoint(conn: Conn) -> None:
    grow(conn, 0, 4)
    PgLog(conn).append([custody_event(4)])
    conn.execute("UPDATE ledger_nodes SET hash = %s WHERE level = 0 AND idx = 1", (b"\x01" * 32,))
    conn.execute("UPDATE ledger_nodes SET hash = %s WHERE level = 2 AND idx = 0", (b"\x02" * 32,))
    with pytest.raises(StoreError):
        make_checkpoint(conn, KEY)


def test_anchors_once_per_growth(conn: Conn, anchorer: Web3Anchorer) -> None:
    assert anchor_latest(conn, anchorer).status == "empty"
    grow(conn, 0, 10)
    first = anchor_latest(conn, anchorer)
    assert (first.status, first.size) == ("anchored", 10)
    assert anchor_latest(conn, anchorer).status == "up-to-date"
    grow(conn, 10, 5)
    assert anchor_latest(conn, anchorer).status == "anchored"
    assert [s for s, _ in anchors_on_chain(anchorer, conn)] == [10, 15]
    rows = recent_anchors(conn)
    assert [(r.size, r.status) for r in rows] == [(15, "confirmed"), (10, "confirmed")]
    assert all(r.gas_used and r.block_number for r in rows)


def test_concurrent_runs_anchor_once(
    ledger_db: str, conn: Conn, anvil: Anvil, contract: str
) -> None:
    grow(conn, 0, 8)
    outcomes: list[AnchorOutcome] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        with psycopg.connect(ledger_db, autocommit=True) as c:
            mine = Web3Anchorer(anvil.url, contract, anvil.private_keys[0], poll_latency=0.01)
            barrier.wait()
            outcomes.append(anchor_latest(c, mine))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(o.status for o in outcomes)
    assert statuses.count("anchored") == 1
    assert set(statuses) <= {"anchored", "busy", "up-to-date"}
    check = Web3Anchorer(anvil.url, contract, anvil.private_keys[0])
    assert [s for s, _ in anchors_on_chain(check, conn)] == [8]


@pytest.mark.parametrize("mode", ["before-send", "after-send"])
def test_killed_mid_anchor_resumes_without_double_anchor(
    ledger_db: str, conn: Conn, anvil: Anvil, contract: str, anchorer: Web3Anchorer, mode: str
) -> None:
    grow(conn, 0, 20)
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.ledger.service._crash_anchor",
            ledger_db,
            anvil.url,
            contract,
            anvil.private_keys[0],
            mode,
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr.decode()
    (pending,) = recent_anchors(conn)
    assert pending.status == "pending"
    sent = anchors_on_chain(anchorer, conn)
    assert len(sent) == (1 if mode == "after-send" else 0)

    outcome = anchor_latest(conn, anchorer)
    assert (outcome.status, outcome.resumed) == ("up-to-date", "confirmed")
    assert anchor_latest(conn, anchorer).status == "up-to-date"
    on_chain = anchors_on_chain(anchorer, conn)
    assert on_chain == [(20, pending.tx_hash)]
    (settled,) = recent_anchors(conn)
    assert (settled.status, settled.tx_hash) == ("confirmed", pending.tx_hash)


def test_rpc_outage_retries_with_backoff_then_fails(conn: Conn, contract: str) -> None:
    from channeltrace._process import free_port

    grow(conn, 0, 3)
    dead = Web3Anchorer(f"http://127.0.0.1:{free_port()}", contract, "0x" + "11" * 32, timeout=1)
    slept: list[float] = []
    with pytest.raises(ChainUnavailableError):
        anchor_latest(conn, dead, attempts=4, backoff=0.5, sleep=slept.append)
    # Exponential from 0.5 s with up to 0.25 s of jitter (several schedulers do not retry
    # in lockstep against a recovering RPC).
    assert len(slept) == 3
    for delay, low in zip(slept, [0.5, 1.0, 2.0], strict=True):
        assert low <= delay <= low + 0.25
    assert recent_anchors(conn) == []  # nothing recorded: nothing was signed


def test_anchor_job_needs_autocommit(ledger_db: str, anchorer: Web3Anchorer) -> None:
    with psycopg.connect(ledger_db) as c, pytest.raises(StoreError, match="autocommit"):
        anchor_latest(c, anchorer)
