"""Fleet scale: 10,000 MQTT sessions against one Mosquitto, and the cloud's online view.

Run: ``python bench/fleet.py`` (about three minutes; prints figures, asserts nothing).

Starts its own Mosquitto and PostgreSQL (fsync on), a real ``channeltrace cloud ingest``
and a real ``channeltrace sim fleet --mode swarm`` (one session per warehouse: signed
will, retained birth, heartbeats). Each phase runs first at a small baseline size, then at
the target size, on a fresh database:

    (a) registration (bulk) and connect time; connections held; births -> all online
    (b) heartbeats offered vs stored while holding; then the cloud's heartbeat capacity:
        the ingest is stopped while heartbeats queue in its persistent session, restarted,
        and the backlog drain is timed (COMPONENTS.md: measure capacity by draining)
    (c) memory: Mosquitto and ingest RSS idle vs holding N sessions, per connection;
        the simulator's RSS per connection
    (d) mass drop (sockets closed, no DISCONNECT: the broker fires the wills) and return:
        time until ``devices.status`` is exactly right again
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
import psycopg

from channeltrace.services import start_mosquitto, start_postgres
from cloud.migrate import migrate
from firmware_sim.tools.fleet import plan_fleet
from firmware_sim.tools.swarm import pick_drop

_COMMAND = [sys.executable, "-m", "channeltrace"]
MiB = 1024 * 1024


def say(text: str) -> None:
    print(text, flush=True)


def workdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


class Ingest:
    """One real ingest process with a persistent session (kept across restarts)."""

    def __init__(self, database_url: str, mqtt_url: str, log: Path, group: str) -> None:
        self.argv = [*_COMMAND, "cloud", "ingest", "--database-url", database_url,
                     "--mqtt-url", mqtt_url, "--client-id", f"{group}-ingest"]  # fmt: skip
        self.env = dict(os.environ, CT_INGEST_SHARE_GROUP=group, PYTHONUNBUFFERED="1")
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        self.log.write_text("")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.log.open("ab"),
                                     stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 60
        while "ingest ready" not in self.log.read_text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"ingest not ready:\n{self.log.read_text()}")
            time.sleep(0.05)
        return self.proc.pid

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM; SIGKILL after ``grace`` s (safe: it acknowledges only after commit)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                say(f"    !! ingest did not exit {grace:.0f} s after SIGTERM; killed")
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@dataclass
class SwarmProcess:
    """``channeltrace sim fleet --mode swarm`` with its JSON progress lines followed."""

    proc: subprocess.Popen[str]
    latest: dict[str, Any] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, argv: list[str], err: Path) -> SwarmProcess:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err.open("ab"), text=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))  # fmt: skip
        swarm = cls(proc)
        threading.Thread(target=swarm._follow, daemon=True).start()
        return swarm

    def _follow(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            doc = json.loads(line)
            kind = doc.get("swarm") or doc.get("fleet")
            if kind == "progress":
                self.latest = doc
            elif kind is not None:
                self.events[kind] = doc

    def wait_event(self, name: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        shown = time.monotonic()
        while name not in self.events:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"swarm never reported {name!r}:\n{''.join(self.lines[-5:])}")
            if time.monotonic() - shown > 5:
                shown = time.monotonic()
                say(f"      ... {self.latest.get('connected', 0):,} connected")
            time.sleep(0.02)
        return self.events[name]

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        time.sleep(0.2)
        return self.events.get("stopped", {})


def scalar(conn: psycopg.Connection[Any], sql: str, *args: Any) -> int:
    row = conn.execute(sql.encode(), args).fetchone()
    return int(row[0] or 0) if row else 0


def state_rows(conn: psycopg.Connection[Any]) -> int:
    return scalar(conn, "SELECT count(*) FROM ingest_log WHERE kind = 'state'")


def time_until(check: Callable[[], bool], timeout: float, what: str, poll: float = 0.05,
               progress: Callable[[], str] = str) -> float:  # fmt: skip
    began = time.monotonic()
    shown = began
    while not check():
        now = time.monotonic()
        if now - began > timeout:
            raise RuntimeError(f"{what}: not reached within {timeout} s")
        if now - shown > 5:
            shown = now
            say(f"      ... waiting for {what} ({now - began:.0f} s) {progress()}")
        time.sleep(poll)
    return time.monotonic() - began


@dataclass
class Figures:
    connections: int = 0
    register_s: float = 0.0
    connect_s: float = 0.0
    all_online_s: float = 0.0
    offered_per_s: float = 0.0
    stored_per_s: float = 0.0
    drain_per_s: float = 0.0
    drained: int = 0
    broker_idle: int = 0
    broker_held: int = 0
    ingest_idle: int = 0
    ingest_held: int = 0
    swarm_held: int = 0
    drop_s: float = 0.0
    return_s: float = 0.0
    log_row_bytes: float = 0.0


def phase(opts: argparse.Namespace, connections: int, drop: int, db: str, mqtt_url: str,
          broker_pid: int, logs: Path) -> Figures:  # fmt: skip
    fig = Figures(connections=connections)
    migrate(db)
    group = f"fleet{connections}"
    ingest = Ingest(db, mqtt_url, logs / f"ingest-{connections}.log", group)
    ingest_pid = ingest.start()
    time.sleep(1)
    fig.broker_idle, fig.ingest_idle = rss(broker_pid), rss(ingest_pid)
    conn = psycopg.connect(db, autocommit=True)
    everyone = connections
    dropped = sorted(f"gw-{i:04d}" for i in pick_drop(connections, drop))
    assert all(d in {w.device for w in plan_fleet(connections)} for d in dropped)

    def online() -> int:
        return scalar(conn, "SELECT count(*) FROM devices WHERE status = 'online'")

    def dropped_offline() -> int:
        return scalar(conn, "SELECT count(*) FROM devices WHERE status = 'offline'"
                      " AND id = ANY(%s)", dropped)  # fmt: skip

    say(f"(a) swarm of {connections:,}: register, connect, births")
    began = time.monotonic()
    swarm = SwarmProcess.start(
        [*_COMMAND, "sim", "fleet", "--mode", "swarm", "--warehouses", str(connections),
         "--drop-count", str(drop), "--heartbeat", str(opts.heartbeat), "--mqtt-url", mqtt_url,
         "--database-url", db],
        logs / f"swarm-{connections}.err",
    )  # fmt: skip
    try:
        fig.register_s = swarm.wait_event("registered", 300)["seconds"]
        held = swarm.wait_event("held", 600)
        fig.connect_s = held["seconds"] - fig.register_s
        time_until(lambda: online() == everyone, 600, "every device online",
                   progress=lambda: f"{online():,} online")  # fmt: skip
        fig.all_online_s = time.monotonic() - began - fig.register_s
        say(f"    registered in {fig.register_s:.2f} s; {held['connected']:,} connections held"
            f" {fig.connect_s:.2f} s later; all online in the cloud {fig.all_online_s:.2f} s"
            " after registration")  # fmt: skip

        say(f"(b) holding for {opts.hold:.0f} s, heartbeat every {opts.heartbeat:g} s per device")
        time.sleep(2)
        sent0, stored0, t0 = swarm.latest.get("heartbeats", 0), state_rows(conn), time.monotonic()
        time.sleep(opts.hold)
        sent1, stored1, t1 = swarm.latest.get("heartbeats", 0), state_rows(conn), time.monotonic()
        fig.offered_per_s = (sent1 - sent0) / (t1 - t0)
        fig.stored_per_s = (stored1 - stored0) / (t1 - t0)
        fig.broker_held, fig.ingest_held = rss(broker_pid), rss(ingest_pid)
        fig.swarm_held = rss(swarm.proc.pid)
        say(f"    offered {fig.offered_per_s:,.0f} heartbeats/s, stored {fig.stored_per_s:,.0f}/s"
            f" (connected: {swarm.latest.get('connected', 0):,})")  # fmt: skip

        say(f"    capacity: ingest stopped {opts.backlog:.0f} s while heartbeats queue; drain")
        ingest.stop()
        time.sleep(opts.backlog)
        base = state_rows(conn)
        # Every state message sent so far: one birth per connection plus the heartbeats.
        target = connections + swarm.latest.get("heartbeats", 0)
        say(f"    about {target - base:,} heartbeats queued")
        ingest_pid = ingest.start()
        first = time.monotonic() + time_until(lambda: state_rows(conn) > base, 120, "first row",
                                              poll=0.005)  # fmt: skip
        time_until(lambda: state_rows(conn) >= target, 600, "backlog drained", poll=0.02)
        end = time.monotonic()
        fig.drained = state_rows(conn) - base
        fig.drain_per_s = fig.drained / max(end - first, 1e-6)
        if fig.drained < 1_000:
            say(f"    drained {fig.drained:,} heartbeats: too few to time")
            fig.drain_per_s = 0.0
        else:
            say(f"    drained {fig.drained:,} heartbeats in {end - first:.2f} s:"
                f" {fig.drain_per_s:,.0f}/s (plus redelivered retained states)")  # fmt: skip

        time.sleep(2)
        say(f"(d) mass drop of {drop:,} (no DISCONNECT; the broker fires the wills)")
        swarm.proc.send_signal(signal.SIGUSR1)
        fig.drop_s = time_until(
            lambda: dropped_offline() == drop and online() == everyone - drop, 300, "drop view"
        )
        say(f"    online view exact after {fig.drop_s * 1000:.0f} ms")
        swarm.proc.send_signal(signal.SIGUSR2)
        fig.return_s = time_until(lambda: online() == everyone, 300, "return view")
        say(f"    {drop:,} back, online view exact after {fig.return_s * 1000:.0f} ms")
        summary = swarm.stop()
        say(f"    swarm: {json.dumps(summary)}")
        rows = scalar(conn, "SELECT count(*) FROM ingest_log")
        size = scalar(conn, "SELECT pg_total_relation_size('ingest_log')")
        fig.log_row_bytes = size / max(rows, 1)
        say(f"    ingest_log: {rows:,} rows, {size / MiB:.1f} MiB with indexes:"
            f" {fig.log_row_bytes:.0f} B per state message")  # fmt: skip
    finally:
        if swarm.proc.poll() is None:
            swarm.proc.kill()
        ingest.stop()
        conn.close()
    return fig


def per_conn(held: int, idle: int, n: int) -> str:
    return f"{(held - idle) / n / 1024:6.1f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--drop", type=int, default=1_000, help="sessions dropped at once")
    parser.add_argument("--baseline", type=int, default=100, help="baseline swarm size")
    parser.add_argument(
        "--heartbeat", type=float, default=30.0, help="seconds per device (the agent default)"
    )
    parser.add_argument("--hold", type=float, default=20.0, help="seconds to hold and measure")
    parser.add_argument("--backlog", type=float, default=10.0, help="seconds ingest is stopped")
    opts = parser.parse_args()
    began = time.monotonic()
    logs = workdir("ct-bench-fleet-")
    server = start_postgres(workdir("ct-pg-"), fast=False)
    say(f"== one Mosquitto, one ingest worker, PostgreSQL fsync on; {os.cpu_count()} cores")
    try:
        runs = []
        for n, d in ((opts.baseline, max(1, opts.baseline // 10)), (opts.connections, opts.drop)):
            say(f"== {n:,} connections ({'baseline' if n == opts.baseline else 'target'})")
            # A fresh broker per phase: the last phase's retained states would otherwise reach
            # the new ingest (Mosquitto 2.0 sends retained messages to shared subscriptions).
            broker = start_mosquitto(workdir("ct-mq-"))
            try:
                assert broker.pid is not None
                db = server.create_database(f"fleet{n}")
                runs.append(phase(opts, n, d, db, broker.url, broker.pid, logs))
            finally:
                broker.stop()
    finally:
        server.stop()
    base, big = runs
    say("== summary (baseline -> target)")
    say(f"  connections held          {base.connections:>10,} -> {big.connections:,}")
    say(f"  bulk registration         {base.register_s:>10.2f} -> {big.register_s:.2f} s")
    say(f"  connect all               {base.connect_s:>10.2f} -> {big.connect_s:.2f} s")
    say(f"  all online in the cloud   {base.all_online_s:>10.2f} -> {big.all_online_s:.2f} s")
    say(f"  heartbeats offered        {base.offered_per_s:>10,.0f} -> {big.offered_per_s:,.0f}/s"
        f" (stored {base.stored_per_s:,.0f} -> {big.stored_per_s:,.0f}/s)")  # fmt: skip
    say(f"  heartbeat drain capacity  {big.drain_per_s:>10,.0f}/s ({big.drained:,} drained;"
        " the baseline's backlog is too small to time)")  # fmt: skip
    say(f"  Mosquitto RSS             {base.broker_held / MiB:>10.1f} -> "
        f"{big.broker_held / MiB:.1f} MiB (idle {big.broker_idle / MiB:.1f})")  # fmt: skip
    say(f"  ingest RSS                {base.ingest_held / MiB:>10.1f} -> "
        f"{big.ingest_held / MiB:.1f} MiB (idle {big.ingest_idle / MiB:.1f})")  # fmt: skip
    cloud_held = big.broker_held + big.ingest_held
    cloud_idle = big.broker_idle + big.ingest_idle
    say(f"  cloud side per connection {per_conn(cloud_held, cloud_idle, big.connections)}"
        f" above idle; {cloud_held / big.connections / 1024:.1f} KiB total/connection")  # fmt: skip
    say(
        f"    Mosquitto alone         {per_conn(big.broker_held, big.broker_idle, big.connections)}"
    )
    extra = (big.swarm_held - base.swarm_held) / (big.connections - base.connections)
    say(f"  simulator per connection  {extra / 1024:6.1f} KiB above the baseline swarm"
        f" ({base.swarm_held / MiB:.1f} -> {big.swarm_held / MiB:.1f} MiB)")  # fmt: skip
    say(f"  view exact after drop     {base.drop_s * 1000:>10.0f} -> {big.drop_s * 1000:.0f} ms"
        f" ({max(1, base.connections // 10)} -> {opts.drop:,} dropped)")  # fmt: skip
    say(
        f"  view exact after return   {base.return_s * 1000:>10.0f} -> {big.return_s * 1000:.0f} ms"
    )
    say(f"  ingest_log per message    {big.log_row_bytes:>10.0f} B (heap + indexes)")
    say(f"total bench time {time.monotonic() - began:.0f} s (logs in {logs})")


if __name__ == "__main__":
    main()
