"""The demo's access-control section: each caller sees only what is theirs.

Through the real API: the brand's key, a distributor's key (one warehouse) and another
brand's key ask for the same sites; then the same question in raw SQL under the
application role with row-level security; then a broker started with the password and
ACL files generated from the registry refuses a gateway that publishes under another
gateway's topic (docs/security.md).
"""

from __future__ import annotations

import queue
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from channeltrace._process import LOOPBACK, free_port, port_open, user_exists
from channeltrace.demo_api import ApiClient
from channeltrace.demo_fleet import FLEET, TENANT
from channeltrace.errors import ApiRequestFailed

__all__ = ["run_access"]

Say = Callable[[str], None]
Section = tuple[str, list[str]]
_RIVAL = "rival-brand"
_DISTRIBUTOR = "dist-east"  # operates wh-shanghai and the cold room (channel.csv)
_WAIT_S = 10.0  # an upper bound for broker round trips


def _status(client: ApiClient, path: str) -> tuple[int, Any]:
    try:
        return 200, client.get(path)
    except ApiRequestFailed as exc:
        if exc.status is None:
            raise
        return exc.status, None


def _prepare_principals(database_url: str) -> tuple[str, str, str]:
    """A distributor holding the first warehouse, another brand; their API keys."""
    import psycopg

    from cloud.auth.apikeys import create_api_key
    from cloud.channel.changes import Actor
    from cloud.channel.people import create_tenant

    own_site = FLEET[0][1]  # operated by dist-east, as the demo's channel.csv says
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_tenant(conn, _RIVAL, "Rival Brand", "manager@rival-brand",
                      secrets.token_urlsafe(16), Actor("demo:operator", "operator"))  # fmt: skip
        distributor_key = create_api_key(
            conn, tenant_id=TENANT, role="distributor", distributor_id=_DISTRIBUTOR,
            label="demo distributor",
        )  # fmt: skip
        rival_key = create_api_key(conn, tenant_id=_RIVAL, role="brand", label="demo rival")
    return own_site, distributor_key, rival_key


def _api_lines(api: ApiClient, database_url: str) -> list[str]:
    own_site, distributor_key, rival_key = _prepare_principals(database_url)
    other_site = FLEET[1][1]
    sites_path = f"/v1/tenants/{TENANT}/sites"
    distributor = ApiClient(api.base_url, distributor_key)
    rival = ApiClient(api.base_url, rival_key)
    _, brand_sites = _status(api, sites_path)
    _, seen = _status(distributor, sites_path)
    other_status, _ = _status(distributor, f"{sites_path}/{other_site}")
    rival_status, _ = _status(rival, sites_path)
    anonymous_status, _ = _status(ApiClient(api.base_url), sites_path)
    return [
        f"brand key of {TENANT}: {len(brand_sites)} sites",
        f"distributor {_DISTRIBUTOR}'s key: sees {', '.join(s['id'] for s in seen)} only; "
        f"{other_site} → {other_status}",
        f"key of another brand ({_RIVAL}) asking for {TENANT}'s sites → {rival_status}",
        f"no credentials → {anonymous_status}",
        *_sql_lines(database_url, own_site),
    ]


def _sql_lines(database_url: str, own_site: str) -> list[str]:
    """The same isolation in raw SQL: row-level security under the application role."""
    import psycopg

    from cloud.auth.principal import Principal, Role
    from cloud.auth.scope import scope_transaction

    def count(principal: Principal) -> int:
        with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
            scope_transaction(conn, principal)
            row = conn.execute("SELECT count(*) FROM readings").fetchone()
        return int(row[0]) if row else 0

    brand = count(Principal("demo", Role.BRAND, TENANT))
    distributor = count(Principal("demo", Role.DISTRIBUTOR, TENANT, _DISTRIBUTOR))
    rival = count(Principal("demo", Role.BRAND, _RIVAL))
    return [
        f"raw SQL as ct_app (row-level security), readings visible: brand {brand}, "
        f"distributor {distributor} (its own sites: {own_site} and the cold room), "
        f"other brand {rival}"
    ]


@contextmanager
def _authenticated_broker(database_url: str, workdir: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """A second Mosquitto using the generated passwd/ACL; yields its port and passwords."""
    import psycopg

    from channeltrace.services import find_mosquitto
    from cloud.broker.registry import issue_device_password
    from cloud.broker.writer import write_broker_files

    devices = [FLEET[0][0], FLEET[1][0]]
    directory = workdir / "broker-auth"
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    port = free_port()
    with psycopg.connect(database_url, autocommit=True) as conn:
        passwords = {device: issue_device_password(conn, device) for device in devices}
        files = write_broker_files(
            conn, directory, plain_host=LOOPBACK, plain_port=port,
            group="mosquitto" if user_exists("mosquitto") else None,
        )  # fmt: skip
    log = (directory / "mosquitto.log").open("wb")
    proc = subprocess.Popen([str(find_mosquitto()), "-c", str(files.conf)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + _WAIT_S
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the authenticated broker did not start")
            time.sleep(0.02)
        yield port, passwords
    finally:
        proc.terminate()
        proc.wait(timeout=_WAIT_S)
        log.close()


def _broker_lines(database_url: str, workdir: Path) -> list[str]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    (device, site, _, _), (other, other_site, _, _) = FLEET[0], FLEET[1]

    def session(port: int, user: str, password: str) -> tuple[mqtt.Client, int, queue.Queue[int]]:
        connack: queue.Queue[int] = queue.Queue()
        pubacks: queue.Queue[int] = queue.Queue()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"demo-acl-{user}", protocol=mqtt.MQTTv5
        )
        client.username_pw_set(user, password)
        client.on_connect = lambda _c, _u, _f, rc, _p: connack.put(rc.value)
        client.on_publish = lambda _c, _u, _mid, rc, _p: pubacks.put(rc.value)
        client.connect(LOOPBACK, port)
        client.loop_start()
        return client, connack.get(timeout=_WAIT_S), pubacks

    def publish(client: mqtt.Client, pubacks: queue.Queue[int], topic: str) -> int:
        client.publish(topic, b"{}", qos=1)
        return pubacks.get(timeout=_WAIT_S)

    with _authenticated_broker(database_url, workdir) as (port, passwords):
        client, connected, pubacks = session(port, device, passwords[device])
        try:
            own = publish(client, pubacks, f"ct/v1/{TENANT}/{site}/{device}/telemetry")
            foreign = publish(client, pubacks, f"ct/v1/{TENANT}/{other_site}/{other}/telemetry")
        finally:
            client.disconnect()
            client.loop_stop()
        wrong, refused, _ = session(port, device, passwords[other])
        wrong.disconnect()
        wrong.loop_stop()
    return [
        f"broker with passwd/ACL generated from the registry: {device} connects → "
        f"{'accepted' if connected == 0 else hex(connected)}",
        f"  {device} publishes under its own topic → PUBACK {own:#04x} (accepted)",
        f"  {device} publishes under {other}'s topic → PUBACK {foreign:#04x} (not authorized)",
        f"  {device} with {other}'s password → CONNACK {refused:#04x} (refused)",
    ]


def run_access(database_url: str, api: ApiClient, workdir: Path, say: Say) -> list[Section]:
    say("access control: other keys, raw SQL under row-level security, a broker with ACLs ...")
    return [("Access control (docs/security.md)",
             _api_lines(api, database_url) + _broker_lines(database_url, workdir))]  # fmt: skip
