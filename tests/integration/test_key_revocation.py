"""Acceptance: a retired key stops being accepted by a running ingest worker at once.

A real ``channeltrace cloud ingest`` process on real Mosquitto and PostgreSQL has stored a
device's message (so its key is in the worker's cache, which lives 300 s). The key is
retired with the product's own command; the device's next message is dead-lettered,
long before any cache entry could have expired: the worker heard the change (migration
0009's NOTIFY). Re-registering a new key is heard the same way.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_sim.tools.loadgen import LoadDevice, Publisher, register_fleet
from tests.integration.processes import Background, channeltrace, wait_for
from wire import format_public_key

pytestmark = pytest.mark.integration

# Far below the cache's 300 s lifetime: passing within it proves the announcement worked.
# (A generous bound that only turns a hang into a failure, not a speed claim.)
WITHIN = 60.0


def _count(url: str, sql: str, *args: object) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.encode(), args).fetchone()
    return int(row[0]) if row else 0


def test_a_retired_key_is_refused_by_a_running_worker(
    mosquitto_url: str, database_url: str, tmp_path: Path
) -> None:
    channeltrace(["cloud", "migrate", "--database-url", database_url])
    device = LoadDevice("gw-stolen", "acme", "wh-sh-01")
    with psycopg.connect(database_url) as conn:
        register_fleet(conn, [device])
    worker = Background(
        ["cloud", "ingest", "--database-url", database_url, "--mqtt-url", mosquitto_url,
         "--client-id", f"ingest-{uuid.uuid4().hex[:6]}", "-v"],
        env={"CT_INGEST_SHARE_GROUP": f"g{uuid.uuid4().hex[:8]}"},
        log=tmp_path / "ingest.log",
    )  # fmt: skip
    publisher = Publisher(mosquitto_url)
    readings = "SELECT count(*) FROM readings WHERE device_id = %s"
    refused = "SELECT count(*) FROM dead_letters WHERE device_id = %s AND seq = %s AND reason = %s"
    try:
        worker.wait_for_line("ingest ready")
        publisher.publish(str(device.telemetry_topic), device.seal_telemetry(2, datetime.now(UTC)))
        wait_for(lambda: _count(database_url, readings, device.device_id) == 2, WITHIN,
                 lambda: f"the first message was not stored:\n{worker.output()}")  # fmt: skip
        worker.wait_for_line("listening for device key changes", WITHIN)

        retired = channeltrace(["cloud", "keys", "retire", device.device_id, "--all",
                                "--database-url", database_url])  # fmt: skip
        assert f"retired {format_public_key(device.key.public_key())}" in retired.stdout

        publisher.publish(str(device.telemetry_topic), device.seal_telemetry(2, datetime.now(UTC)))
        wait_for(
            lambda: _count(database_url, refused, device.device_id, 2, "unknown_device") == 1,
            WITHIN, lambda: f"seq 2 was not dead-lettered:\n{worker.output()}",
        )  # fmt: skip
        assert _count(database_url, readings, device.device_id) == 2  # nothing more stored

        # The gateway is re-provisioned with a new key: registered, heard, accepted.
        device.key = Ed25519PrivateKey.generate()
        registration = tmp_path / "registration.json"
        registration.write_text(json.dumps({
            "device_id": device.device_id, "tenant": device.tenant, "site": device.site,
            "public_key": format_public_key(device.key.public_key()),
        }))  # fmt: skip
        channeltrace(["cloud", "register", str(registration), "--database-url", database_url])
        publisher.publish(str(device.telemetry_topic), device.seal_telemetry(2, datetime.now(UTC)))
        wait_for(lambda: _count(database_url, readings, device.device_id) == 4, WITHIN,
                 lambda: f"the new key's message was not stored:\n{worker.output()}")  # fmt: skip
        listed = channeltrace(["cloud", "keys", "list", device.device_id,
                               "--database-url", database_url]).stdout  # fmt: skip
        assert [line.split()[0] for line in listed.splitlines()] == ["retired", "active"]
    finally:
        publisher.close()
        assert worker.stop() == 0, worker.output()
    assert "evicted" in worker.output()
