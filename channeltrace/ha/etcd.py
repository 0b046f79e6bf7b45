"""An etcd 3.4 cluster on loopback (Patroni's distributed configuration store)."""

from __future__ import annotations

import logging
import secrets
import signal
import time
from pathlib import Path

from channeltrace._process import LOOPBACK, Service
from channeltrace.ha._common import find_etcd, http_json, listen_port, own, run_as

__all__ = ["Etcd", "EtcdCluster"]

_logger = logging.getLogger(__name__)


class Etcd(Service):
    """One etcd 3.4 member, client and peer URLs on loopback."""

    name = "etcd"

    def __init__(self, binary: Path, workdir: Path, member: str, client_port: int,
                 peer_port: int, initial_cluster: str, token: str) -> None:  # fmt: skip
        super().__init__(workdir, client_port, workdir / f"{member}.log")
        self._binary = binary
        self.member = member
        self.peer_port = peer_port
        self._initial_cluster = initial_cluster
        self._token = token
        self._user = run_as()
        self._datadir = workdir / f"{member}.etcd"

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Spawn the member; :meth:`EtcdCluster.start` waits for the quorum."""
        own(self._workdir, self._user, 0o755)
        own(self._datadir, self._user)
        state = "existing" if (self._datadir / "member").exists() else "new"
        peer = f"http://{self.host}:{self.peer_port}"
        self._spawn([
            str(self._binary), "--name", self.member, "--data-dir", str(self._datadir),
            "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", self._initial_cluster, "--initial-cluster-token", self._token,
            "--initial-cluster-state", state, "--logger", "zap", "--log-outputs", "stderr",
            "--log-level", "warn",
        ], user=self._user)  # fmt: skip

    def healthy(self) -> bool:
        status, body = http_json(f"{self.client_url}/health")
        return status == 200 and isinstance(body, dict) and body.get("health") == "true"

    def stop(self, timeout: float = 10.0) -> None:
        self._terminate(signal.SIGTERM, timeout)


class EtcdCluster:
    """``size`` etcd members forming one cluster (Patroni's DCS)."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        binary = find_etcd()
        ports = [(listen_port(), listen_port()) for _ in range(size)]
        initial = ",".join(f"e{i}=http://{LOOPBACK}:{peer}" for i, (_, peer) in enumerate(ports))
        token = f"ct-{secrets.token_hex(4)}"
        self.members = [
            Etcd(binary, workdir, f"e{i}", client, peer, initial, token)
            for i, (client, peer) in enumerate(ports)
        ]

    @property
    def client_ports(self) -> list[int]:
        return [m.port for m in self.members]

    def start(self, timeout: float = 60.0) -> None:
        began = time.monotonic()
        for member in self.members:  # all at once: the first waits for a quorum
            member.start()
        while not all(m.healthy() for m in self.members):
            for member in self.members:
                if not member.is_running():
                    self.stop()
                    raise member._fail(f"etcd member {member.member} exited")  # noqa: SLF001 (own members)
            if time.monotonic() - began > timeout:
                self.stop()
                raise self.members[0]._fail(f"etcd not healthy after {timeout} s")  # noqa: SLF001
            time.sleep(0.1)
        _logger.info("etcd cluster of %d healthy on ports %s (%.1f s)", len(self.members),
                     self.client_ports, time.monotonic() - began)  # fmt: skip

    def stop(self) -> None:
        for member in self.members:
            member.stop()
