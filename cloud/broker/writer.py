"""Write the broker files from the registry into a directory (atomically, file by file)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from cloud.broker.files import TlsFiles, render_acl, render_conf, render_passwd
from cloud.broker.registry import broker_devices, broker_services

__all__ = ["BrokerFiles", "write_broker_files"]


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    passwd: Path
    acl: Path
    conf: Path
    devices: int
    services: int


def _write(path: Path, text: str, mode: int, group: str | None) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        if group is not None:
            shutil.chown(tmp, group=group)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_broker_files(
    conn: psycopg.Connection[Any],
    out: Path,
    *,
    tls: TlsFiles | None = None,
    tls_port: int = 8883,
    tls_host: str | None = None,
    plain_host: str | None = "127.0.0.1",
    plain_port: int = 1883,
    group: str | None = None,
) -> BrokerFiles:
    """``passwd`` (0640), ``acl`` and ``mosquitto.conf`` (0644) in ``out``; ``group`` (e.g.
    ``mosquitto``) owns them so the broker can read them after dropping privileges.
    Send the broker SIGHUP to reload passwd and acl."""
    devices = broker_devices(conn)
    services = broker_services(conn)
    out.mkdir(parents=True, exist_ok=True)
    files = BrokerFiles(out / "passwd", out / "acl", out / "mosquitto.conf",
                        len(devices), len(services))  # fmt: skip
    _write(files.passwd, render_passwd(devices, services), 0o640, group)
    _write(files.acl, render_acl(devices, services), 0o644, group)
    conf = render_conf(
        out.resolve(), tls=tls, tls_port=tls_port, tls_host=tls_host, plain_host=plain_host,
        plain_port=plain_port,
    )  # fmt: skip
    _write(files.conf, conf, 0o644, group)
    return files
