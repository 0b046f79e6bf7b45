"""Fleet scale at test size: a swarm of sessions, a mass drop, the online view converges.

``channeltrace sim fleet --mode swarm`` (a real process) holds one MQTT session per
warehouse against a private Mosquitto; a real ``channeltrace cloud ingest`` keeps
``devices.status`` from births, heartbeats and wills. SIGUSR1 closes a third of the
sockets without DISCONNECT (the broker fires their wills), SIGUSR2 brings them back.
``bench/fleet.py`` runs the same at 10,000 connections and times it. A broker restart
loses every session; the swarm brings them back, as gateways do.
"""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from channeltrace.services import Mosquitto
from firmware_sim.tools.fleet import plan_fleet
from firmware_sim.tools.loadgen import make_fleet
from firmware_sim.tools.swarm import Swarm, pick_drop
from tests.integration.processes import Background, channeltrace, wait_for

pytestmark = pytest.mark.integration

WAREHOUSES = 300
DROP = 100
DEADLINE_S = 60  # generous: convergence takes well under a second here


def _statuses(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT id, status FROM devices").fetchall())


def _converged(url: str, offline: set[str], everyone: set[str]) -> Callable[[], bool]:
    def check() -> bool:
        statuses = _statuses(url)
        return set(statuses) == everyone and all(
            statuses[d] == ("offline" if d in offline else "online") for d in everyone
        )

    return check


def test_online_view_converges_after_a_mass_drop_and_return(
    make_mosquitto: Callable[..., Mosquitto], database_url: str, tmp_path: Path
) -> None:
    broker = make_mosquitto()
    channeltrace(["cloud", "migrate", "--database-url", database_url])
    ingest = Background(
        ["cloud", "ingest", "--database-url", database_url, "--mqtt-url", broker.url,
         "--client-id", "ingest-fleet"],
        env={"CT_INGEST_SHARE_GROUP": f"g{uuid.uuid4().hex[:8]}"},
        log=tmp_path / "ingest.log",
    )  # fmt: skip
    swarm: Background | None = None
    try:
        ingest.wait_for_line("ingest ready")
        swarm = Background(
            ["sim", "fleet", "--mode", "swarm", "--warehouses", str(WAREHOUSES),
             "--drop-count", str(DROP), "--heartbeat", "2", "--mqtt-url", broker.url,
             "--database-url", database_url],
            log=tmp_path / "swarm.log",
        )  # fmt: skip
        swarm.wait_for_line('"swarm": "held"', timeout=DEADLINE_S)
        everyone = {w.device for w in plan_fleet(WAREHOUSES)}
        dropped = {f"gw-{i:04d}" for i in pick_drop(WAREHOUSES, DROP)}
        assert len(dropped) == DROP
        assert dropped < everyone

        wait_for(_converged(database_url, set(), everyone), DEADLINE_S, "not all online")

        swarm.process.send_signal(signal.SIGUSR1)
        wait_for(
            _converged(database_url, dropped, everyone), DEADLINE_S,
            lambda: f"drop did not converge: {sorted(_statuses(database_url).items())[:20]}",
        )  # fmt: skip
        with psycopg.connect(database_url) as conn:
            reasons = conn.execute(
                "SELECT DISTINCT last_state->>'reason' FROM devices WHERE id = ANY(%s)",
                (sorted(dropped),),
            ).fetchall()
        assert reasons == [("connection lost",)]  # the broker fired the wills

        swarm.process.send_signal(signal.SIGUSR2)
        wait_for(_converged(database_url, set(), everyone), DEADLINE_S, "return not converged")

        # Heartbeats flow and are stored once each; nothing was dead-lettered.
        wait_for(lambda: _beats(database_url) >= WAREHOUSES, DEADLINE_S, "too few heartbeats")
        with psycopg.connect(database_url) as conn:
            dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
        assert dead == (0,)

        assert swarm.stop() == 0, swarm.output()
        summary = _last_json(swarm.lines, "fleet")
        assert summary["connects"] == WAREHOUSES + DROP
        assert (summary["dropped"], summary["lost"], summary["refused"]) == (DROP, 0, 0)
        assert summary["publish_errors"] == 0
        # A clean stop sends every death: the whole fleet goes offline.
        wait_for(_converged(database_url, everyone, everyone), DEADLINE_S, "clean stop not offline")
    finally:
        if swarm is not None:
            swarm.kill()
        ingest.stop()


def _beats(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM devices WHERE last_state->>'status' = 'heartbeat'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _last_json(lines: list[str], key: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        json.loads(line) for line in lines if line.startswith(f'{{"{key}"')
    ]
    assert found, "\n".join(lines)
    return found[-1]


def test_swarm_sessions_come_back_after_a_broker_restart(
    make_mosquitto: Callable[..., Mosquitto],
) -> None:
    broker = make_mosquitto()
    swarm = Swarm(make_fleet(50, prefix="rs"), broker.url, heartbeat_s=0.5)
    stop = threading.Event()
    swarm.connect_all()
    runner = threading.Thread(target=swarm.run, kwargs={"until": stop.is_set}, daemon=True)
    runner.start()
    try:
        wait_for(lambda: swarm.stats.connected == 50, DEADLINE_S, lambda: str(swarm.stats))
        broker.stop()  # every session is lost; the broker's own wills go nowhere
        wait_for(lambda: swarm.stats.lost == 50, DEADLINE_S, lambda: str(swarm.stats))
        broker.start()  # same port
        wait_for(lambda: swarm.stats.connected == 50, DEADLINE_S, lambda: str(swarm.stats))
        beats = swarm.stats.heartbeats
        wait_for(lambda: swarm.stats.heartbeats >= beats + 50, DEADLINE_S, str)
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
    assert (swarm.stats.connects, swarm.stats.births, swarm.stats.refused) == (100, 100, 0)
    assert swarm.stats.publish_errors == 0
    # Each agent sealed its seqs in order across both sessions: two wills, two births.
    assert all(agent.session == 2 for agent in swarm.agents)
    assert all(agent.client is None for agent in swarm.agents)  # the stop closed them
