"""Ingest throughput and latency: loadgen -> Mosquitto -> ingest workers -> PostgreSQL.

Run: ``python bench/ingest.py`` (about two minutes; prints figures, asserts nothing).

Starts its own Mosquitto and PostgreSQL (fsync on), registers a simulated fleet and runs
the real ``channeltrace cloud ingest`` processes. Capacity is measured by *draining a
backlog* queued in the workers' persistent sessions while they were stopped (on 2 cores
a live Python publisher eats one core and would measure itself; see COMPONENTS.md).

    (a) batched readings/s: backlog drain, and live
    (b) single-reading QoS 1 messages/s: backlog drain
    (c) p50/p99 publish -> queryable latency at half the drained batched load
    (d) binary COPY ceiling into the same ``readings`` table
    (e) a naive bridge (ack on arrival, one INSERT per message) draining the same backlogs

Drains also print the CPU time the workers spent per message (user + system, from /proc):
unlike rates it hardly moves when other work shares the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from channeltrace.services import start_mosquitto, start_postgres
from cloud.ingest.store import COLUMNS
from cloud.migrate import migrate
from firmware_sim.tools.loadgen import (
    LoadDevice,
    Publisher,
    make_fleet,
    register_fleet,
    run_load,
)
from wire.envelope import decode

# What this version of the ingest changed since the last published figures (issue 4, goals
# (b) and (c)); printed at the start of every run so figures are read against the right code.
CHANGES = (
    "Ed25519 verify with libsodium (PyNaCl) instead of OpenSSL: 41 vs 65 us per message",
    "envelope decoded once per message, topic names parsed once (memoised)",
    "PUBLISH parsed without paho's MQTTMessage/Properties (about 17 us per message)",
    "gc.freeze() after start-up, young-generation threshold 50,000: no ~60 ms full collections",
    "batches also end at 2 MiB of messages (about 20k readings) instead of 500 messages only",
    "PostgreSQL: max_wal_size 8GB, checkpoint_timeout 15min, shared_buffers 256MB,"
    " wal_buffers 16MB, backend_flush_after 512kB, bgwriter_lru_maxpages 1000,"
    " bgwriter_delay 50ms (channeltrace.services.WRITE_HEAVY_SETTINGS)",
    "(c) also prints where the slowest 1 % of probes spent their time",
    "drains count from before the workers start (they store as soon as they subscribe)",
)


def say(text: str) -> None:
    print(text, flush=True)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes so far (Linux /proc; 0 where unavailable)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def workdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class Ingest:
    """N real ingest worker processes sharing one subscription group."""

    def __init__(self, database_url: str, mqtt_url: str, workers: int, logs: Path) -> None:
        self.args = ["--database-url", database_url, "--mqtt-url", mqtt_url]
        self.workers = workers
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        env = dict(os.environ, CT_INGEST_SHARE_GROUP="bench", PYTHONUNBUFFERED="1")
        for n in range(self.workers):
            log = self.logs / f"ingest-{n}.log"
            log.write_text("")
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "channeltrace",
                        "cloud",
                        "ingest",
                        *self.args,
                        "--client-id",
                        f"bench-{n}",
                    ],
                    env=env,
                    stdout=log.open("ab"),
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 30
        for n in range(self.workers):
            while "ingest ready" not in (self.logs / f"ingest-{n}.log").read_text():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"ingest-{n} not ready:\n{self.output()}")
                time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.wait(timeout=60)
        self.procs = []

    def output(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.logs.glob("ingest-*.log")))


def stored_items(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(sum(item_count), 0) FROM ingest_log").fetchone()
    return int(row[0]) if row else 0


def time_drain(
    conn: psycopg.Connection[Any], target: int, base: int, timeout: float = 300
) -> float:
    """Seconds from the first stored item to ``target`` items stored above ``base`` (counted
    before the workers started: they begin storing as soon as they subscribe)."""
    first: float | None = None
    deadline = time.monotonic() + timeout
    while True:
        done = stored_items(conn) - base
        now = time.monotonic()
        if done and first is None:
            first = now
        if done >= target:
            assert first is not None
            return max(now - first, 1e-3)
        if now > deadline:
            raise RuntimeError(f"only {done} of {target} stored after {timeout} s")
        time.sleep(0.02)


def backlog(mqtt_url: str, fleet: list[LoadDevice], messages: int, per_message: int) -> None:
    publisher = Publisher(mqtt_url, window=2_000)
    try:
        result = run_load(publisher, fleet, messages=messages, readings_per_message=per_message)
    finally:
        publisher.close()
    say(f"    queued {result.messages:,} messages ({result.readings:,} readings) in "
        f"{result.seconds:.1f} s")  # fmt: skip


def drain(
    ingest: Ingest, db: str, mqtt_url: str, fleet: list[LoadDevice], messages: int, per: int
) -> float:
    """Queue a backlog while the workers are stopped, then time them draining it."""
    backlog(mqtt_url, fleet, messages, per)
    with psycopg.connect(db, autocommit=True) as conn:
        base = stored_items(conn)
        ingest.start()
        pids = [proc.pid for proc in ingest.procs]
        cpu = cpu_seconds(pids)  # start-up (imports, connecting) excluded
        seconds = time_drain(conn, messages * per, base)
        cpu = cpu_seconds(pids) - cpu
    ingest.stop()
    say(f"    workers' CPU: {cpu / messages * 1e6:,.1f} us per message")
    return seconds


def live(
    ingest: Ingest, db: str, mqtt_url: str, fleet: list[LoadDevice], messages: int, per: int
) -> float:
    """Readings/s with the workers running while the publisher sends as fast as it can."""
    ingest.start()
    with psycopg.connect(db, autocommit=True) as conn:
        base = stored_items(conn)
        began = time.monotonic()
        publisher = Publisher(mqtt_url, window=2_000)
        try:
            run_load(publisher, fleet, messages=messages, readings_per_message=per)
        finally:
            publisher.close()
        while stored_items(conn) - base < messages * per:
            time.sleep(0.02)
        seconds = time.monotonic() - began
    ingest.stop()
    return messages * per / seconds


def latency(
    ingest: Ingest, db: str, mqtt_url: str, fleet: list[LoadDevice], probe: LoadDevice,
    readings_per_s: float, per: int, seconds: float,
) -> list[Probe]:  # fmt: skip
    """Publish -> queryable latencies of a probe device under a steady background load."""
    ingest.start()
    sent_at: dict[int, float] = {}
    seen_at: dict[int, float] = {}
    received_at: dict[int, float] = {}  # the worker's receive time (ingest_log.received_at)
    stop = threading.Event()
    load = threading.Thread(
        target=lambda: _steady(mqtt_url, fleet, readings_per_s / per, per, seconds), daemon=True
    )
    load.start()

    def poll() -> None:
        # Each probe seq is timed when it is itself stored: two workers commit out of order,
        # so max(seq) would count a seq as queryable while it is still in the other worker.
        with psycopg.connect(db, autocommit=True) as conn:
            floor = 0  # every seq up to here has been seen
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT seq, received_at FROM ingest_log WHERE device_id = %s AND seq > %s",
                    (probe.device_id, floor),
                ).fetchall()
                now = time.time()
                for seq, received in rows:
                    seen_at.setdefault(int(seq), now)
                    received_at.setdefault(int(seq), received.timestamp())
                while floor + 1 in seen_at:
                    floor += 1
                time.sleep(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    publisher = Publisher(mqtt_url, window=100)
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        seq = probe.next_seq
        data = probe.seal_telemetry(1, datetime.now(UTC))
        sent_at[seq] = time.time()
        publisher.publish(str(probe.telemetry_topic), data)
        time.sleep(0.02)
    publisher.flush()
    publisher.close()
    load.join()
    deadline = time.monotonic() + 30
    while len(seen_at) < len(sent_at) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    poller.join()
    ingest.stop()
    return [
        Probe(seen_at[s] - sent_at[s], received_at[s] - sent_at[s]) for s in sent_at if s in seen_at
    ]


@dataclass(frozen=True)
class Probe:
    """One probe message: publish -> queryable, and the part of it before the worker had it."""

    total: float
    to_worker: float  # publish -> the worker's receive (publisher, broker, network thread)


def describe_tail(probes: list[Probe]) -> str:
    """Where the slowest 1 % of probes spent their time: before or after the worker got them."""
    slow = sorted(probes, key=lambda p: p.total)[-max(1, len(probes) // 100) :]
    before = statistics.mean(p.to_worker for p in slow) * 1000
    total = statistics.mean(p.total for p in slow) * 1000
    return (
        f"slowest 1 %: {total:.0f} ms on average, {before:.0f} ms of it before the worker"
        f" received them, {total - before:.0f} ms from receipt to stored (inbox, prepare,"
        " commit)"
    )


def _steady(mqtt_url: str, fleet: list[LoadDevice], rate: float, per: int, seconds: float) -> None:
    publisher = Publisher(mqtt_url, window=2_000)
    try:
        run_load(publisher, fleet, messages=int(rate * seconds), readings_per_message=per,
                 rate=rate)  # fmt: skip
    finally:
        publisher.close()


def copy_ceiling(db: str, rows: int) -> float:
    """Binary COPY of reading-shaped rows into ``readings`` (same indexes and triggers)."""
    now = datetime.now(UTC)
    sample = [
        (now + timedelta(microseconds=i), now, "acme", "wh-000", f"copy-{i % 200:05d}", i,
         f"p{i % 50}", "temperature_c" if i % 2 else "humidity_pct", 4.5 + i % 10, None)
        for i in range(rows)
    ]  # fmt: skip
    types = ["timestamptz", "timestamptz", "text", "text", "text", "int8", "text", "text",
             "float8", "text"]  # fmt: skip
    statement = f"COPY readings ({', '.join(COLUMNS['readings'])}) FROM STDIN (FORMAT BINARY)"
    with psycopg.connect(db) as conn:
        began = time.monotonic()
        with conn.cursor() as cur, cur.copy(statement.encode()) as copy:
            copy.set_types(types)
            for row in sample:
                copy.write_row(row)
        conn.commit()
        return rows / (time.monotonic() - began)


class NaiveBridge:
    """What tutorials and peer bridges do: auto-ack on arrival, one INSERT per message.

    It parses the JSON (no signature check, no dedupe) and inserts the message's readings
    with one multi-row INSERT in autocommit mode. A kill loses what was acked and unsaved.
    """

    def __init__(self, mqtt_url: str, db: str) -> None:
        from wire.broker import parse_mqtt_url

        self.broker = parse_mqtt_url(mqtt_url)
        self.conn = psycopg.connect(db, autocommit=True)
        self.rows = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="naive-bridge",
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        self.client.on_connect = lambda c, *_: c.subscribe("ct/v1/+/+/+/telemetry", qos=1)
        self.client.on_message = self._on_message

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        envelope = decode(bytes(msg.payload))
        doc = json.loads(envelope.payload)
        tenant, site = msg.topic.split("/")[2:4]
        now = datetime.now(UTC)
        values = [
            (r["ts"], now, tenant, site, envelope.device_id, envelope.seq, r["sensor"],
             r["metric"], r.get("value"), r.get("fault"))
            for r in doc["readings"]
        ]  # fmt: skip
        placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(values))
        self.conn.execute(
            f"INSERT INTO readings ({', '.join(COLUMNS['readings'])}) VALUES {placeholders}",
            [v for row in values for v in row],
        )
        self.rows += len(values)

    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect(self.broker.host, self.broker.port, clean_start=False,
                            properties=props)  # fmt: skip
        self.client.loop_start()
        time.sleep(0.5)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def drain(self, target: int, timeout: float = 300) -> float:
        base = self.rows
        self.connect()
        first: float | None = None
        deadline = time.monotonic() + timeout
        while self.rows - base < target:
            if first is None and self.rows > base:
                first = time.monotonic()
            if time.monotonic() > deadline:
                raise RuntimeError(f"naive bridge stored {self.rows - base} of {target}")
            time.sleep(0.01)
        seconds = time.monotonic() - (first or time.monotonic())
        self.disconnect()
        return max(seconds, 1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="ingest worker processes")
    parser.add_argument("--batch", type=int, default=100, help="readings per batched message")
    parser.add_argument("--batched-messages", type=int, default=10_000)
    parser.add_argument("--single-messages", type=int, default=60_000)
    parser.add_argument("--baseline-messages", type=int, default=20_000)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--copy-rows", type=int, default=1_000_000)
    opts = parser.parse_args()
    began = time.monotonic()
    logs = workdir("ct-bench-")
    broker_dir, server_dir = workdir("ct-mq-"), workdir("ct-pg-")
    broker = start_mosquitto(broker_dir)
    server = start_postgres(server_dir, fast=False)
    try:
        run(opts, broker.url, server.create_database, logs)
    finally:
        broker.stop()
        server.stop()
        # A run leaves 2-3 GB of database and WAL (max_wal_size is 8GB); keep only the logs.
        shutil.rmtree(broker_dir, ignore_errors=True)
        shutil.rmtree(server_dir, ignore_errors=True)
    say(f"total bench time {time.monotonic() - began:.0f} s (logs in {logs})")


def run(opts: argparse.Namespace, mqtt_url: str, create_db: Callable[[str], str],
        logs: Path) -> None:  # fmt: skip
    db = create_db("bench")
    migrate(db)
    fleet = make_fleet(200, prefix="bench")
    probe = LoadDevice("probe-0001", "acme", "wh-000")
    with psycopg.connect(db) as conn:
        register_fleet(conn, [*fleet, probe])
    ingest = Ingest(db, mqtt_url, opts.workers, logs)
    ingest.start()  # creates the persistent sessions and shared subscriptions
    ingest.stop()
    say(f"== {opts.workers} ingest worker(s), PostgreSQL fsync on, fleet of {len(fleet)}")
    say("changed in this version:")
    for change in CHANGES:
        say(f"  - {change}")

    say(f"(a) batched, {opts.batch} readings/message: draining a backlog")
    drain(ingest, db, mqtt_url, fleet, 500, opts.batch)  # warm the key caches
    seconds = drain(ingest, db, mqtt_url, fleet, opts.batched_messages, opts.batch)
    batched = opts.batched_messages * opts.batch / seconds
    say(f"    drained in {seconds:.2f} s: {batched:,.0f} readings/s")
    live_rate = live(ingest, db, mqtt_url, fleet, opts.batched_messages // 2, opts.batch)
    say(f"    live (publisher on the same 2 cores): {live_rate:,.0f} readings/s")

    say("(b) single-reading QoS 1 messages: draining a backlog")
    seconds = drain(ingest, db, mqtt_url, fleet, opts.single_messages, 1)
    singles = opts.single_messages / seconds
    say(f"    drained in {seconds:.2f} s: {singles:,.0f} messages/s")

    half = batched / 2
    say(f"(c) publish -> queryable latency at half load ({half:,.0f} readings/s)")
    probes = latency(ingest, db, mqtt_url, fleet, probe, half, opts.batch, opts.latency_seconds)
    lat = sorted(p.total for p in probes)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    say(f"    {len(lat)} probes: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {lat[-1] * 1000:.0f} ms")
    say(f"    {describe_tail(probes)}")

    say(f"(d) binary COPY ceiling into readings ({opts.copy_rows:,} rows)")
    ceiling = copy_ceiling(db, opts.copy_rows)
    say(f"    {ceiling:,.0f} rows/s")

    say("(e) naive bridge (ack on arrival, one INSERT per message), same backlogs")
    base_db = create_db("baseline")
    migrate(base_db)
    bridge = NaiveBridge(mqtt_url, base_db)
    bridge.connect()  # persistent session, then away while the backlog queues
    bridge.disconnect()
    backlog(mqtt_url, fleet, opts.baseline_messages, 1)
    naive_singles = opts.baseline_messages / bridge.drain(opts.baseline_messages)
    say(f"    single-reading: {naive_singles:,.0f} messages/s")
    naive_messages = max(200, opts.baseline_messages // 20)
    backlog(mqtt_url, fleet, naive_messages, opts.batch)
    naive_batched = naive_messages * opts.batch / bridge.drain(naive_messages * opts.batch)
    say(f"    batched: {naive_batched:,.0f} readings/s")
    bridge.conn.close()

    say("== summary")
    say(f"  (a) batched drain        {batched:>12,.0f} readings/s  (goal >= 150,000)")
    say(f"      batched live         {live_rate:>12,.0f} readings/s")
    say(f"  (b) single-reading drain {singles:>12,.0f} messages/s  (goal >= 15,000)")
    say(f"  (c) latency at half load p50 {p50:.0f} ms, p99 {p99:.0f} ms  (goal p99 < 250 ms)")
    say(f"  (d) COPY ceiling         {ceiling:>12,.0f} rows/s")
    say(f"      batched / ceiling    {batched / ceiling:>12.0%}  (goal >= 30%)")
    say(f"  (e) naive single         {naive_singles:>12,.0f} messages/s -> ours x"
        f"{singles / naive_singles:.1f}")  # fmt: skip
    say(f"      naive batched        {naive_batched:>12,.0f} readings/s -> ours x"
        f"{batched / naive_batched:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
