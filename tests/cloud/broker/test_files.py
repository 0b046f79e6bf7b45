"""Mosquitto hashes and the rendered passwd/ACL/conf: pure."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cloud.broker.files import (
    BrokerDevice,
    ServiceRole,
    ServiceUser,
    TlsFiles,
    render_acl,
    render_conf,
    render_passwd,
)
from cloud.broker.hashing import mosquitto_hash, new_password, verify_mosquitto_hash
from wire.errors import WireError

# Made by `mosquitto_passwd -b -c pw alice secret1` (Mosquitto 2.0.11).
MOSQUITTO_MADE = (
    "$7$101$i2ljSsNiiM1swMIz$ycyuS0JgjXv+AiGde+S9kPzd57kNb3gN+LsIOyYU3BSTrxjzkrTJCUsrOU1bCOUSps"
    "owHIXCNyYoV3SpS+YUyQ=="
)
HASH = mosquitto_hash("pw")


def test_hash_compatible_with_mosquitto_passwd() -> None:
    assert verify_mosquitto_hash(MOSQUITTO_MADE, "secret1")
    assert not verify_mosquitto_hash(MOSQUITTO_MADE, "secret2")
    ours = mosquitto_hash("secret1", salt=bytes(12), iterations=101)
    assert ours.startswith("$7$101$AAAAAAAAAAAAAAAA$")
    assert verify_mosquitto_hash(ours, "secret1")
    assert not verify_mosquitto_hash("$6$x$y", "secret1")
    assert not verify_mosquitto_hash("garbage", "secret1")
    assert len(new_password()) == 43


def test_mosquitto_passwd_output_verifies(tmp_path: Path) -> None:
    binary = shutil.which("mosquitto_passwd")
    if binary is None:
        pytest.skip("mosquitto_passwd not installed")
    path = tmp_path / "pw"
    subprocess.run([binary, "-b", "-c", str(path), "bob", "hunter22"], check=True)
    encoded = path.read_text().strip().split(":", 1)[1]
    assert verify_mosquitto_hash(encoded, "hunter22")


def test_acl_grants_each_device_only_its_own_topics() -> None:
    devices = [
        BrokerDevice("gw-1", "acme", "wh-1", HASH),
        BrokerDevice("gw-2", "acme", "wh-2", HASH),
    ]
    services = [ServiceUser("svc-ingest", ServiceRole.INGEST, HASH),
                ServiceUser("svc-config", ServiceRole.CONFIG, HASH)]  # fmt: skip
    acl = render_acl(devices, services)
    blocks = {
        b.splitlines()[0]: b.splitlines()[1:] for b in acl.split("\n\n") if b.startswith("user")
    }
    assert blocks["user gw-1"] == [
        "topic write ct/v1/acme/wh-1/gw-1/telemetry",
        "topic write ct/v1/acme/wh-1/gw-1/stock",
        "topic write ct/v1/acme/wh-1/gw-1/events",
        "topic write ct/v1/acme/wh-1/gw-1/state",
        "topic read ct/v1/acme/wh-1/gw-1/config",
        "topic read ct/v1/acme/wh-1/gw-1/receipt",
        "topic read ct/v1/acme/wh-1/gw-1/backfill",
    ]
    assert blocks["user svc-ingest"] == [
        "topic read ct/v1/#",
        "topic write ct/v1/+/+/+/receipt",
        "topic write ct/v1/+/+/+/backfill",
    ]
    assert blocks["user svc-config"] == ["topic write ct/v1/+/+/+/config"]
    assert "pattern" not in acl  # no user-substituted patterns: every rule is explicit
    passwd = render_passwd(devices, services)
    assert passwd.splitlines()[0] == f"svc-ingest:{HASH}"
    assert len(passwd.splitlines()) == 4


def test_refuses_what_would_widen_the_acl() -> None:
    with pytest.raises(WireError):
        BrokerDevice("gw-#", "acme", "wh-1", HASH)
    with pytest.raises(WireError):
        BrokerDevice("gw-1", "acme", "wh/+", HASH)
    with pytest.raises(ValueError, match="two broker users"):
        render_passwd(
            [BrokerDevice("svc-x", "a", "b", HASH)],
            [ServiceUser("svc-x", ServiceRole.INGEST, HASH)],
        )
    with pytest.raises(ValueError, match="not a mosquitto"):
        render_passwd([BrokerDevice("gw-1", "a", "b", "plain:text")], [])


def test_conf_has_a_tls_listener_and_no_anonymous_access() -> None:
    tls = TlsFiles(Path("/etc/ct/ca.pem"), Path("/etc/ct/broker.pem"), Path("/etc/ct/broker.key"))
    conf = render_conf(Path("/etc/ct/mqtt"), tls=tls, plain_host=None).splitlines()
    assert "allow_anonymous false" in conf
    assert "password_file /etc/ct/mqtt/passwd" in conf
    assert "acl_file /etc/ct/mqtt/acl" in conf
    assert conf[conf.index("listener 8883") + 1 :][:3] == [
        "cafile /etc/ct/ca.pem", "certfile /etc/ct/broker.pem", "keyfile /etc/ct/broker.key",
    ]  # fmt: skip
    assert not any(line.startswith("listener 1883") for line in conf)
