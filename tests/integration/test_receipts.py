"""Storage receipts and backfill on real processes: agents, the ingest, Mosquitto 2.0.11 with
persistence, PostgreSQL. The outbox frees data only on the cloud's signed receipt, so what a
broker acknowledged and then lost is published again; a gap the cloud sees is asked for,
and the device says what it still holds and what it no longer has."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

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


class Workers:
    """Ingest processes started by a test under one client id and group: each new one
    resumes the previous one's broker session."""

    def __init__(self, broker: Mosquitto, database_url: str, tmp_path: Path) -> None:
        self._args = (broker.url, database_url, tmp_path)
        self.running: Background | None = None

    def start(self, key_file: Path | None) -> Background:
        self.stop()
        self.running = ingest_worker(*self._args, client_id="ingest-r", share_group="gr",
                                     key_file=key_file)  # fmt: skip
        return self.running

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None


@pytest.fixture
def workers(broker: Mosquitto, database_url: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(broker, database_url, tmp_path)
    yield started
    started.stop()


def readings_of(database_url: str, device: str) -> int:
    return count(database_url, "SELECT count(*) FROM readings WHERE device_id = %s", (device,))


def assert_exactly_once(database_url: str, device: str, readings: int) -> None:
    assert readings_of(database_url, device) == readings
    assert count(
        database_url,
        "SELECT count(*) FROM (SELECT 1 FROM readings WHERE device_id = %s"
        " GROUP BY seq, sensor, metric, time HAVING count(*) > 1) d",
        (device,),
    ) == 0


def caught_up(config: Path) -> bool:
    status = agent_status(config)
    return bool(status["connection"] == "connected" and status["pending_messages"] < 10)


def stop_agent(agent: Background, config: Path) -> dict[str, int]:
    """Stop once the agent has caught up: SIGTERM gives it 5 s to deliver what is left."""
    wait_for(partial(caught_up, config), 60, agent.output)
    assert agent.stop() == 0, agent.output()
    status = agent_status(config)
    assert status["pending_messages"] == 0, status  # every message was receipted
    assert status["pending_items"] == 0, status
    return status


def test_a_broker_that_loses_its_persistence_file_loses_nothing(
    agents: Agents,
    broker: Mosquitto,
    workers: Workers,
    database_url: str,
    tmp_path: Path,
    key_file: Path,
) -> None:
    """The broker acknowledges (PUBACK 0x00) and queues for the offline ingest, then dies
    with its persistence file: freeing on PUBACK would lose the whole queue."""
    device = "gw-persist"
    ingest = workers.start(key_file)
    config = provision_agent(tmp_path, broker.url, database_url, device, interval_s=0.05, batch=10,
                             key_file=key_file)  # fmt: skip
    agent = agents.start(config)
    wait_for(lambda: readings_of(database_url, device) > 0, 30, ingest.output)
    workers.stop()  # its session stays: the broker queues the stream for it
    time.sleep(3)  # the agent publishes on; the broker acknowledges with 0x00 and queues
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGKILL)
    broker.stop()  # reaps it
    for store in (broker.workdir / "mosquitto-data").glob("*.db"):
        store.unlink()  # the queue, the ingest's session and the retained messages: gone
    broker.start()
    ingest = workers.start(key_file)
    status = stop_agent(agent, config)
    accepted = status["accepted"]["telemetry"]
    wait_for(lambda: readings_of(database_url, device) >= accepted, 60, ingest.output)
    assert_exactly_once(database_url, device, accepted)
    assert "disconnected from broker" in agent.output()


def test_a_gap_is_backfilled_from_the_outbox_and_a_lost_seq_reported(
    agents: Agents, workers: Workers, broker: Mosquitto, database_url: str, tmp_path: Path,
    key_file: Path,
) -> None:  # fmt: skip
    device = "gw-backfill"
    # 1. An ingest without the cloud key stores but sends no receipts: the agent keeps all.
    ingest = workers.start(None)
    config = provision_agent(tmp_path, broker.url, database_url, device, interval_s=0.05, batch=10,
                             key_file=key_file)  # fmt: skip
    agent = agents.start(config)
    wait_for(lambda: readings_of(database_url, device) > 100, 30, ingest.output)
    lost = [s for (s,) in query(database_url, "SELECT seq FROM ingest_log WHERE device_id = %s"
                                " AND kind = 'telemetry' ORDER BY seq LIMIT 3 OFFSET 2",
                                (device,))]  # fmt: skip
    with_rows = query(database_url, "SELECT count(*) FROM readings WHERE device_id = %s"
                      " AND seq = ANY(%s)", (device, lost))[0][0]  # fmt: skip
    # Lose three stored messages, as a database restored from a backup would.
    query(database_url, "DELETE FROM readings WHERE device_id = %s AND seq = ANY(%s)"
          " RETURNING 1", (device, lost))  # fmt: skip
    query(database_url, "DELETE FROM ingest_log WHERE device_id = %s AND seq = ANY(%s)"
          " RETURNING 1", (device, lost))  # fmt: skip
    # 2. With the key, receipts cover everything but the hole; the agent still holds it,
    # and the cloud asks for it before the agent's own 30 s republish timer fires.
    ingest = workers.start(key_file)
    wait_for(lambda: "backfill request" in agent.output(), 40, agent.output)
    wait_for(
        lambda: count(database_url, "SELECT count(*) FROM ingest_log WHERE device_id = %s"
                      " AND seq = ANY(%s)", (device, lost)) == len(lost),
        30, ingest.output,
    )  # fmt: skip
    line = next(x for x in agent.output().splitlines() if "backfill request" in x)
    assert f"{len(lost)} held" in line, line
    assert count(database_url, "SELECT backfill_requests FROM device_receipts"
                 " WHERE device_id = %s", (device,)) >= 1  # fmt: skip
    wait_for(lambda: agent_status(config)["pending_messages"] < 10, 30, agent.output)

    # 3. Now lose messages the agent has already freed (receipted): the database and its
    # receipt mark are restored to an earlier state, and a fresh worker asks again.
    workers.stop()
    gone = [s for (s,) in query(database_url, "SELECT seq FROM ingest_log WHERE device_id = %s"
                                " AND kind = 'telemetry' ORDER BY seq LIMIT 2 OFFSET 40",
                                (device,))]  # fmt: skip
    gone_rows = query(database_url, "SELECT count(*) FROM readings WHERE device_id = %s"
                      " AND seq = ANY(%s)", (device, gone))[0][0]  # fmt: skip
    query(database_url, "DELETE FROM readings WHERE device_id = %s AND seq = ANY(%s)"
          " RETURNING 1", (device, gone))  # fmt: skip
    query(database_url, "DELETE FROM ingest_log WHERE device_id = %s AND seq = ANY(%s)"
          " RETURNING 1", (device, gone))  # fmt: skip
    query(database_url, "UPDATE device_receipts SET settled_through = %s,"
          " backfill_requested_at = NULL WHERE device_id = %s RETURNING 1",
          (min(gone) - 1, device))  # fmt: skip
    ingest = workers.start(key_file)
    wait_for(
        lambda: count(database_url, "SELECT count(*) FROM settled_seqs WHERE device_id = %s"
                      " AND reason = 'not_held'", (device,)) == len(gone),
        40, lambda: agent.output() + ingest.output(),
    )  # fmt: skip
    assert sorted(s for (s,) in query(database_url, "SELECT seq FROM settled_seqs"
                                      " WHERE device_id = %s", (device,))) == gone  # fmt: skip
    status = stop_agent(agent, config)
    accepted = status["accepted"]["telemetry"]
    wait_for(lambda: readings_of(database_url, device) >= accepted - gone_rows, 60,
             ingest.output)  # fmt: skip
    # The first loss came back from the outbox; the second is reported, not hidden.
    assert_exactly_once(database_url, device, accepted - gone_rows)
    assert with_rows > 0
    through = count(database_url, "SELECT settled_through FROM device_receipts"
                    " WHERE device_id = %s", (device,))  # fmt: skip
    assert through == status["next_seq"] - 1  # everything it ever allocated is settled
    assert "not held" in agent.output()


def test_edge_status_shows_the_connection_and_the_ages(
    agents: Agents, workers: Workers, broker: Mosquitto, database_url: str, tmp_path: Path,
    key_file: Path,
) -> None:  # fmt: skip
    device = "gw-status"
    ingest = workers.start(key_file)
    config = provision_agent(tmp_path, broker.url, database_url, device, interval_s=0.05, batch=10,
                             key_file=key_file)  # fmt: skip
    agent = agents.start(config)
    wait_for(lambda: readings_of(database_url, device) > 0, 30, ingest.output)
    wait_for(lambda: agent_status(config)["connection"] == "connected", 10, agent.output)
    status = agent_status(config)
    assert status["delivery"] == "receipts"
    assert status["broker"] == broker.url.removeprefix("mqtt://")
    assert status["receipt_lag_s"] < 30
    broker.stop()
    wait_for(lambda: agent_status(config)["connection"] == "disconnected", 10, agent.output)
    time.sleep(3)
    status = agent_status(config)
    assert status["last_error"]  # why it is not connected
    assert status["oldest_unsent_age_s"] >= 2.5  # readings pile up while the broker is down
    assert status["receipt_lag_s"] >= status["oldest_unsent_age_s"]
    assert "cannot reach broker" in agent.output()  # logged at WARNING, with the retry delay
    assert "retrying in" in agent.output()
    broker.start()
    wait_for(lambda: agent_status(config)["connection"] == "connected", 30, agent.output)
    wait_for(partial(lambda c: (agent_status(c)["receipt_lag_s"] or 0) < 5, config), 60,
             agent.output)  # fmt: skip
    stop_agent(agent, config)
    assert agent_status(config)["connection"] == "not running"
    sql = "SELECT time FROM readings WHERE device_id = %s AND metric = 'temperature_c'"
    times = [r[0] for r in query(database_url, sql + " ORDER BY time", (device,))]
    assert all((b - a).total_seconds() < 1 for a, b in itertools.pairwise(times))  # no hole
