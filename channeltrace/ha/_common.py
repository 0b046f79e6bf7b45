"""What the high-availability launchers share: binaries, the user they run as, HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from channeltrace._process import LOOPBACK, ServiceUnavailable, user_exists

__all__ = [
    "SUPERUSER",
    "find_etcd",
    "find_patroni",
    "find_pgbouncer",
    "listen_port",
    "multi_host_url",
]

_RUN_AS = "postgres"  # as root: etcd, Patroni and pgbouncer all drop to this user
SUPERUSER = "postgres"
REPLICATION_USER = "replicator"


def _find(names: Iterable[str], package: str) -> Path:
    for name in names:
        found = shutil.which(name) or next(
            (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.access(p, os.X_OK)), None
        )
        if found:
            return Path(found)
    raise ServiceUnavailable(
        f"{package} not found: apt-get install -y {package} (or run scripts/bootstrap.sh as root)"
    )


def find_etcd() -> Path:
    return _find(["etcd"], "etcd-server")


def find_patroni() -> Path:
    return _find(["patroni"], "patroni")


def find_pgbouncer() -> Path:
    return _find(["pgbouncer"], "pgbouncer")


def run_as() -> str | None:
    """The user our servers run as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    if not user_exists(_RUN_AS):
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--shell", "/usr/sbin/nologin", _RUN_AS],
            check=True, capture_output=True,
        )  # fmt: skip
    return _RUN_AS


def own(path: Path, user: str | None, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def http_json(url: str, timeout: float = 1.0) -> tuple[int, Any]:
    """GET ``url``: (status, decoded JSON or None). Status 0 when nobody answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(ValueError, OSError):
            return exc.code, json.loads(exc.read() or b"null")
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


_USED: set[int] = set()


def listen_port() -> int:
    """A free loopback port *below* the kernel's ephemeral range.

    A cluster's servers start one after the other, seconds after their ports are chosen;
    a port from the ephemeral range (``free_port``) may meanwhile become the local end of
    any outgoing connection on the machine ("Address already in use"). Ports below that
    range are only ever taken by listeners that ask for them.
    """
    low = 32_768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    floor = max(1_024, low - 12_000)
    for _ in range(200):
        port = secrets.randbelow(low - floor) + floor
        if port in _USED:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
        _USED.add(port)
        return port
    raise ServiceUnavailable(f"no free loopback port between {floor} and {low}")


def multi_host_url(
    ports: Iterable[int], dbname: str, *, attrs: str = "read-write", user: str = SUPERUSER,
    extra: Mapping[str, str] | None = None,
) -> str:
    """A libpq multi-host URL over loopback ``ports``: ``postgresql://u@h:p1,h:p2/db?...``."""
    hosts = ",".join(f"{LOOPBACK}:{port}" for port in ports)
    query = {"target_session_attrs": attrs, **(extra or {})}
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"postgresql://{user}@{hosts}/{dbname}?{params}"


def is_process_of(pid: int, datadir: str) -> bool:
    """Whether ``pid`` is alive (not a zombie) and a postgres of ``datadir``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and datadir in cmdline


def reap_orphans(pids: list[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(pids)
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                # Not our child: gone when kill(pid, 0) fails.
                try:
                    os.kill(pid, 0)
                    done = 0
                except ProcessLookupError:
                    done = pid
                except PermissionError:
                    done = 0
            if done:
                pending.remove(pid)
        if pending:
            time.sleep(0.02)
