"""Broker failover for gateways (issue 18), on real processes.

Two Mosquitto brokers, each with persistence; edge agents configured with both
(``[broker] urls``, the first preferred) and the cloud key (storage receipts); one
``channeltrace cloud ingest`` process consuming from both brokers. Under load, the
preferred broker is killed with ``kill -9``: the agents fail over to the second, and when
the first is back they move back to it. Every reading the agents took is stored exactly
once, every seq each agent allocated is stored: what the dead broker held unacknowledged
was published again by the agents (nothing was freed without a storage receipt).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from channeltrace.children import ChildProcess
from channeltrace.services import Mosquitto
from cloud.migrate import migrate
from cloud.registry import DeviceRegistration, register_device
from edge.provision import SensorChoice, provision
from edge.status import read_status
from tests.integration.processes import Background, wait_for
from wire import format_public_key, generate_private_key, write_private_key

pytestmark = pytest.mark.integration

AGENTS = 3


class _Agent(ChildProcess):
    def __init__(self, config: Path, log: Path) -> None:
        argv = [sys.executable, "-m", "edge", "run", "--config", str(config)]
        super().__init__(argv, log, {**os.environ, "PYTHONUNBUFFERED": "1"},
                         start_new_session=False)  # fmt: skip
        self.config, self.base_argv = config, argv

    def drain(self, *extra: str) -> None:
        """Run again with ``extra`` options (a bounded run that delivers the backlog)."""
        self.argv = [*self.base_argv, *extra]
        self.start()

    def status(self):  # type: ignore[no-untyped-def]
        data = self.config.parent
        return read_status(data / "outbox.db", data / "remote_config.json",
                           data / "alarms.json", data / "link.json")  # fmt: skip


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[_Agent]]:
    made: list[_Agent] = []
    yield made
    for agent in made:
        agent.kill()


def test_agents_fail_over_to_the_second_broker_and_back_and_nothing_is_lost(
    make_mosquitto: Callable[..., Mosquitto],
    database_url: str,
    agents: list[_Agent],
    tmp_path: Path,
) -> None:
    first, second = make_mosquitto(persistence=True), make_mosquitto(persistence=True)
    migrate(database_url)
    key = generate_private_key()
    key_file = tmp_path / "cloud-key.pem"
    write_private_key(key, key_file)
    urls = f"[{first.url!r}, {second.url!r}]".replace("'", '"')
    with psycopg.connect(database_url) as conn:
        for index in range(AGENTS):
            device = f"gw-brokers-{index}"
            prov = provision(
                tmp_path / device, device=device, tenant="acme", site="dc",
                broker_url=first.url, sensor=SensorChoice.simulated("wine"),
            )  # fmt: skip
            register_device(conn, DeviceRegistration(**prov.registration))
            text = prov.config_path.read_text()
            text = text.replace(f"url = {first.url!r}".replace("'", '"'),
                                f"urls = {urls}\nfailback_s = 3")  # fmt: skip
            text = text.replace("interval_s = 1.0", "interval_s = 0.1")
            text = text.replace("batch_max_readings = 500", "batch_max_readings = 20")
            assert "urls = " in text
            cloud = f'\n[cloud]\nconfig_public_key = "{format_public_key(key)}"\n'
            prov.config_path.write_text(text + cloud)
            agents.append(_Agent(prov.config_path, tmp_path / f"{device}.log"))
    env = {"CT_ENVIRONMENT": "development", "CT_INGEST_SHARE_GROUP": "brokers"}
    ingest = Background(
        ["cloud", "ingest", "--database-url", database_url, "--mqtt-url", first.url,
         "--mqtt-url", second.url, "--client-id", "brokers-ingest",
         "--receipt-key-file", str(key_file)],
        env=env, log=tmp_path / "ingest.log",
    )  # fmt: skip
    try:
        wait_for(lambda: ingest.output().count("ingest ready: subscribed") >= 2, 30,
                 lambda: "the ingest did not subscribe on both brokers:\n" + ingest.output())
        for agent in agents:
            agent.start()
        time.sleep(5)

        # The preferred broker dies with whatever it holds.
        pid = first.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        first.stop()  # reaps it
        wait_for(lambda: all("failing over to" in a.text() for a in agents), 60,
                 lambda: "agents did not fail over:\n" + agents[0].text()[-3000:])
        wait_for(lambda: all(a.status().broker == f"127.0.0.1:{second.port}" for a in agents),
                 30, lambda: f"not on the second broker: {[a.status().broker for a in agents]}")
        time.sleep(5)  # streaming through the second broker

        first.start()  # back on the same port, with its persistence
        wait_for(lambda: all(a.status().broker == f"127.0.0.1:{first.port}" for a in agents),
                 60, lambda: f"agents did not move back: {[a.status().broker for a in agents]}")
        time.sleep(3)
        for agent in agents:
            agent.stop()
        for agent in agents:  # deliver what the outboxes still hold, then stop
            agent.drain("--samples", "0", "--drain", "60")
        for agent in agents:
            agent.wait(90)
    finally:
        ingest.stop()

    statuses = [a.status() for a in agents]
    taken = sum(s.accepted.get("telemetry", 0) for s in statuses)
    evicted = sum(s.evicted_items for s in statuses)
    assert taken > 0
    assert evicted == 0
    assert all(s.pending_items == 0 and s.pending_messages == 0 for s in statuses), statuses
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT count(*) FROM readings").fetchone()
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM readings GROUP BY device_id, seq, sensor,"
            " metric, time HAVING count(*) > 1) d"
        ).fetchone()
        for agent, status in zip(agents, statuses, strict=True):
            device = agent.config.parent.name
            row = conn.execute(
                "SELECT count(*), coalesce(max(seq), 0) FROM ingest_log WHERE device_id = %s",
                (device,),
            ).fetchone()
            assert row == (status.next_seq - 1, status.next_seq - 1), (device, row)
    assert stored == (taken,), f"taken {taken}, stored {stored}"
    assert duplicates == (0,)
    log = "\n".join(a.text() for a in agents)
    assert "moving back to it" in log
