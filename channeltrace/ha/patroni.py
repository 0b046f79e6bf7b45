"""One Patroni node (Patroni 3.0 and the PostgreSQL it manages), and its settings."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channeltrace._process import Service
from channeltrace.ha._common import (
    REPLICATION_USER,
    SUPERUSER,
    http_json,
    is_process_of,
    listen_port,
    own,
    reap_orphans,
    run_as,
)
from channeltrace.proxies import ProxyLoop, TcpProxy

__all__ = ["NodePorts", "PatroniNode", "PostmasterReaper", "cluster_settings"]

_logger = logging.getLogger(__name__)


def cluster_settings(
    *, ttl: int = 10, loop_wait: int = 1, retry_timeout: int = 3
) -> dict[str, Any]:
    """The dynamic (DCS) configuration of the cluster; docs/operations.md explains each.

    Production keeps Patroni's timing defaults (ttl 30, loop_wait 10, retry_timeout 10);
    the tests shorten them so that a failover takes seconds, within Patroni's rule
    ``loop_wait + 2 * retry_timeout <= ttl``.
    """
    if loop_wait + 2 * retry_timeout > ttl:
        raise ValueError(
            f"expected loop_wait + 2 * retry_timeout <= ttl; got {loop_wait} + 2 * "
            f"{retry_timeout} > {ttl}"
        )
    return {
        "ttl": ttl,
        "loop_wait": loop_wait,
        "retry_timeout": retry_timeout,
        # A commit returns once the synchronous standby has flushed it (synchronous_commit
        # on); strict: with no standby left, writes wait rather than go on unreplicated.
        "synchronous_mode": True,
        "synchronous_mode_strict": True,
        "synchronous_node_count": 1,
        # A primary stopping (demoted when it lost etcd) waits for its walsenders to hand the
        # shutdown checkpoint to standbys it may no longer reach; past this Patroni kills it.
        # Meanwhile its clients' commits hang (nothing is acknowledged), so keep it short.
        "primary_stop_timeout": 5,
        "postgresql": {
            "use_pg_rewind": True,  # a demoted primary rejoins by rewinding what it alone had
            "use_slots": True,  # replicas' WAL kept for them across restarts
            "parameters": {
                "wal_level": "replica",
                "hot_standby": "on",
                "wal_log_hints": "on",  # pg_rewind needs it (or data checksums)
                "synchronous_commit": "on",
                "max_wal_senders": 10,
                "max_replication_slots": 10,
                "max_connections": 200,
                "wal_keep_size": "256MB",
                # Replies from standbys at least this often: the lag the API reports is fresh.
                "wal_receiver_status_interval": "1s",
                # A silent network cut ends a replication connection after this (both ways):
                # a standby then reports that it is not streaming (no reads, cloud/replicas.py).
                "wal_sender_timeout": "10s",
                "wal_receiver_timeout": "10s",
                "hot_standby_feedback": "on",  # long replica reads are not cancelled
            },
        },
    }


@dataclass
class NodePorts:
    pg: int = field(default_factory=listen_port)
    rest: int = field(default_factory=listen_port)


class PatroniNode(Service):
    """One Patroni daemon and the PostgreSQL it manages.

    Its PostgreSQL listens on :attr:`port` (what the product connects to); its peers reach
    it through :attr:`pg_proxy` and :attr:`rest_proxy`, and it reaches etcd through
    :attr:`etcd_proxies`, so :meth:`PatroniCluster.partition` can cut it off.
    """

    name = "patroni"

    def __init__(self, binary: Path, bindir: Path, workdir: Path, member: str, scope: str,
                 ports: NodePorts, proxies: ProxyLoop, etcd_ports: list[int],
                 dcs: Mapping[str, Any]) -> None:  # fmt: skip
        super().__init__(workdir, ports.pg, workdir / "patroni.log")
        self._binary, self._bindir = binary, bindir
        self.member, self.scope = member, scope
        self.rest_port = ports.rest
        self.pg_proxy = proxies.add(ports.pg)
        self.rest_proxy = proxies.add(ports.rest)
        self.etcd_proxies = [proxies.add(port) for port in etcd_ports]
        self._user = run_as()
        self._config = workdir / "patroni.yml"
        self._datadir = workdir / "data"
        self._sockdir = workdir / "run"
        self._dcs = dict(dcs)

    @property
    def datadir(self) -> Path:
        return self._datadir

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"

    @property
    def all_proxies(self) -> list[TcpProxy]:
        return [self.pg_proxy, self.rest_proxy, *self.etcd_proxies]

    def url(self, dbname: str = "postgres") -> str:
        """This node alone (whatever its role)."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def _write_config(self) -> None:
        config = {
            "scope": self.scope,
            "name": self.member,
            "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
            "restapi": {
                "listen": f"{self.host}:{self.rest_port}",
                "connect_address": f"{self.host}:{self.rest_proxy.port}",
            },
            "etcd3": {
                "hosts": [f"{self.host}:{p.port}" for p in self.etcd_proxies],
                "protocol": "http",
                "use_proxies": True,  # only these addresses, never the members' own
            },
            "bootstrap": {
                "dcs": self._dcs,
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
                "pg_hba": [
                    f"host replication {REPLICATION_USER} {self.host}/32 trust",
                    f"host all all {self.host}/32 trust",
                    "local all all trust",
                ],
            },
            "postgresql": {
                "listen": f"{self.host}:{self.port}",
                "connect_address": f"{self.host}:{self.pg_proxy.port}",
                "data_dir": str(self._datadir),
                "bin_dir": str(self._bindir),
                "pgpass": str(self._workdir / "pgpass"),
                "authentication": {
                    "superuser": {"username": SUPERUSER, "password": "postgres"},
                    "replication": {"username": REPLICATION_USER, "password": "replicator"},
                },
                "parameters": {"unix_socket_directories": str(self._sockdir)},
            },
            "watchdog": {"mode": "off"},
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
        }
        # YAML is a superset of JSON: no YAML writer needed.
        self._config.write_text(json.dumps(config, indent=2) + "\n")
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self._config, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        """Spawn Patroni; it bootstraps, or clones, or resumes the data directory."""
        own(self._workdir, self._user, 0o755)
        own(self._sockdir, self._user, 0o755)
        if self._user is None:
            self._workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._spawn([str(self._binary), str(self._config)], user=self._user)

    def status(self) -> dict[str, Any] | None:
        """Patroni's own view (``GET /patroni``), or None when it does not answer."""
        status, body = http_json(f"{self.rest_url}/patroni")
        return body if status in (200, 503) and isinstance(body, dict) else None

    def role(self) -> str | None:
        body = self.status()
        return None if body is None else str(body.get("role"))

    def postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self._datadir / "postmaster.pid").read_text().splitlines()[0])
        return None

    def postmaster_pids(self) -> list[int]:
        """The postmaster this node's data directory names, if it runs, and its children.

        Patroni starts PostgreSQL through a helper that exits at once (as pg_ctl does), so
        the postmaster is not Patroni's child: it is found by its pid file.
        """
        from channeltrace._process import _children

        pid = self.postmaster_pid()
        if pid is None or not is_process_of(pid, str(self._datadir)):
            return []
        return [pid, *_children(pid)]

    def kill(self) -> None:
        """``kill -9`` the node: Patroni, its postmaster and every backend at one instant."""
        from channeltrace._process import _children

        if self._proc is None or self._proc.poll() is not None:
            return
        patroni = self._proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(patroni, signal.SIGSTOP)  # frozen first: nothing notices and reacts
        postgres = self.postmaster_pids()
        if postgres:
            with contextlib.suppress(ProcessLookupError):
                os.kill(postgres[0], signal.SIGSTOP)
            postgres = self.postmaster_pids()
        victims = [patroni, *_children(patroni), *postgres]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._proc.wait()
        reap_orphans([p for p in victims if p != patroni])
        self._terminate(signal.SIGKILL, 1)
        _logger.info("patroni node %s killed (patroni %d, postgres %s)", self.member, patroni,
                     postgres[:1])  # fmt: skip

    def signal_stop(self) -> None:
        """Ask Patroni to stop (it shuts its PostgreSQL down first); see :meth:`stop`."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop Patroni and its PostgreSQL; whatever is still running after ``timeout`` is
        killed."""
        self.signal_stop()
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout)
        if self._proc is not None and self._proc.poll() is None:
            _logger.warning("patroni %s still running after %.0f s; killing it", self.member,
                            timeout)  # fmt: skip
            self.kill()
            return
        self._terminate(signal.SIGKILL, 1)
        leftovers = self.postmaster_pids()  # Patroni gone, a postmaster left behind
        for pid in leftovers[:1]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)
        reap_orphans(leftovers, timeout=10)


class PostmasterReaper:
    """Reaps the PostgreSQL processes of our nodes when they exit.

    Patroni's postmasters are orphans by design (started through a helper that exits, as
    ``pg_ctl`` does): without a subreaper they would go to the container's PID 1, which
    does not reap, and Patroni takes a zombie postmaster for a live one (it would wait for
    it for ever). So this process becomes their subreaper, and a thread collects every
    exited ``postgres`` process reparented to us: postmasters, including one that lost a
    start race and exited at once, and the backends of one Patroni killed. Never a child
    of ours that a :class:`~channeltrace._process.Service` owns (its own ``Popen`` reaps it).
    """

    def __init__(self) -> None:
        from channeltrace._process import _become_subreaper

        _become_subreaper()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postmaster-reaper", daemon=True)

    def watch(self, _nodes: list[PatroniNode]) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for pid in _zombie_postgres_children():
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)


def _zombie_postgres_children() -> list[int]:
    """Exited ``postgres`` processes whose parent is this process, not owned by a Service."""
    from channeltrace._process import _LIVE

    owned = {service.pid for service in list(_LIVE)}
    me = os.getpid()
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat_file.read_text()
            comm = text[text.index("(") + 1 : text.rindex(")")]
            fields = text.rsplit(")", 1)[1].split()
            pid = int(stat_file.parent.name)
            zombie_of_ours = fields[0] == "Z" and int(fields[1]) == me
            if zombie_of_ours and comm == "postgres" and pid not in owned:
                found.append(pid)
    return found
