"""Chaos run: the whole delivery chain on real processes, faults at random times, and at the
end every reading the agents took is stored exactly once.

Agents (``python -m edge run``, each behind a TCP proxy this module controls), ingest
workers (``channeltrace cloud ingest`` with the cloud key, one shared subscription), a
Mosquitto with persistence and a PostgreSQL that the caller started. While the agents
sample, faults are injected at random times, each kind at least once:

* ``broker_kill9``: Mosquitto ``kill -9`` (persistence on), restarted 1-3 s later;
* ``broker_wipe``: Mosquitto stopped, its persistence file deleted, restarted (queued
  messages, sessions and retained receipts gone);
* ``ingest_kill9``: one ingest worker ``kill -9``, restarted 1-3 s later;
* ``postgres_restart``: PostgreSQL fast restart;
* ``agent_kill9``: one agent ``kill -9`` (a power cut), restarted 1-5 s later;
* ``agent_netcut``: one agent's traffic held for ``cut_s`` (30 s) at its proxy;
* ``broker_restart_ingest_down``: every ingest worker stopped, the broker restarted, the
  agents publishing into it for 3 s (Mosquitto 2.0.11 answers 0x10), the workers started.

Then the agents are stopped, run once more to deliver what their outboxes hold, and the
figures are computed: readings taken (the outboxes' committed counters) against rows
stored, duplicate rows, every allocated seq stored or reported (evicted, not held), gaps
recorded and backfilled, the largest receipt lag the agents reported along the way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channeltrace.children import ChildProcess
from channeltrace.proxies import ProxyLoop
from channeltrace.services import Mosquitto, Postgres

__all__ = ["FAULTS", "ChaosConfig", "ChaosReport", "run_chaos"]

_logger = logging.getLogger(__name__)
Say = Callable[[str], None]
FAULTS = (
    "broker_kill9",
    "broker_wipe",
    "ingest_kill9",
    "postgres_restart",
    "agent_kill9",
    "agent_netcut",
    "broker_restart_ingest_down",
)
TENANT = "chaos"
_PUBACK_CODE = re.compile(r"PUBACK 0x([0-9a-f]{2})")


@dataclass(frozen=True)
class ChaosConfig:
    duration_s: float = 600.0  # sampling time, faults included
    agents: int = 20
    workers: int = 2
    interval_s: float = 0.2  # per agent: 2 readings per sample
    mean_fault_gap_s: float = 25.0
    cut_s: float = 30.0
    keepalive_s: int = 10
    seed: int = 1
    settle_s: float = 180.0  # the longest wait for the final delivery


@dataclass
class ChaosReport:
    faults: Counter[str] = field(default_factory=Counter)
    readings_taken: int = 0
    evicted_readings: int = 0
    readings_stored: int = 0
    duplicate_rows: int = 0
    seqs_allocated: int = 0
    seqs_stored: int = 0
    seqs_evicted: int = 0
    seqs_not_held: int = 0
    seqs_missing: int = 0
    pending_after: int = 0  # messages and items still in the outboxes at the end
    gaps_recorded: int = 0
    gaps_backfilled: int = 0
    gaps_open_lost: int = 0
    max_receipt_lag_s: float = 0.0
    receipts: int = 0
    backfill_requests: int = 0
    duplicates_absorbed: int = 0  # messages the agents published again, absorbed by the cloud
    puback_refusals_logged: Counter[str] = field(default_factory=Counter)  # by code
    dead_letters: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Every reading taken stored once; every seq stored or accounted for."""
        return (
            self.readings_stored == self.readings_taken - self.evicted_readings
            and self.duplicate_rows == 0
            and self.seqs_missing == 0
            and self.pending_after == 0
            and self.gaps_open_lost == 0
            and all(self.faults[kind] > 0 for kind in FAULTS)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "faults": dict(self.faults), "faults_total": sum(self.faults.values()),
            "readings_taken": self.readings_taken, "evicted_readings": self.evicted_readings,
            "readings_stored": self.readings_stored, "duplicate_rows": self.duplicate_rows,
            "seqs_allocated": self.seqs_allocated, "seqs_stored": self.seqs_stored,
            "seqs_evicted": self.seqs_evicted, "seqs_not_held": self.seqs_not_held,
            "seqs_missing": self.seqs_missing, "pending_after": self.pending_after,
            "gaps_recorded": self.gaps_recorded, "gaps_backfilled": self.gaps_backfilled,
            "gaps_open_lost": self.gaps_open_lost,
            "max_receipt_lag_s": round(self.max_receipt_lag_s, 1),
            "receipts": self.receipts, "backfill_requests": self.backfill_requests,
            "duplicates_absorbed": self.duplicates_absorbed,
            "puback_refusals_logged": dict(self.puback_refusals_logged),
            "dead_letters": self.dead_letters,
            "wall_s": round(self.wall_s, 1), "ok": self.ok,
        }  # fmt: skip


class _Chaos:
    def __init__(self, broker: Mosquitto, pg: Postgres, database_url: str, workdir: Path,
                 config: ChaosConfig, say: Say) -> None:  # fmt: skip
        self.broker, self.pg, self.db, self.workdir = broker, pg, database_url, workdir
        self.config, self.say = config, say
        self.random = random.Random(config.seed)  # noqa: S311 - fault timing, not secrets
        self.report = ChaosReport()
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "CT_ENVIRONMENT": "development",
                    "CT_INGEST_SHARE_GROUP": "chaos"}  # fmt: skip
        self.proxies = ProxyLoop()
        self.configs: list[Path] = []
        self.agents: list[ChildProcess] = []
        self.workers: list[ChildProcess] = []
        self.key_file = workdir / "cloud-key.pem"
        self._sampling = threading.Event()

    # --- set-up --------------------------------------------------------------------------

    def setup(self) -> None:
        import psycopg

        from cloud.migrate import migrate
        from cloud.registry import DeviceRegistration, register_device
        from edge.provision import SensorChoice, provision
        from wire import format_public_key, generate_private_key, write_private_key

        migrate(self.db)
        key = generate_private_key()
        write_private_key(key, self.key_file)
        cloud = f'\n[cloud]\nconfig_public_key = "{format_public_key(key)}"\n'
        with psycopg.connect(self.db) as conn:
            for index in range(self.config.agents):
                device = f"gw-chaos-{index:02d}"
                proxy = self.proxies.add(self.broker.port)
                prov = provision(self.workdir / "agents" / device, device=device, tenant=TENANT,
                                 site=f"wh-{index % 5}", broker_url=f"mqtt://127.0.0.1:{proxy.port}",
                                 sensor=SensorChoice.simulated("dairy"))  # fmt: skip
                register_device(conn, DeviceRegistration(**prov.registration))
                text = prov.config_path.read_text()
                for old, new in (("interval_s = 1.0", f"interval_s = {self.config.interval_s}"),
                                 ("keepalive_s = 30", f"keepalive_s = {self.config.keepalive_s}"),
                                 ("heartbeat_interval_s = 30", "heartbeat_interval_s = 5"),
                                 ("batch_max_readings = 500", "batch_max_readings = 50")):
                    if old not in text:
                        raise RuntimeError(f"agent.toml changed: {old!r} not found")
                    text = text.replace(old, new)
                prov.config_path.write_text(text + cloud)
                self.configs.append(prov.config_path)
                self.agents.append(ChildProcess(
                    [sys.executable, "-m", "edge", "run", "--config", str(prov.config_path)],
                    self.workdir / f"{device}.log", self.env,
                ))  # fmt: skip
        for index in range(self.config.workers):
            self.workers.append(ChildProcess(
                [sys.executable, "-m", "channeltrace", "cloud", "ingest", "--database-url", self.db,
                 "--mqtt-url", self.broker.url, "--client-id", f"chaos-ingest-{index + 1}",
                 "--receipt-key-file", str(self.key_file)],
                self.workdir / f"ingest-{index + 1}.log", self.env,
            ))  # fmt: skip

    # --- faults ----------------------------------------------------------------------------

    def _pause(self, low: float, high: float) -> None:
        time.sleep(self.random.uniform(low, high))

    def broker_kill9(self) -> str:
        pid = self.broker.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        self.broker.stop()  # reaps it
        self._pause(1, 3)
        self.broker.start()
        return f"pid {pid}"

    def broker_wipe(self) -> str:
        self.broker.stop()
        removed = [p.name for p in (self.broker.workdir / "mosquitto-data").glob("*.db")]
        for name in removed:
            (self.broker.workdir / "mosquitto-data" / name).unlink()
        self.broker.start()
        return f"deleted {', '.join(removed) or 'nothing (not saved yet)'}"

    def ingest_kill9(self) -> str:
        worker = self.random.choice(self.workers)
        worker.kill()
        self._pause(1, 3)
        worker.start()
        return Path(worker.log).stem

    def postgres_restart(self) -> str:
        self.pg.restart("fast")
        return "fast"

    def agent_kill9(self) -> str:
        index = self.random.randrange(len(self.agents))
        self.agents[index].kill()
        self._pause(1, 5)
        self.agents[index].start()
        return self.configs[index].parent.name

    def agent_netcut(self) -> str:
        index = self.random.randrange(len(self.agents))
        self.proxies.cut([self.proxies.proxies[index]], self.config.cut_s)
        return f"{self.configs[index].parent.name} for {self.config.cut_s:.0f} s"

    def broker_restart_ingest_down(self) -> str:
        for worker in self.workers:
            worker.stop()
        self.broker.stop()
        self.broker.start()
        time.sleep(3)  # agents publish into a broker whose shared sessions are offline
        for worker in self.workers:
            worker.start()
        return f"{len(self.workers)} workers down for the restart"

    def _plan(self) -> list[tuple[float, str]]:
        duration = self.config.duration_s
        start, end = min(10.0, duration * 0.1), duration * 0.8
        kinds = list(FAULTS)
        extra = max(0, round((end - start) / self.config.mean_fault_gap_s) - len(kinds))
        kinds += [self.random.choice(FAULTS) for _ in range(extra)]
        self.random.shuffle(kinds)
        # One fault at a random time in each of len(kinds) equal slots: random, but spread
        # over the run rather than bunched.
        slot = (end - start) / len(kinds)
        times = [start + slot * (i + self.random.random()) for i in range(len(kinds))]
        return list(zip(times, kinds, strict=True))

    # --- run -------------------------------------------------------------------------------

    def _sample(self) -> None:
        """Receipt lag as the agents see it, and gap records, while the run goes on."""
        from cloud.storage.gaps import detect_gaps
        from edge.status import read_status

        last_gaps = 0.0
        while not self._sampling.wait(2.0):
            for config in self.configs:
                data = config.parent
                with contextlib.suppress(Exception):  # a file mid-rename, a busy database
                    status = read_status(data / "outbox.db", data / "remote_config.json",
                                         data / "alarms.json", data / "link.json")  # fmt: skip
                    lag = status.receipt_lag_s or 0.0
                    self.report.max_receipt_lag_s = max(self.report.max_receipt_lag_s, lag)
            if time.monotonic() - last_gaps >= 10:
                last_gaps = time.monotonic()
                self._detect_gaps(detect_gaps)

    def _detect_gaps(self, detect: Callable[[Any], int]) -> None:
        import psycopg

        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(self.db, connect_timeout=3) as conn,
        ):
            detect(conn)

    def run(self) -> ChaosReport:
        began = time.monotonic()
        self.setup()
        self.say(f"chaos: {len(self.agents)} agents behind proxies, {len(self.workers)} ingest "
                 f"workers, Mosquitto {self.broker.url} (persistence), PostgreSQL on port "
                 f"{self.pg.port}; {self.config.duration_s:.0f} s")  # fmt: skip
        for worker in self.workers:
            worker.start()
        time.sleep(2)
        for agent in self.agents:
            agent.start()
        sampler = threading.Thread(target=self._sample, name="chaos-sampler", daemon=True)
        sampler.start()
        started = time.monotonic()
        try:
            for at, kind in self._plan():
                wait = started + at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                detail = getattr(self, kind)()
                self.report.faults[kind] += 1
                self.say(f"  t={time.monotonic() - started:5.0f}s  {kind}: {detail}")
            rest = started + self.config.duration_s - time.monotonic()
            if rest > 0:
                time.sleep(rest)
            self.say("chaos: stopping the agents, then one delivery run each")
            for agent in self.agents:
                agent.terminate()  # all at once: each delivers for up to 5 s, then stops
            for agent in self.agents:
                agent.stop()
            self._deliver_the_rest()
            self._wait_until_stored(time.monotonic() + self.config.settle_s)
            time.sleep(3)  # let the last receipts and heartbeats land
        finally:
            self._sampling.set()
            sampler.join(10)
            for agent in self.agents:
                agent.kill()
            for worker in self.workers:
                worker.stop()
            self.proxies.close()
        self._figures()
        self.report.wall_s = time.monotonic() - began
        return self.report

    def _deliver_the_rest(self) -> None:
        """Each agent once more, sampling nothing: it delivers its outbox and stops."""
        options = ["--samples", "0", "--drain", str(self.config.settle_s)]
        drains = [ChildProcess([*a.argv, *options], a.log, a.env) for a in self.agents]
        for drain in drains:
            drain.start()
        for drain in drains:
            drain.wait(self.config.settle_s + 30)

    def _statuses(self) -> list[Any]:
        from edge.status import read_status

        out = []
        for config in self.configs:
            data = config.parent
            out.append(read_status(data / "outbox.db", data / "remote_config.json",
                                   data / "alarms.json", data / "link.json"))  # fmt: skip
        return out

    def _wait_until_stored(self, deadline: float) -> None:
        import psycopg

        taken = sum(s.accepted.get("telemetry", 0) - s.evicted_items for s in self._statuses())
        while time.monotonic() < deadline:
            with psycopg.connect(self.db) as conn:
                row = conn.execute("SELECT count(*) FROM readings").fetchone()
            if row is not None and row[0] >= taken:
                return
            time.sleep(1)

    # --- figures ---------------------------------------------------------------------------

    def _figures(self) -> None:
        import psycopg

        from cloud.storage.gaps import detect_gaps

        report = self.report
        statuses = self._statuses()
        report.readings_taken = sum(s.accepted.get("telemetry", 0) for s in statuses)
        report.evicted_readings = sum(s.evicted_items for s in statuses)
        report.pending_after = sum(s.pending_items + s.pending_messages for s in statuses)
        allocated = {c.parent.name: s.next_seq - 1 for c, s in zip(self.configs, statuses,
                                                                    strict=True)}  # fmt: skip
        report.seqs_allocated = sum(allocated.values())
        self._detect_gaps(detect_gaps)
        with psycopg.connect(self.db) as conn:

            def one(sql: str) -> int:
                row = conn.execute(sql.encode()).fetchone()
                return int(row[0]) if row is not None else 0

            report.readings_stored = one("SELECT count(*) FROM readings")
            report.duplicate_rows = one(
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM readings"
                " GROUP BY device_id, seq, sensor, metric, time) r"
            )
            report.duplicates_absorbed = one("SELECT coalesce(sum(duplicates), 0) FROM ingest_log")
            report.backfill_requests = one(
                "SELECT coalesce(sum(backfill_requests), 0) FROM device_receipts"
            )
            report.gaps_recorded = one("SELECT count(*) FROM ingest_gaps")
            report.gaps_backfilled = one(
                "SELECT count(*) FROM ingest_gaps WHERE backfilled_at IS NOT NULL"
            )
            report.gaps_open_lost = one(
                "SELECT count(*) FROM ingest_gaps WHERE backfilled_at IS NULL AND lost_seqs > 0"
            )
            rows = conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason")
            report.dead_letters = {str(reason): int(n) for reason, n in rows.fetchall()}
            for device, last in allocated.items():
                stored, evicted, not_held = conn.execute(
                    "SELECT (SELECT count(*) FROM ingest_log WHERE device_id = %(d)s"
                    "        AND seq <= %(last)s),"
                    " (SELECT count(*) FROM evicted_seqs e WHERE device_id = %(d)s"
                    "  AND seq <= %(last)s AND NOT EXISTS (SELECT 1 FROM ingest_log l"
                    "  WHERE l.device_id = e.device_id AND l.seq = e.seq)),"
                    " (SELECT count(*) FROM settled_seqs s WHERE device_id = %(d)s"
                    "  AND seq <= %(last)s AND NOT EXISTS (SELECT 1 FROM ingest_log l"
                    "  WHERE l.device_id = s.device_id AND l.seq = s.seq))",
                    {"d": device, "last": last},
                ).fetchone()  # type: ignore[misc]
                report.seqs_stored += int(stored)
                report.seqs_evicted += int(evicted)
                report.seqs_not_held += int(not_held)
        report.seqs_missing = (
            report.seqs_allocated - report.seqs_stored - report.seqs_evicted - report.seqs_not_held
        )
        for log in [a.log for a in self.agents]:
            text = log.read_text(encoding="utf-8", errors="replace")
            # One log line per backoff episode (not per message) and agent.
            report.puback_refusals_logged.update(
                f"0x{code}" for code in _PUBACK_CODE.findall(text)
            )
        for worker in self.workers:  # each clean stop prints its figures (kill -9 does not)
            for line in worker.log.read_text(errors="replace").splitlines():
                if line.startswith("{") and '"ingest": "stopped"' in line:
                    report.receipts += int(json.loads(line).get("receipts", 0))


def run_chaos(
    broker: Mosquitto,
    pg: Postgres,
    database_url: str,
    workdir: Path,
    config: ChaosConfig,
    say: Say = print,
) -> ChaosReport:
    """Run the chaos scenario against services the caller started (``broker`` with
    persistence, ``pg`` restartable); ``workdir`` receives keys, agents and logs."""
    workdir.mkdir(parents=True, exist_ok=True)
    return _Chaos(broker, pg, database_url, workdir, config, say).run()

