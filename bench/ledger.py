"""Ledger benchmark: durable appends, proof generation at 1M/10M, verification, anchor gas.

Run: ``.venv/bin/python bench/ledger.py [--appends 200000] [--sizes 1000000,10000000]``.
Prints figures (progress on stderr); asserts nothing. Starts its own PostgreSQL with fsync
on (durable commits) and, when installed, anvil from node_modules.

- durable appends/s: ``PgLog.append`` of EPCIS-shaped events in batches (RFC 8785 +
  leaf hash + tree nodes + one transaction per batch), vs the same canonicalisation and
  hashing into an in-memory tree in the same run;
- proof generation p50/p99: inclusion and consistency proofs read from ``ledger_nodes``
  (one query each) in trees of 1M and 10M leaves, filled with COPY of precomputed leaf and
  node hashes (the proof path needs nodes only; entries are not written for these sizes);
- verification: an inclusion proof in memory, and a whole bundle against anvil;
- gas per anchor, and per entry at 1,000 entries/s anchored every 60 s.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from channeltrace.services import start_postgres  # noqa: E402
from cloud.migrate import migrate  # noqa: E402
from ledger import InMemoryNodeStore, LogKey, MerkleTree, verify_inclusion  # noqa: E402
from ledger.canonical import canonical_bytes  # noqa: E402
from ledger.hashing import leaf_hash, node_hash  # noqa: E402
from ledger.service.pg_store import PgLog, PgNodeStore  # noqa: E402


def say(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def event(n: int) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": f"2025-03-01T08:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "epcList": [f"https://id.gs1.org/01/09521234543213/21/{n:010d}"],
        "readPoint": {"id": "urn:epc:id:sgln:9521234.54321.0"},
        "eventID": f"ni:///sha-256;{n:064x}?ver=CBV2.0",
    }


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e3:.3f} ms  p99 {p99 * 1e3:.3f} ms  max {ordered[-1] * 1e3:.3f} ms"


def bench_appends(url: str, total: int, batch: int) -> None:
    events = [event(n) for n in range(total)]
    say(f"in-memory baseline: {total} events")
    start = time.perf_counter()
    tree = MerkleTree(InMemoryNodeStore())
    for i in range(0, total, batch):
        tree.append_many(leaf_hash(canonical_bytes(e)) for e in events[i : i + batch])
    memory = total / (time.perf_counter() - start)
    start = time.perf_counter()
    canonicals = [canonical_bytes(e) for e in events]
    jcs = total / (time.perf_counter() - start)

    with psycopg.connect(url, autocommit=True) as conn:
        log = PgLog(conn)
        say(f"durable appends: {total} events in batches of {batch}")
        start = time.perf_counter()
        for i in range(0, total, batch):
            log.append(events[i : i + batch])
        durable = total / (time.perf_counter() - start)
        assert log.head().root == tree.root()
        start = time.perf_counter()
        for i in range(0, total, batch):
            log.append_canonical(canonicals[i : i + batch])
        durable_pre = total / (time.perf_counter() - start)
    print(f"appends ({total:,} EPCIS events, batches of {batch:,}, fsync on):")
    print(f"  in-memory tree, JCS + hashing        {memory:12,.0f} /s")
    print(f"  durable PgLog.append (JCS included)  {durable:12,.0f} /s  ({durable / memory:.0%})")
    print(f"  durable append_canonical (pre-JCS)   {durable_pre:12,.0f} /s")
    print(f"  RFC 8785 canonicalisation alone      {jcs:12,.0f} /s")


def nodes_for(size: int) -> Iterator[tuple[int, int, bytes]]:
    """Every perfect-subtree node of a tree of ``size`` synthetic leaves, streamed."""
    stack: list[bytes] = []
    for index in range(size):
        h = hashlib.sha256(b"\x00" + index.to_bytes(8, "big")).digest()
        yield 0, index, h
        level, i = 0, index
        while i & 1:
            h = node_hash(stack.pop(), h)
            level, i = level + 1, i >> 1
            yield level, i, h
        stack.append(h)
        if index and index % 1_000_000 == 0:
            say(f"  {index:,} leaves")


def fill_nodes(url: str, size: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE ledger_nodes")
        conn.execute("ALTER TABLE ledger_nodes DROP CONSTRAINT ledger_nodes_pkey")
        with conn.cursor().copy(
            "COPY ledger_nodes (level, idx, hash) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int2", "int8", "bytea"])
            for row in nodes_for(size):
                copy.write_row(row)
        say("  building the primary key")
        conn.execute("ALTER TABLE ledger_nodes ADD PRIMARY KEY (level, idx)")
        tree = MerkleTree(PgNodeStore(conn), size)
        conn.execute("UPDATE ledger_head SET size = %s, root = %s", (size, tree.root()))
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE ledger_nodes")


def bench_proofs(url: str, size: int, samples: int) -> None:
    say(f"filling ledger_nodes for {size:,} leaves (COPY of precomputed hashes)")
    start = time.perf_counter()
    fill_nodes(url, size)
    say(f"  filled in {time.perf_counter() - start:.0f} s")
    rng = random.Random(size)
    with psycopg.connect(url, autocommit=True) as conn:
        tree = PgLog(conn).tree()
        root = tree.root()
        incl, cons, verify = [], [], []
        for _ in range(50):  # warm the plan cache and prepared statements
            tree.inclusion_proof(rng.randrange(size))
        for _ in range(samples):
            index = rng.randrange(size)
            t0 = time.perf_counter()
            proof = tree.inclusion_proof(index)
            t1 = time.perf_counter()
            leaf = hashlib.sha256(b"\x00" + index.to_bytes(8, "big")).digest()
            verify_inclusion(leaf, index, size, proof, root)
            t2 = time.perf_counter()
            incl.append(t1 - t0)
            verify.append(t2 - t1)
            old = rng.randrange(1, size)
            t0 = time.perf_counter()
            tree.consistency_proof(old, size)
            cons.append(time.perf_counter() - t0)
    print(f"proofs at {size:,} leaves ({samples:,} random samples, one query each):")
    print(f"  inclusion proof     {percentiles(incl)}")
    print(f"  consistency proof   {percentiles(cons)}")
    print(f"  inclusion verify    {percentiles(verify)}")


def bench_chain(url: str, samples: int) -> None:
    from channeltrace.chain import ANVIL_BINARY, start_anvil

    if not ANVIL_BINARY.is_file():
        print("anchoring: skipped (anvil not installed; run `npm ci`)")
        return
    from ledger.service.anchor import Web3Anchorer, Web3Chain, deploy_anchor_contract
    from ledger.service.jobs import anchor_latest, make_checkpoint
    from ledger.service.publish import build_bundle
    from ledger.verify import verify_bundle

    workdir = Path(tempfile.mkdtemp(prefix="ct-bench-anvil-"))
    chain = start_anvil(workdir)
    try:
        contract = deploy_anchor_contract(chain.url, chain.private_keys[0])
        anchorer = Web3Anchorer(chain.url, contract, chain.private_keys[0], poll_latency=0.005)
        key = LogKey.generate("bench.channeltrace.example/log")
        gas, latency = [], []
        with psycopg.connect(url, autocommit=True) as conn:
            log = PgLog(conn)
            for round_ in range(samples):
                log.append([event(10_000_000 + round_ * 10 + i) for i in range(10)])
                make_checkpoint(conn, key)
                t0 = time.perf_counter()
                outcome = anchor_latest(conn, anchorer)
                latency.append(time.perf_counter() - t0)
                assert outcome.status == "anchored"
            gas = [
                int(r[0])
                for r in conn.execute(
                    "SELECT gas_used FROM ledger_anchors WHERE status = 'confirmed'"
                )
            ]
            bundle = build_bundle(conn, 3)
        reader = Web3Chain(chain.url)
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            report = verify_bundle(bundle, key.verifier(), reader)
            times.append(time.perf_counter() - t0)
            assert report.ok
        per_anchor = statistics.median(gas)
        print(f"anchoring on anvil ({len(gas)} anchors):")
        print(f"  gas per anchor            {per_anchor:,.0f}")
        print(f"  gas per entry at 1,000 entries/s, anchor every 60 s: {per_anchor / 60_000:.3f}")
        print(f"  anchor job run (sign, record, send, receipt)  {percentiles(latency)}")
        print(f"  bundle verification incl. 2 receipts over RPC {percentiles(times)}")
    finally:
        chain.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--sizes", default="1000000,10000000", help="tree sizes for proofs")
    parser.add_argument("--samples", type=int, default=2_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ct-bench-pg-"))
    workdir.chmod(0o755)
    steps: list[tuple[str, Callable[[str], None]]] = [
        ("appends", lambda u: bench_appends(u, args.appends, args.batch)),
        ("chain", lambda u: bench_chain(u, 20)),
        *[
            (f"proofs {s}", lambda u, s=s: bench_proofs(u, int(s), args.samples))
            for s in args.sizes.split(",")
            if s
        ],
    ]
    try:
        with start_postgres(workdir, fast=False) as pg:
            for number, (name, step) in enumerate(steps):
                url = pg.create_database(f"ct_bench_{number}")
                migrate(url)
                say(name)
                step(url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
