"""Throughput of the edge outbox: durable add() by batch size, seal(), ack(), vs in-memory.

Run: ``python bench/edge_outbox.py [--seconds 2]``.  Prints figures; asserts nothing.
The product goal is >= 5,000 readings/s committed durably (synchronous=FULL) on a 2-core box.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.outbox import Kind, Outbox


def reading(n: int) -> dict[str, object]:
    # Shaped like a probe sample: id, device time, temperature, humidity, quality flag.
    return {
        "sensor": f"probe-{n % 8:02}",
        "ts": 1_732_300_000.125 + n,
        "c": 4.37,
        "rh": 61.2,
        "q": "ok",
    }


def seal_fn(kind: Kind, seq: int, items: list[dict[str, Any]]) -> bytes:
    # Stand-in for signing: compact JSON plus 64 bytes where the Ed25519 signature would go.
    body = json.dumps({"k": kind.value, "s": seq, "i": items}, separators=(",", ":"))
    return body.encode() + b"\0" * 64


def timed(seconds: float, step: Callable[[], int]) -> tuple[int, float]:
    """Call step() until `seconds` elapsed; returns (units done, elapsed)."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += step()
    return done, elapsed


def bench_add(
    path: Path | str, batch: int, seconds: float, budget: int = 1 << 30
) -> tuple[float, float, str]:
    """Returns (readings/s, ms per commit, file size as a percentage of stored bytes)."""
    items = [reading(n) for n in range(batch)]
    with Outbox(path, budget_bytes=budget) as box:

        def step() -> int:
            box.add(Kind.TELEMETRY, items)
            return batch

        done, elapsed = timed(seconds, step)
        stored = box.stats().stored_bytes
    ratio = "-" if path == ":memory:" else f"{100 * os.path.getsize(path) / stored:.0f}%"
    return done / elapsed, elapsed / (done / batch) * 1e3, ratio


def bench_seal_ack(path: Path | str, max_items: int, total: int) -> tuple[float, float, float]:
    with Outbox(path) as box:
        for start in range(0, total, 100):
            box.add(Kind.TELEMETRY, [reading(n) for n in range(start, start + 100)])
        begin = time.perf_counter()
        messages = box.seal(seal_fn, max_items=max_items)
        seal_s = time.perf_counter() - begin
        seqs = [m.seq for m in box.pending_messages(messages)]
        begin = time.perf_counter()
        for seq in seqs:
            box.ack(seq)
        ack_s = time.perf_counter() - begin
    return total / seal_s, messages / seal_s, len(seqs) / ack_s


def fsync_ms(directory: str, rounds: int = 200) -> float:
    """Raw fdatasync latency of the disk under test: the floor of one durable commit."""
    path = os.path.join(directory, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        start = time.perf_counter()
        for _ in range(rounds):
            os.pwrite(fd, b"x" * 128, 0)  # in place, like a reused WAL
            os.fdatasync(fd)
        return (time.perf_counter() - start) / rounds * 1e3
    finally:
        os.close(fd)
        os.unlink(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="per add() measurement")
    parser.add_argument("--dir", type=Path, default=None, help="where the durable db goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="outbox-bench-") as tmp:
        print(f"outbox bench: {os.cpu_count()} cpus, db in {tmp}, {args.seconds:.1f}s per run")
        print(f"raw fdatasync: {fsync_ms(tmp):.3f} ms (a Pi's SD card is typically far slower)")
        print(f"{'add()':<32}{'readings/s':>12}{'ms/commit':>12}{'file/stored':>12}")
        for batch in (1, 10, 100):
            for label, path in (("durable", Path(tmp) / f"add{batch}.db"), ("memory", ":memory:")):
                rate, ms, ratio = bench_add(path, batch, args.seconds)
                print(f"  batch {batch:>3}, {label:<18}{rate:>12,.0f}{ms:>12.3f}{ratio:>12}")
        # Steady state of a full outbox: every add also evicts the oldest readings.
        rate, ms, ratio = bench_add(Path(tmp) / "full.db", 10, args.seconds, budget=4 << 20)
        print(f"  batch  10, durable, full 4 MiB{rate:>12,.0f}{ms:>12.3f}{ratio:>12}")
        print(
            f"{'seal() + ack(), 20,000 readings':<32}{'readings/s':>12}{'msgs/s':>12}{'acks/s':>12}"
        )
        for max_items in (10, 100):
            for label, path in (
                ("durable", Path(tmp) / f"seal{max_items}.db"),
                ("memory", ":memory:"),
            ):
                readings_s, msgs_s, acks_s = bench_seal_ack(path, max_items, 20_000)
                print(
                    f"  {max_items:>3}/message, {label:<16}{readings_s:>12,.0f}{msgs_s:>12,.0f}"
                    f"{acks_s:>12,.0f}"
                )


if __name__ == "__main__":
    main()
