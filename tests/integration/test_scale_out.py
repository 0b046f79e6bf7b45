"""Scale-out on one machine (issue 8): scheduler leader failover and ingest 1 -> 3 workers.

Everything runs as real processes against real services: ``channeltrace cloud scheduler``
replicas electing a leader with a PostgreSQL advisory lock and anchoring on anvil, and
``channeltrace cloud ingest`` workers on one Mosquitto shared subscription. Only generous
deadlines, no timing thresholds; the measured fail-over time is in the failure message
and in ``docs/scaling.md``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from cloud.alerts import create_subscription
from cloud.migrate import migrate
from cloud.registry import register_device
from cloud.storage.products import Product, save_product
from firmware_sim.devices.climate import ClimateSensor, Scenario
from firmware_sim.tools.loadgen import LoadResult, Publisher, make_fleet, run_load
from firmware_sim.tools.registration import register_bulk
from ledger.note import LogKey
from ledger.service.anchor import Web3Anchorer, deploy_anchor_contract
from ledger.service.pg_store import PgLog
from tests.cloud._messages import GTIN, Device
from tests.cloud.alerts._world import Warehouse, WebhookReceiver, receiver
from tests.integration.processes import Background, channeltrace, wait_for
from tests.integration.test_ingest_acceptance import Workers
from tests.ledger._events import custody_event
from tests.plugins.anvil import Anvil
from wire import Kind, StockBatch, StockCount

pytestmark = pytest.mark.integration

DEADLINE_S = 60
RETRY_S = 1.0  # leader election retry: the fail-over interval
ANCHOR_S = 1.0
WEBHOOK_SECRET = "failover-webhook-secret-0123456789"


# --------------------------------------------------------------------------- scheduler


class Replicas:
    """``channeltrace cloud scheduler`` replicas sharing one database."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: list[Background] = []
        self.killed: list[Background] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            log = self.logs / f"scheduler-{len(self.running) + len(self.killed)}.log"
            self.running.append(Background(["cloud", "scheduler"], env=self.env, log=log))

    def leaders(self) -> list[Background]:
        return [r for r in self.running if any("became leader" in line for line in r.lines)]

    def wait_leader(self) -> Background:
        wait_for(lambda: len(self.leaders()) == 1, DEADLINE_S, self.output)
        return self.leaders()[0]

    def kill(self, replica: Background) -> None:
        replica.kill()  # SIGKILL: no resignation, the lock goes when its session dies
        self.running.remove(replica)
        self.killed.append(replica)

    def output(self) -> str:
        return "\n---\n".join(r.output() for r in [*self.killed, *self.running])


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Replicas]]:
    made: list[Replicas] = []

    def make(env: dict[str, str]) -> Replicas:
        made.append(Replicas(env, tmp_path))
        return made[-1]

    yield make
    for group in made:
        for replica in group.running:
            replica.kill()


def _confirmed_sizes(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT size FROM ledger_anchors WHERE status = 'confirmed' ORDER BY size"
        ).fetchall()
    return [int(r[0]) for r in rows]


def _anchored(url: str, size: int) -> Callable[[], bool]:
    return lambda: size in _confirmed_sizes(url)


def _grow(url: str, start: int, count: int) -> int:
    with psycopg.connect(url) as conn:
        return PgLog(conn).append([custody_event(i) for i in range(start, start + count)]).size


def test_scheduler_leader_failover_keeps_anchoring_once_per_root(
    database_url: str, anvil: Anvil, replicas: Callable[[dict[str, str]], Replicas]
) -> None:
    channeltrace(["cloud", "migrate", "--database-url", database_url])
    sender = anvil.private_keys[1]  # an account no other test sends from
    contract = deploy_anchor_contract(anvil.url, sender)
    env = {
        "CT_DATABASE_URL": database_url,
        "CT_ETH_RPC_URL": anvil.url,
        "CT_LEDGER_CONTRACT": contract,
        "CT_LEDGER_KEY": LogKey.generate("scale.test.channeltrace.example/log").to_skey(),
        "CT_LEDGER_ANCHOR_KEY": sender,
        "CT_LEDGER_CHECKPOINT_INTERVAL_SECONDS": "0.5",
        "CT_LEDGER_ANCHOR_INTERVAL_SECONDS": str(ANCHOR_S),
        "CT_SCHEDULER_LEADER_RETRY_S": str(RETRY_S),
    }
    group = replicas(env)
    group.start(3)
    leader = group.wait_leader()

    size = _grow(database_url, 0, 10)
    wait_for(_anchored(database_url, size), DEADLINE_S, group.output)

    takeovers = []
    for round_ in range(2):  # 3 replicas -> 2 -> 1: two fail-overs
        group.kill(leader)
        killed_at = time.monotonic()
        size = grown = _grow(database_url, size, 5)
        leader = group.wait_leader()
        wait_for(_anchored(database_url, grown), DEADLINE_S, group.output)
        takeovers.append(round(time.monotonic() - killed_at, 2))
        assert leader not in group.killed, f"round {round_}"

    # Each root that was anchored is on chain exactly once, and matches its one row.
    chain = Web3Anchorer(anvil.url, contract, sender)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT a.size, a.root, a.tx_hash, a.status FROM ledger_anchors a ORDER BY a.id"
        ).fetchall()
        roots = conn.execute("SELECT size, root FROM ledger_checkpoints").fetchall()
    confirmed = [(int(s), bytes(r), bytes(t)) for s, r, t, status in rows if status == "confirmed"]
    assert [s for s, _, _ in confirmed] == sorted({s for s, _, _ in confirmed})  # once per size
    assert {10, 15, 20} <= {s for s, _, _ in confirmed}, (takeovers, group.output())
    on_chain = {bytes(root): chain.find_anchors(bytes(root)) for _, root in roots}
    assert all(len(found) <= 1 for found in on_chain.values()), on_chain
    for size_, root, tx_hash in confirmed:
        (event,) = on_chain[root]
        assert (event.size, event.tx_hash) == (size_, tx_hash)
    assert sum(len(found) for found in on_chain.values()) == len(confirmed)
    # Only the last replica is left, and it leads.
    assert group.leaders() == group.running, takeovers


def _excursion(url: str, device: Device) -> None:
    """45 minutes of a failed compressor at ``device``'s site, stored through the ingest store."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=70)
    w = Warehouse(url, device=device)
    with psycopg.connect(url, autocommit=True) as conn:
        register_device(conn, device.registration)
        save_product(conn, Product(device.tenant, GTIN, "Milk 1 l", 2.0, 6.0))
    counts = [StockCount(ts=start, gtin=GTIN, quantity=400, location="A-01", method="rfid")]
    w.send(Kind.STOCK, StockBatch(sent_at=start, counts=counts), start)
    scenario = Scenario(doors_per_h=0, hvac_failure_after_s=0, hvac_failure_s=2 * 3600)
    sensor = ClimateSensor("probe-1", profile="dairy", seed=1, scenario=scenario)
    for _ in w.climate(sensor, start, start + timedelta(minutes=45)):
        pass


def _excursion_calls(hook: WebhookReceiver) -> dict[str, int]:
    """``alert.opened`` notifications per excursion site, received successfully, told apart
    by their ``webhook-id``. Delivery is at least once: a leader killed after the receiver
    answered but before it recorded the delivery leaves the next leader to send the same
    notification again, with the same id, which a receiver drops (Standard Webhooks)."""
    ids: dict[str, set[str]] = {}
    for r in hook.successes:
        alert = r["json"].get("alert", {})
        if r["json"].get("event") == "alert.opened" and alert.get("kind") == "excursion":
            ids.setdefault(alert["site_id"], set()).add(r["headers"]["webhook-id"])
    return {site: len(found) for site, found in ids.items()}


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    yield from receiver()


def test_alert_evaluation_survives_leader_failover_without_duplicate_webhooks(
    database_url: str, hook: WebhookReceiver, replicas: Callable[[dict[str, str]], Replicas]
) -> None:
    migrate(database_url)
    first, second = Device(), Device("gw-0002", site="wh-sh-02")
    with psycopg.connect(database_url, autocommit=True) as conn:
        register_device(conn, first.registration)
        create_subscription(
            conn, first.tenant, hook.url, secret="failover-webhook-secret-0123456789"
        )
    group = replicas(
        {
            "CT_DATABASE_URL": database_url,
            "CT_SCHEDULER_LEADER_RETRY_S": str(RETRY_S),
            "CT_ALERTS_INTERVAL_S": "0.5",
            "CT_ALERTS_DELIVER_INTERVAL_S": "0.5",
        }
    )
    group.start(3)
    leader = group.wait_leader()
    _excursion(database_url, first)
    wait_for(lambda: _excursion_calls(hook) == {first.site: 1}, DEADLINE_S, group.output)

    group.kill(leader)
    _excursion(database_url, second)  # raised while the old leader is gone
    wait_for(
        lambda: _excursion_calls(hook) == {first.site: 1, second.site: 1}, DEADLINE_S,
        lambda: f"{_excursion_calls(hook)}\n{group.output()}",
    )  # fmt: skip
    # A few more rounds for the new leader, then every notification is settled.
    time.sleep(3 * 0.5 + RETRY_S)
    wait_for(lambda: _pending(database_url) == 0, DEADLINE_S, group.output)
    assert len(group.leaders()) == 1
    assert group.leaders()[0] is not leader
    assert _excursion_calls(hook) == {first.site: 1, second.site: 1}
    keys = [r["headers"]["idempotency-key"] for r in hook.successes]
    assert len(keys) == len(set(keys)), hook.requests
    with psycopg.connect(database_url) as conn:
        notified = conn.execute(
            "SELECT count(*), count(DISTINCT (alert_id, event)) FROM alert_notifications"
        ).fetchone()
    assert notified is not None
    assert notified[0] == notified[1] == len(hook.successes)


def _pending(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM alert_notifications WHERE status <> 'delivered'")
        found = row.fetchone()
    assert found is not None
    return int(found[0])


# --------------------------------------------------------------------------- ingest


FLEET = 40
MESSAGES = 6_000
READINGS = 5
RATE = 400.0  # messages/s: a steady stream of ~15 s


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.encode()).fetchone()
    assert row is not None
    return int(row[0] or 0)


def test_ingest_scales_from_one_to_three_workers_under_load_without_loss(
    database_url: str, mosquitto_url: str, tmp_path: Path
) -> None:
    channeltrace(["cloud", "migrate", "--database-url", database_url])
    fleet = make_fleet(FLEET, prefix=f"so{uuid.uuid4().hex[:6]}")
    with psycopg.connect(database_url) as conn:
        register_bulk(conn, fleet)
    workers = Workers(database_url, mosquitto_url, tmp_path)
    try:
        workers.start("scale-1")
        results: list[LoadResult] = []

        def publish() -> None:
            publisher = Publisher(mosquitto_url, window=500)
            try:
                results.append(run_load(publisher, fleet, messages=MESSAGES,
                                        readings_per_message=READINGS, rate=RATE))  # fmt: skip
            finally:
                publisher.close()

        loader = threading.Thread(target=publish, name="loadgen", daemon=True)
        loader.start()

        def stored() -> int:
            return _count(database_url, "SELECT count(*) FROM ingest_log")

        wait_for(lambda: stored() >= MESSAGES // 5, DEADLINE_S, workers.output)
        workers.start("scale-2")
        workers.start("scale-3")
        wait_for(lambda: stored() >= MESSAGES // 2, DEADLINE_S, workers.output)
        workers.kill("scale-2")  # a worker crashes mid-stream
        loader.join(timeout=120)
        assert results, "the load generator did not finish"
        # Mosquitto keeps routing the dead member's share of the stream into its persistent
        # session: the replacement must come back under the same client id (as a supervisor
        # restarting the process does) to drain it.
        workers.start("scale-2")
        wait_for(lambda: stored() >= MESSAGES, DEADLINE_S,
                 lambda: f"{stored()} of {MESSAGES} stored\n{workers.output()}")  # fmt: skip
        stats = workers.stop_all()
    finally:
        for worker in workers.running.values():
            worker.kill()
    assert stats["scale-1"]["stored"] > 0
    assert stats["scale-3"]["stored"] > 0  # the added worker took part of the stream
    assert stats["scale-2"]["stored"] > 0  # the replacement drained the crashed one's queue
    assert _count(database_url, "SELECT count(*) FROM ingest_log") == MESSAGES
    assert _count(database_url, "SELECT count(*) FROM readings") == MESSAGES * READINGS
    # Every device's seqs are exactly 1..n: none lost, none stored twice.
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT device_id, count(*), count(DISTINCT seq), min(seq), max(seq)"
            " FROM ingest_log GROUP BY device_id"
        ).fetchall()
    assert len(rows) == FLEET
    assert all(n == distinct == last and first == 1 for _, n, distinct, first, last in rows)
    assert sum(int(r[1]) for r in rows) == MESSAGES
    assert _count(database_url, "SELECT count(*) FROM dead_letters") == 0
