"""Acceptance: the agent never loses or duplicates a reading it accepted.

Real Mosquitto (with persistence, stopped and restarted on its port), the real ingest
process, real PostgreSQL, and agents as real processes. The agent's own durable record of
what it accepted (outbox counters, read with ``channeltrace edge status``) is compared with
what the database stored. Agents and ingest share a cloud key: the outbox frees only what a
signed storage receipt covers (the 0x10 test also runs without, freeing on PUBACK 0x00).
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from channeltrace.services import Mosquitto
from tests.integration._edge import (
    Agents,
    agent_status,
    cloud_key,
    count,
    ingest_worker,
    provision_agent,
    query,
)
from tests.integration.processes import Background, wait_for

pytestmark = pytest.mark.integration

OUTAGE_S = 30  # required by the issue


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Agents]:
    started = Agents(tmp_path)
    yield started
    started.close()


@pytest.fixture
def broker(make_mosquitto: Callable[..., Mosquitto]) -> Mosquitto:
    return make_mosquitto(persistence=True)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return cloud_key(tmp_path)


@pytest.fixture
def ingest(
    broker: Mosquitto, database_url: str, tmp_path: Path, key_file: Path
) -> Iterator[Background]:
    worker = ingest_worker(broker.url, database_url, tmp_path, key_file=key_file)
    yield worker
    worker.stop()


def accepted_so_far(config: Path) -> int:
    if not (config.parent / "outbox.db").exists():
        return 0  # the agent process has not opened its outbox yet
    return int(agent_status(config)["accepted"]["telemetry"])


def accepted_more_than(config: Path, floor: int) -> bool:
    return accepted_so_far(config) > floor


def stored_more_than(database_url: str, device: str, floor: int) -> bool:
    return readings_of(database_url, device) > floor


def readings_of(database_url: str, device: str) -> int:
    return count(database_url, "SELECT count(*) FROM readings WHERE device_id = %s", (device,))


def assert_exactly_once_in_order(database_url: str, device: str, accepted: int) -> None:
    assert readings_of(database_url, device) == accepted
    duplicates = count(
        database_url,
        "SELECT count(*) FROM (SELECT 1 FROM readings WHERE device_id = %s"
        " GROUP BY sensor, metric, time HAVING count(*) > 1) d",
        (device,),
    )
    assert duplicates == 0
    # Per-device order: by sequence number, each message's readings follow the previous'.
    spans = query(
        database_url,
        "SELECT seq, min(time), max(time) FROM readings WHERE device_id = %s"
        " GROUP BY seq ORDER BY seq",
        (device,),
    )
    for (seq_a, _lo_a, hi_a), (seq_b, lo_b, _hi_b) in itertools.pairwise(spans):
        assert seq_a < seq_b
        assert lo_b >= hi_a, f"{device}: seq {seq_b} has readings older than seq {seq_a}"


def _evicted_messages(config: Path) -> dict[int, int]:
    """seq -> readings of the sealed messages the agent's outbox evicted (it remembers the
    last 1,024), read from the outbox file itself."""
    conn = sqlite3.connect(f"{(config.parent / 'outbox.db').resolve().as_uri()}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT seq, item_count FROM evicted").fetchall())
    finally:
        conn.close()


def stop_and_wait_stored(
    agent: Background, config: Path, database_url: str, device: str
) -> dict[str, Any]:
    assert agent.stop() == 0, agent.output()
    status = agent_status(config)
    assert status["pending_messages"] == 0, status
    accepted = status["accepted"]["telemetry"] - status["evicted_items"]
    wait_for(
        lambda: readings_of(database_url, device) >= accepted,
        60,
        lambda: f"{device}: {readings_of(database_url, device)} of {accepted} stored",
    )
    return status


def test_broker_outage_of_30s_loses_and_duplicates_nothing(
    agents: Agents,
    broker: Mosquitto,
    ingest: Background,
    database_url: str,
    tmp_path: Path,
    key_file: Path,
) -> None:
    devices = ["gw-out-1", "gw-out-2"]
    # 0.2 s x 2 readings (temperature, humidity) = 10 readings/s per agent.
    configs = [
        provision_agent(
            tmp_path, broker.url, database_url, d, interval_s=0.2, batch=20, key_file=key_file
        )
        for d in devices
    ]
    running = [agents.start(c) for c in configs]
    for device in devices:
        wait_for(partial(stored_more_than, database_url, device, 0), 30, ingest.output)

    broker.stop()
    stored_at_stop = {d: readings_of(database_url, d) for d in devices}
    time.sleep(OUTAGE_S)  # the agents keep sampling into their outboxes meanwhile
    broker.start()

    for device, before in stored_at_stop.items():
        # The backlog (>= 30 s x 10 readings/s) arrives after the broker is back.
        wait_for(partial(stored_more_than, database_url, device, before + 300), 60, ingest.output)
    for agent, config, device in zip(running, configs, devices, strict=True):
        status = stop_and_wait_stored(agent, config, database_url, device)
        assert status["evicted_items"] == 0
        assert_exactly_once_in_order(database_url, device, status["accepted"]["telemetry"])
        assert "disconnected from broker" in agent.output()
    assert count(database_url, "SELECT count(*) FROM dead_letters") == 0


@pytest.mark.parametrize("receipts", [True, False], ids=["receipts", "puback"])
def test_puback_0x10_after_a_broker_restart_keeps_the_messages(
    agents: Agents, broker: Mosquitto, database_url: str, tmp_path: Path, receipts: bool
) -> None:
    """Mosquitto 2.0.11, restarted while the ingest's persistent shared session is offline,
    answers PUBACK 0x10 "No matching subscribers" and delivers to no one: the agent must
    keep those messages and publish them again, not free them (with storage receipts, and
    without them, where only a PUBACK 0x00 frees a message)."""
    client_id, group = "ingest-0x10", "g0x10"
    key = cloud_key(tmp_path) if receipts else None
    ingest = ingest_worker(broker.url, database_url, tmp_path, client_id=client_id,
                           share_group=group, key_file=key)  # fmt: skip
    device = "gw-0x10"
    config = provision_agent(tmp_path, broker.url, database_url, device, interval_s=0.05, batch=5,
                             key_file=key)  # fmt: skip
    agent = agents.start(config)
    wait_for(partial(stored_more_than, database_url, device, 0), 30, ingest.output)
    assert ingest.stop() == 0  # its session (and shared subscription) stays on the broker
    broker.stop()
    broker.start()  # restored from persistence, with the ingest's session offline
    wait_for(lambda: "PUBACK 0x10" in agent.output(), 60, agent.output)
    ingest = ingest_worker(broker.url, database_url, tmp_path, client_id=client_id,
                           share_group=group, key_file=key)  # fmt: skip
    try:
        status = stop_and_wait_stored(agent, config, database_url, device)
        assert_exactly_once_in_order(database_url, device, status["accepted"]["telemetry"])
    finally:
        ingest.stop()
    assert count(database_url, "SELECT count(*) FROM dead_letters") == 0


def test_kill_9_five_times_loses_and_duplicates_nothing(
    agents: Agents,
    broker: Mosquitto,
    ingest: Background,
    database_url: str,
    tmp_path: Path,
    key_file: Path,
) -> None:
    device = "gw-kill"
    config = provision_agent(tmp_path, broker.url, database_url, device, interval_s=0.02, batch=25,
                             key_file=key_file)  # fmt: skip
    accepted = 0
    for _ in range(5):
        agent = agents.start(config)
        # Kill mid-stream: once this run has accepted readings of its own.
        wait_for(partial(accepted_more_than, config, accepted + 100), 30, agent.output)
        agent.kill()  # SIGKILL: no clean shutdown, no flush, the broker fires the will
        accepted = agent_status(config)["accepted"]["telemetry"]
    agent = agents.start(config)
    wait_for(lambda: accepted_so_far(config) > accepted + 100, 30, agent.output)
    status = stop_and_wait_stored(agent, config, database_url, device)
    assert_exactly_once_in_order(database_url, device, status["accepted"]["telemetry"])
    assert count(database_url, "SELECT count(*) FROM dead_letters") == 0


def test_outage_beyond_the_disk_budget_evicts_only_oldest_telemetry(
    agents: Agents,
    broker: Mosquitto,
    ingest: Background,
    database_url: str,
    tmp_path: Path,
    key_file: Path,
) -> None:
    device = "gw-budget"
    scanner = '\n[[sim_scanners]]\nid = "dock-1"\nseed = 3\nscans_per_min = 120\n'
    scanner += "count_interval_s = 5\ncustody_events = true\n"
    config = provision_agent(
        tmp_path,
        broker.url,
        database_url,
        device,
        interval_s=0.01,
        batch=50,
        budget_mb=0.1,
        extra=scanner,
        key_file=key_file,
    )
    agent = agents.start(config)
    wait_for(lambda: readings_of(database_url, device) > 0, 30, ingest.output)

    broker.stop()
    wait_for(lambda: agent_status(config)["evicted_items"] > 2_000, 60, agent.output)
    broker.start()
    wait_for(lambda: agent_status(config)["pending_messages"] < 10, 60, agent.output)

    # The heartbeat reports the agent's own eviction count: a heartbeat made after the
    # outage carries at least the count at its end and never more than the agent has now.
    # (On a loaded machine the agent may keep evicting while it catches up with sampling at
    # 100 readings/s, so equality with one look at the agent's status is not guaranteed.)
    evicted_by_the_outage = agent_status(config)["evicted_items"]

    def reported_covers_the_outage() -> bool:
        reported = count(
            database_url,
            "SELECT coalesce((last_state->'health'->>'evicted_readings')::int, -1)"
            " FROM devices WHERE id = %s",
            (device,),
        )
        return evicted_by_the_outage <= reported <= agent_status(config)["evicted_items"]

    wait_for(
        reported_covers_the_outage,
        60,
        lambda: "heartbeat never reported the evictions\n" + agent.output(),
    )
    heartbeat_seqs = query(
        database_url,
        "SELECT jsonb_array_elements_text(last_state->'health'->'evicted_seqs')::bigint"
        " FROM devices WHERE id = %s",
        (device,),
    )
    status = stop_and_wait_stored(agent, config, database_url, device)
    accepted = status["accepted"]
    evicted = status["evicted_items"]
    assert evicted > 2_000

    # With storage receipts the outbox keeps what it sent until the cloud's receipt: the
    # oldest telemetry it evicts may have been stored just before the broker went down
    # (its receipt never came). Those readings are in the database; the rest are not.
    evicted_messages = _evicted_messages(config)
    assert {seq for (seq,) in heartbeat_seqs} <= set(evicted_messages)  # all were reported
    stored_seqs = {
        seq
        for (seq,) in query(
            database_url,
            "SELECT seq FROM ingest_log WHERE device_id = %s AND seq = ANY(%s)",
            (device, list(evicted_messages)),
        )
    }
    evicted_but_stored = sum(evicted_messages[seq] for seq in stored_seqs)
    # Telemetry: everything not evicted arrived, exactly once, in order.
    assert_exactly_once_in_order(
        database_url, device, accepted["telemetry"] - evicted + evicted_but_stored
    )
    # ...and what was lost to eviction is one block: the oldest undelivered readings.
    times = [
        r[0]
        for r in query(
            database_url,
            "SELECT time FROM readings WHERE device_id = %s"
            " AND metric = 'temperature_c' ORDER BY time",
            (device,),
        )
    ]
    gaps = [(a, b) for a, b in itertools.pairwise(times) if (b - a).total_seconds() > 2]
    assert len(gaps) == 1, gaps

    # Stock and custody events are never evicted: all of them were delivered.
    stock = count(
        database_url,
        "SELECT (SELECT count(*) FROM scans WHERE device_id = %s)"
        " + (SELECT count(*) FROM stock_counts WHERE device_id = %s)",
        (device, device),
    )
    events = count(
        database_url, "SELECT count(*) FROM custody_inbox WHERE device_id = %s", (device,)
    )
    assert accepted["stock"] > 0
    assert accepted["events"] > 0
    assert (stock, events) == (accepted["stock"], accepted["events"])
