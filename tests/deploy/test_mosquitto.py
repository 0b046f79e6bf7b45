"""deploy/mosquitto/mosquitto.conf: no anonymous access, a TLS listener, and a real broker
that loads it (paths moved into a temporary directory) and enforces both."""

from __future__ import annotations

import datetime as dt
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from channeltrace._process import free_port, port_open, user_exists
from channeltrace.services import ServiceUnavailable, find_mosquitto
from tests.deploy import _deploy as d

CONF = d.DEPLOY / "mosquitto" / "mosquitto.conf"


def _lines() -> list[list[str]]:
    text = CONF.read_text(encoding="utf-8")
    return [
        ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


def directives() -> dict[str, list[str]]:
    """Global directives (before the first listener): name → values."""
    found: dict[str, list[str]] = {}
    for words in _lines():
        if words[0] == "listener":
            break
        found.setdefault(words[0], []).append(" ".join(words[1:]))
    return found


def listeners() -> dict[int, dict[str, str]]:
    """port → the listener's own settings (TLS files and the like; ``protocol`` left out)."""
    result: dict[int, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for words in _lines():
        if words[0] == "listener":
            current = result.setdefault(int(words[1]), {})
        elif current is not None and words[0] != "protocol":
            current[words[0]] = " ".join(words[1:])
    return result


def test_no_anonymous_access_and_files_from_the_generator() -> None:
    conf = directives()
    assert conf["allow_anonymous"] == ["false"]
    assert all(w[:2] != ["allow_anonymous", "true"] for w in _lines())
    assert conf["per_listener_settings"] == ["false"]  # the password and ACL files bind all
    assert conf["password_file"] == ["/mosquitto/generated/passwd"]
    assert conf["acl_file"] == ["/mosquitto/generated/acl"]
    assert conf["persistence"] == ["true"]


def test_tls_listener_on_8883_and_plain_one_only_for_the_backend() -> None:
    found = listeners()
    assert set(found) == {1883, 8883}
    tls = found[8883]
    assert {"cafile", "certfile", "keyfile"} <= set(tls)
    assert tls["tls_version"] in {"tlsv1.2", "tlsv1.3"}
    assert found[1883] == {}


# ------------------------------------------------------------------ the real broker


def _self_signed(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "ca.crt").write_bytes(pem)
    (directory / "server.crt").write_bytes(pem)
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
def broker() -> Iterator[tuple[int, int, Path]]:
    try:
        binary = find_mosquitto()
    except ServiceUnavailable as exc:
        d.missing_tool(str(exc))
    passwd_tool = shutil.which("mosquitto_passwd")
    if passwd_tool is None:
        d.missing_tool("mosquitto_passwd not found (apt-get install -y mosquitto)")
    work = Path(tempfile.mkdtemp(prefix="ct-deploy-mq-"))
    work.chmod(0o755)
    for sub in ("generated", "certs", "data"):
        (work / sub).mkdir()
    subprocess.run(
        [passwd_tool, "-b", "-c", str(work / "generated" / "passwd"), "svc-ingest", "s3cret"],
        check=True,
        capture_output=True,
    )
    (work / "generated" / "acl").write_text("user svc-ingest\ntopic read ct/v1/#\n")
    _self_signed(work / "certs")
    plain, tls = free_port(), free_port()
    text = (
        CONF.read_text(encoding="utf-8")
        .replace("/mosquitto/", f"{work}/")
        .replace("listener 1883", f"listener {plain} 127.0.0.1")
        .replace("listener 8883", f"listener {tls} 127.0.0.1")
        .replace("log_dest stdout", "log_dest stderr")
    )
    if os.geteuid() == 0:  # Mosquitto drops root; its user must read the files
        user = "mosquitto" if user_exists("mosquitto") else "nobody"
        text = f"user {user}\n{text}"
        entry = pwd.getpwnam(user)
        for path in [work, *work.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
    (work / "mosquitto.conf").write_text(text)
    with (work / "mosquitto.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(binary), "-c", str(work / "mosquitto.conf")], stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 10
        while not (port_open(plain) and port_open(tls)):
            log_text = (work / "mosquitto.log").read_text(errors="replace")
            assert proc.poll() is None, f"mosquitto refused deploy/mosquitto.conf:\n{log_text}"
            assert time.monotonic() < deadline, f"mosquitto not listening:\n{log_text}"
            time.sleep(0.02)
        yield plain, tls, work / "certs" / "ca.crt"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def _connect(
    port: int, *, username: str | None = None, password: str | None = None, ca: Path | None = None
) -> int:
    """The CONNACK reason code (0 = accepted)."""
    done = threading.Event()
    result: list[int] = []

    def on_connect(
        client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        result.append(int(getattr(reason, "value", reason)))  # type: ignore[call-overload]
        done.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"deploy-test-{port}", protocol=mqtt.MQTTv5
    )
    client.on_connect = on_connect
    if username:
        client.username_pw_set(username, password)
    if ca is not None:
        client.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.connect("localhost" if ca is not None else "127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]


@pytest.mark.integration
def test_real_mosquitto_loads_the_config_and_enforces_it(broker: tuple[int, int, Path]) -> None:
    plain, tls, ca = broker
    assert _connect(tls, username="svc-ingest", password="s3cret", ca=ca) == 0
    assert _connect(plain, username="svc-ingest", password="s3cret") == 0
    refused = {0x86, 0x87}  # bad user name or password / not authorised
    assert _connect(plain) in refused  # anonymous
    assert _connect(tls, username="svc-ingest", password="wrong", ca=ca) in refused
