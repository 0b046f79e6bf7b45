"""Failover run: the product under load while its database primary dies and, later, is cut
off from its cluster; at the end nothing acknowledged is missing.

On a Patroni cluster (``channeltrace.ha``) and a Mosquitto the caller started:

* real edge agents (``python -m edge run``, with the cloud key: storage receipts) stream
  readings to ``channeltrace cloud ingest`` workers on the writers' multi-host URL;
* ``channeltrace cloud api`` serves EPCIS captures (a client posts one event at a time,
  retrying each until acknowledged) and consumer scans (clients resolve real signed codes);
  its reads may use the replicas (``CT_DATABASE_READ_URL``);
* ``channeltrace cloud scheduler`` replicas sign ledger checkpoints (one leader by advisory
  lock).

Faults, each waited out until the cluster is healthy again:

1. ``kill -9`` of the primary's node (Patroni, its PostgreSQL and every backend at once);
   the node is started again afterwards and rejoins as a replica;
2. the (new) primary cut from etcd and from its peers for ``partition_s`` while the
   product's processes still reach it: its commits wait for a synchronous standby that
   does not answer, Patroni demotes it and promotes the synchronous standby; afterwards it
   rejoins (pg_rewind).

For each: time to promotion, time until captures and ingest commits resume, what scans and
captures got meanwhile, when a scheduler led again. At the end: readings taken = stored
exactly once, every acknowledged capture present with its ledger index, the ledger audit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channeltrace.children import ChildProcess
from channeltrace.failover_load import (
    CaptureClient,
    CommitWatcher,
    ScanClient,
    statuses,
)
from channeltrace.ha import PatroniCluster
from channeltrace.services import Mosquitto, free_port

__all__ = ["FailoverConfig", "FailoverReport", "Switch", "run_failover"]

_logger = logging.getLogger(__name__)
Say = Callable[[str], None]
TENANT = "acme"
GTIN = "09506000134352"
PREFIX = "9506000"
DC = "urn:epc:id:sgln:9506000.00020.0"


@dataclass(frozen=True)
class FailoverConfig:
    agents: int = 4
    interval_s: float = 0.2  # per agent: one sample (2 readings) this often
    workers: int = 2
    schedulers: int = 2
    scan_clients: int = 2
    capture_every_s: float = 0.2
    warmup_s: float = 8.0
    between_s: float = 5.0  # load before the next fault once the cluster is healthy
    partition_s: float = 25.0
    codes: int = 2_000
    settle_s: float = 120.0


@dataclass
class Switch:
    """One fault and what the product did until it was writing again."""

    fault: str
    old_primary: str
    new_primary: str = ""
    promotion_s: float | None = None
    captures_resumed_s: float | None = None
    ingest_resumed_s: float | None = None
    leader_again_s: float | None = None
    rejoined_s: float | None = None
    scans: Counter[str] = field(default_factory=Counter)  # sent until captures resumed
    captures: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return {
            "fault": self.fault, "old_primary": self.old_primary,
            "new_primary": self.new_primary, "promotion_s": r(self.promotion_s),
            "captures_resumed_s": r(self.captures_resumed_s),
            "ingest_resumed_s": r(self.ingest_resumed_s),
            "scheduler_leader_again_s": r(self.leader_again_s),
            "old_primary_rejoined_s": r(self.rejoined_s),
            "scans_during_switch": dict(self.scans),
            "captures_during_switch": dict(self.captures),
        }  # fmt: skip


@dataclass
class FailoverReport:
    switches: list[Switch] = field(default_factory=list)
    readings_taken: int = 0
    readings_evicted: int = 0
    readings_stored: int = 0
    duplicate_rows: int = 0
    seqs_missing: int = 0
    pending_after: int = 0
    captures_acked: int = 0
    captures_missing: int = 0  # acknowledged, yet absent or at another ledger index
    ledger_entries: int = 0
    ledger_checkpoints: int = 0
    ledger_findings: list[str] = field(default_factory=list)
    scans: Counter[str] = field(default_factory=Counter)
    captures: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0

    @property
    def lost(self) -> int:
        return (
            self.readings_taken - self.readings_evicted - self.readings_stored
            + self.captures_missing + self.seqs_missing
        )

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicate_rows == 0
            and self.pending_after == 0
            and not self.ledger_findings
            and self.ledger_checkpoints > 0
            and len(self.switches) == 2
            and all(s.new_primary and s.new_primary != s.old_primary for s in self.switches)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "switches": [s.as_dict() for s in self.switches],
            "readings_taken": self.readings_taken, "readings_evicted": self.readings_evicted,
            "readings_stored": self.readings_stored, "duplicate_rows": self.duplicate_rows,
            "seqs_missing": self.seqs_missing, "pending_after": self.pending_after,
            "captures_acked": self.captures_acked, "captures_missing": self.captures_missing,
            "ledger_entries": self.ledger_entries,
            "ledger_checkpoints": self.ledger_checkpoints,
            "ledger_findings": self.ledger_findings, "scans": dict(self.scans),
            "captures": dict(self.captures), "lost": self.lost,
            "wall_s": round(self.wall_s, 1), "ok": self.ok,
        }  # fmt: skip


class _Failover:
    def __init__(self, cluster: PatroniCluster, broker: Mosquitto, dbname: str, workdir: Path,
                 config: FailoverConfig, say: Say) -> None:  # fmt: skip
        self.cluster, self.broker, self.workdir, self.config, self.say = (
            cluster, broker, workdir, config, say)  # fmt: skip
        self.writer_url = cluster.writer_url(dbname)
        self.reader_url = cluster.reader_url(dbname)
        self.api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "CT_ENVIRONMENT": "development",
                    "CT_DATABASE_URL": self.writer_url, "CT_DATABASE_READ_URL": self.reader_url,
                    "CT_INGEST_SHARE_GROUP": "failover",
                    "CT_PUBLIC_RATE_LIMIT": "1000000/minute",
                    "CT_SCHEDULER_LEADER_RETRY_S": "1",
                    "CT_LEDGER_CHECKPOINT_INTERVAL_SECONDS": "1"}  # fmt: skip
        self.key_file = workdir / "cloud-key.pem"
        self.agents: list[ChildProcess] = []
        self.configs: list[Path] = []
        self.workers: list[ChildProcess] = []
        self.schedulers: list[ChildProcess] = []
        self.api: ChildProcess | None = None
        self.stop_load = threading.Event()
        self.report = FailoverReport()

    # --- set-up ------------------------------------------------------------------------

    def setup(self) -> tuple[str, list[str], list[str]]:
        """Schema, channel, codes, an API key and the agents: (api key, EPCs to capture,
        paths to scan)."""
        import psycopg

        from cloud.auth.apikeys import create_api_key
        from cloud.channel.bulk import ensure_tenants
        from cloud.channel.changes import Actor
        from cloud.channel.records import Distributor, Location, Party, Product, Site
        from cloud.channel.store import save_record
        from cloud.migrate import migrate
        from cloud.provenance.brands import record_issued_codes, register_brand_key
        from cloud.provenance.issue import IssueRequest, issue_codes
        from cloud.provenance.keys import create_brand_key, load_private_key
        from cloud.provenance.prefixes import add_prefix
        from cloud.registry import DeviceRegistration, register_device
        from edge.provision import SensorChoice, provision
        from wire import format_public_key, generate_private_key, write_private_key
        from wire.gs1 import Gtin

        migrate(self.writer_url)
        key = generate_private_key()
        write_private_key(key, self.key_file)
        cloud = f'\n[cloud]\nconfig_public_key = "{format_public_key(key)}"\n'
        key_path, entry = create_brand_key(self.workdir / "brand-keys")
        codes = list(issue_codes(
            IssueRequest(f"127.0.0.1:{self.api_port}", Gtin(GTIN), "L1", self.config.codes),
            load_private_key(key_path),
        ))  # fmt: skip
        with psycopg.connect(self.writer_url, autocommit=True) as conn:
            operator = Actor("failover:operator", "operator")
            ensure_tenants(conn, [(TENANT, "Acme")], operator)
            for record in (
                Product(GTIN, "Reserve Red", "珍藏红葡萄酒", 10, 18),
                Distributor("dist-gd", "South", regions=("440000",)),
                Site("dc", "Guangzhou DC", region="440100", distributor_id="dist-gd"),
                Location(DC, "dc"),
                Party("urn:epc:id:pgln:9506000.00001", "dist-gd"),
            ):
                save_record(conn, TENANT, record, operator)
            add_prefix(conn, TENANT, PREFIX)
            register_brand_key(conn, TENANT, entry)
            record_issued_codes(conn, TENANT, "failover", codes, "L1")
            api_key = create_api_key(conn, tenant_id=TENANT, role="brand", label="failover")
            for index in range(self.config.agents):
                device = f"gw-failover-{index:02d}"
                prov = provision(self.workdir / "agents" / device, device=device, tenant=TENANT,
                                 site="dc", broker_url=self.broker.url,
                                 sensor=SensorChoice.simulated("wine"))  # fmt: skip
                register_device(conn, DeviceRegistration(**prov.registration))
                text = prov.config_path.read_text()
                for old, new in (("interval_s = 1.0", f"interval_s = {self.config.interval_s}"),
                                 ("heartbeat_interval_s = 30", "heartbeat_interval_s = 5"),
                                 ("batch_max_readings = 500", "batch_max_readings = 50")):
                    if old not in text:
                        raise RuntimeError(f"agent.toml changed: {old!r} not found")
                    text = text.replace(old, new)
                prov.config_path.write_text(text + cloud)
                self.configs.append(prov.config_path)
                self.agents.append(self._process(
                    [sys.executable, "-m", "edge", "run", "--config", str(prov.config_path)],
                    device))  # fmt: skip
        half = len(codes) // 2
        epcs = [c.link.uri for c in codes[:half]]  # captured (commissioned) one by one
        paths = [c.link.uri.split(f"127.0.0.1:{self.api_port}", 1)[1] for c in codes[half:]]
        return api_key, epcs, paths

    def _process(self, argv: list[str], name: str) -> ChildProcess:
        return ChildProcess(argv, self.workdir / f"{name}.log", self.env, stamped=True)

    def _cloud(self, *args: str, name: str) -> ChildProcess:
        return self._process([sys.executable, "-m", "channeltrace", "cloud", *args], name)

    def start_services(self) -> None:
        for index in range(self.config.workers):
            self.workers.append(self._cloud(
                "ingest", "--mqtt-url", self.broker.url, "--client-id",
                f"failover-ingest-{index + 1}", "--receipt-key-file", str(self.key_file),
                name=f"ingest-{index + 1}"))  # fmt: skip
        for index in range(self.config.schedulers):
            self.schedulers.append(self._cloud("scheduler", name=f"scheduler-{index + 1}"))
        self.api = self._cloud("api", "--port", str(self.api_port), name="api")
        for process in (*self.workers, *self.schedulers, self.api):
            process.start()
        self._wait_http(f"{self.base_url}/openapi.json", 60)
        for agent in self.agents:
            agent.start()

    @staticmethod
    def _wait_http(url: str, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")

    # --- faults --------------------------------------------------------------------------

    def _switch(self, fault: str, inject: Callable[[Any], None], load: _Load) -> Switch:
        old = self.cluster.primary()
        switch = Switch(fault, old.member)
        t0 = time.monotonic()
        inject(old)
        new = self.cluster.wait_for_primary(120, not_member=old.member)
        switch.new_primary = new.member
        switch.promotion_s = time.monotonic() - t0
        self.say(f"  {fault} of {old.member}: {new.member} primary after "
                 f"{switch.promotion_s:.1f} s")  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            resumed = next((a.done for a in load.capture.answers if a.sent > t0 and a.ok), None)
            ingest = load.watcher.resumed_after(t0)
            if resumed is not None and ingest is not None:
                switch.captures_resumed_s = resumed - t0
                switch.ingest_resumed_s = ingest - t0
                break
            time.sleep(0.2)
        end = t0 + (switch.captures_resumed_s or 0.0)
        switch.scans = sum((statuses(c.answers, t0, end) for c in load.scans), Counter())
        switch.captures = statuses(load.capture.answers, t0, end)
        leads = [s.first_line_after("became leader", t0) for s in self.schedulers]
        first = min((t for t in leads if t is not None), default=None)
        switch.leader_again_s = None if first is None else first - t0
        return switch

    def _kill(self, node: Any) -> None:
        self.cluster.kill_node(node)

    def _cut(self, node: Any) -> None:
        self.cluster.partition(node, self.config.partition_s)

    def _rejoin(self, switch: Switch, t0: float, restart: Any | None) -> None:
        if restart is not None:
            restart.start()
        self.cluster.wait_healthy(180)
        switch.rejoined_s = time.monotonic() - t0

    # --- run -----------------------------------------------------------------------------

    def run(self) -> FailoverReport:
        began = time.monotonic()
        api_key, epcs, paths = self.setup()
        load = _Load(self, api_key, epcs, paths)
        try:
            self.start_services()
        except BaseException:
            self._stop_processes()
            raise
        self.say(f"failover: {len(self.agents)} agents, {len(self.workers)} ingest workers, "
                 f"{len(self.schedulers)} schedulers, API {self.base_url}, "
                 f"{self.config.scan_clients} scan clients, 1 capture client; primary "
                 f"{self.cluster.primary().member}")  # fmt: skip
        try:
            load.start()
            time.sleep(self.config.warmup_s)
            killed = self.cluster.primary()
            t0 = time.monotonic()
            switch = self._switch("kill -9", self._kill, load)
            self._rejoin(switch, t0, killed)
            self.report.switches.append(switch)
            time.sleep(self.config.between_s)
            t0 = time.monotonic()
            switch = self._switch("partition", self._cut, load)
            time.sleep(max(0.0, t0 + self.config.partition_s - time.monotonic()))  # healed
            self._rejoin(switch, t0, None)
            self.report.switches.append(switch)
            time.sleep(self.config.between_s)
        finally:
            load.stop()
            try:
                self._stop_and_drain()
            finally:
                self._stop_processes()
        self._figures(load)
        self.report.wall_s = time.monotonic() - began
        return self.report

    def _stop_processes(self) -> None:
        for process in (*self.agents, *self.workers, *self.schedulers,
                        *([self.api] if self.api else [])):  # fmt: skip
            process.stop()

    def _stop_and_drain(self) -> None:
        for agent in self.agents:
            with contextlib.suppress(ProcessLookupError):
                if agent.proc is not None:
                    agent.proc.terminate()
        for agent in self.agents:
            agent.stop()
        options = ["--samples", "0", "--drain", str(self.config.settle_s)]
        drains = [self._process([*a.argv, *options], f"{Path(a.log).stem}-drain")
                  for a in self.agents]  # fmt: skip
        for drain in drains:
            drain.start()
        for drain in drains:
            drain.wait(self.config.settle_s + 30)
        self._wait_stored(time.monotonic() + self.config.settle_s)

    def _statuses(self) -> list[Any]:
        from edge.status import read_status

        return [read_status(c.parent / "outbox.db", c.parent / "remote_config.json",
                            c.parent / "alarms.json", c.parent / "link.json")
                for c in self.configs]  # fmt: skip

    def _wait_stored(self, deadline: float) -> None:
        import psycopg

        taken = sum(s.accepted.get("telemetry", 0) - s.evicted_items for s in self._statuses())
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.Error), psycopg.connect(self.writer_url) as conn:
                row = conn.execute("SELECT count(*) FROM readings").fetchone()
                if row is not None and row[0] >= taken:
                    return
            time.sleep(1)

    # --- figures -------------------------------------------------------------------------

    def _figures(self, load: _Load) -> None:
        import psycopg

        from cloud.settings import Settings
        from ledger.service.jobs import audit
        from ledger.service.keys import load_log_key

        report = self.report
        statuses_ = self._statuses()
        report.readings_taken = sum(s.accepted.get("telemetry", 0) for s in statuses_)
        report.readings_evicted = sum(s.evicted_items for s in statuses_)
        report.pending_after = sum(s.pending_items + s.pending_messages for s in statuses_)
        allocated = {c.parent.name: s.next_seq - 1 for c, s in zip(self.configs, statuses_,
                                                                    strict=True)}  # fmt: skip
        report.captures_acked = len(load.capture.acked)
        for client in load.scans:
            report.scans.update(a.status for a in client.answers)
        report.captures.update(a.status for a in load.capture.answers)
        with psycopg.connect(self.writer_url, autocommit=True) as conn:

            def one(sql: str, params: Any = None) -> int:
                row = conn.execute(sql.encode(), params).fetchone()
                return int(row[0]) if row is not None and row[0] is not None else 0

            report.readings_stored = one("SELECT count(*) FROM readings")
            report.duplicate_rows = one(
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM readings"
                " GROUP BY device_id, seq, sensor, metric, time) r"
            )
            for device, last in allocated.items():
                settled = one(
                    "SELECT count(DISTINCT seq) FROM (SELECT seq FROM ingest_log WHERE"
                    " device_id = %(d)s AND seq <= %(last)s UNION SELECT seq FROM evicted_seqs"
                    " WHERE device_id = %(d)s AND seq <= %(last)s UNION SELECT seq FROM"
                    " settled_seqs WHERE device_id = %(d)s AND seq <= %(last)s) s",
                    {"d": device, "last": last},
                )
                report.seqs_missing += last - settled
            found: dict[str, int] = dict(conn.execute(
                "SELECT event_id, ledger_idx FROM custody_events WHERE event_id = ANY(%s)",
                (list(load.capture.acked),),
            ).fetchall())  # fmt: skip
            report.captures_missing = sum(
                found.get(event_id) != index for event_id, index in load.capture.acked.items()
            )
            # The run is in development (self.env): its schedulers sign with the dev log key.
            key = load_log_key(Settings(environment="development"))
            audited = audit(conn, key.verifier())
            report.ledger_entries = audited.entries
            report.ledger_checkpoints = audited.checkpoints
            report.ledger_findings = [str(f) for f in audited.findings]


class _Load:
    """The capture client, the scan clients and the commit watcher, started together."""

    def __init__(self, run: _Failover, api_key: str, epcs: list[str], paths: list[str]) -> None:
        stop = run.stop_load
        self.capture = CaptureClient(run.base_url, api_key, epcs, DC, stop,
                                     every_s=run.config.capture_every_s)  # fmt: skip
        share = max(1, len(paths) // max(1, run.config.scan_clients))
        self.scans = [
            ScanClient(run.base_url, paths[i * share:(i + 1) * share], stop, name=f"scan-{i}")
            for i in range(run.config.scan_clients)
        ]
        self.watcher = CommitWatcher(run.writer_url, stop)
        self._stop = stop

    def start(self) -> None:
        for thread in (self.capture, *self.scans, self.watcher):
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in (self.capture, *self.scans, self.watcher):
            thread.join(90)


def run_failover(
    cluster: PatroniCluster,
    broker: Mosquitto,
    workdir: Path,
    config: FailoverConfig,
    say: Say = print,
    dbname: str = "ct_failover",
) -> FailoverReport:
    """Run the failover scenario on services the caller started; ``workdir`` gets keys,
    agents and every process's log."""
    workdir.mkdir(parents=True, exist_ok=True)
    cluster.create_database(dbname)
    report = _Failover(cluster, broker, dbname, workdir, config, say).run()
    say(json.dumps(report.as_dict(), ensure_ascii=False))
    return report
