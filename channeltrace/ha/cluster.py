"""A Patroni cluster on loopback: 3 etcd members, N nodes, and the faults tests inject."""

from __future__ import annotations

import json
import logging
import secrets
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from channeltrace._process import ServiceStartError, log_tail
from channeltrace.ha._common import find_patroni, http_json, multi_host_url
from channeltrace.ha.etcd import EtcdCluster
from channeltrace.ha.patroni import NodePorts, PatroniNode, PostmasterReaper, cluster_settings
from channeltrace.proxies import ProxyLoop
from channeltrace.services import find_postgres_bindir

__all__ = ["PatroniCluster", "start_patroni_cluster"]

_logger = logging.getLogger(__name__)


class PatroniCluster:
    """An etcd cluster and ``size`` Patroni nodes: one primary, the rest streaming replicas."""

    def __init__(self, workdir: Path, *, size: int = 3, dcs: Mapping[str, Any] | None = None,
                 scope: str | None = None) -> None:  # fmt: skip
        binary, bindir = find_patroni(), find_postgres_bindir()
        self.workdir = workdir
        self.scope = scope or f"ct-{secrets.token_hex(3)}"
        self._reaper = PostmasterReaper()
        self.proxies = ProxyLoop()
        self.etcd = EtcdCluster(workdir / "etcd", 3)
        self.dcs = dict(dcs or cluster_settings())
        self.nodes = [
            PatroniNode(binary, bindir, workdir / f"pg{i}", f"pg{i}", self.scope, NodePorts(),
                        self.proxies, self.etcd.client_ports, self.dcs)
            for i in range(size)
        ]  # fmt: skip
        self._reaper.watch(self.nodes)

    # --- addresses -------------------------------------------------------------------------

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def writer_url(self, dbname: str) -> str:
        """Whichever node is primary: libpq tries each host for a read-write session."""
        return multi_host_url(self.ports, dbname, attrs="read-write")

    def reader_url(self, dbname: str, attrs: str = "prefer-standby") -> str:
        """A replica when one answers (spread at random), else the primary."""
        return multi_host_url(
            self.ports, dbname, attrs=attrs, extra={"load_balance_hosts": "random"}
        )

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        began = time.monotonic()
        self.etcd.start()
        self.nodes[0].start()  # the first bootstraps; the others clone it
        self.wait_for_primary(timeout)
        for node in self.nodes[1:]:
            node.start()
        self.wait_healthy(timeout - (time.monotonic() - began))
        _logger.info("patroni cluster %s: primary %s, ports %s (%.1f s)", self.scope,
                     self.primary().member, self.ports, time.monotonic() - began)  # fmt: skip

    def stop(self) -> None:
        # All at once: one by one, a synchronous standby would wait for a primary that is
        # stopping, or a primary for a standby that is gone (strict mode).
        for node in self.nodes:
            node.signal_stop()
        for node in self.nodes:
            node.stop()
        self.etcd.stop()
        self.proxies.close()
        self._reaper.stop()

    def __enter__(self) -> PatroniCluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- state -----------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        """The cluster as the DCS says (``GET /cluster`` of any node that answers)."""
        for node in self.nodes:
            if node.is_running():
                status, body = http_json(f"{node.rest_url}/cluster")
                if status == 200 and isinstance(body, dict):
                    return list(body.get("members", []))
        return []

    def primary_or_none(self) -> PatroniNode | None:
        for node in self.nodes:
            if node.is_running() and node.role() in ("master", "primary"):
                status, _ = http_json(f"{node.rest_url}/primary")
                if status == 200:  # holds the leader key, runs read-write
                    return node
        return None

    def primary(self) -> PatroniNode:
        node = self.primary_or_none()
        if node is None:
            raise ServiceStartError(f"patroni cluster {self.scope} has no primary now")
        return node

    def node(self, member: str) -> PatroniNode:
        return next(n for n in self.nodes if n.member == member)

    def wait_for_primary(self, timeout: float, *, not_member: str | None = None) -> PatroniNode:
        """Until a node (other than ``not_member``) runs as the primary."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            node = self.primary_or_none()
            if node is not None and node.member != not_member:
                return node
            for candidate in self.nodes:
                proc = candidate._proc  # noqa: SLF001 (the cluster owns its nodes' processes)
                if candidate.pid is None and proc is not None:
                    code = proc.poll()
                    if code is not None and candidate.member != not_member:
                        _logger.warning("patroni %s exited with %s", candidate.member, code)
            time.sleep(0.1)
        tails = "\n".join(f"--- {n.member}:\n{log_tail(n.log_path, 15)}" for n in self.nodes)
        raise ServiceStartError(f"no primary within {timeout:.0f} s\n{tails}")

    def wait_healthy(self, timeout: float) -> None:
        """Until one leader and every other running node streams, one of them synchronously."""
        deadline = time.monotonic() + timeout
        running = [n.member for n in self.nodes if n.is_running()]
        while time.monotonic() < deadline:
            members = {m.get("name"): m for m in self.members()}
            roles = [members.get(name, {}).get("role") for name in running]
            states = [members.get(name, {}).get("state") for name in running]
            if (
                roles.count("leader") == 1
                and "sync_standby" in roles
                and all(s in ("running", "streaming") for s in states)
                and all(self._streaming(name) for name in running
                        if members[name].get("role") != "leader")
            ):  # fmt: skip
                return
            time.sleep(0.2)
        tails = "\n".join(f"--- {n.member}:\n{log_tail(n.log_path, 15)}" for n in self.nodes)
        raise ServiceStartError(
            f"cluster not healthy within {timeout:.0f} s: {self.members()}\n{tails}"
        )

    def _streaming(self, member: str) -> bool:
        body = self.node(member).status()
        replication = (body or {}).get("replication_state")
        xlog = (body or {}).get("xlog", {})
        return replication == "streaming" or bool(xlog.get("received_location"))

    # --- faults ----------------------------------------------------------------------------

    def kill_node(self, node: PatroniNode) -> None:
        node.kill()

    def partition(self, node: PatroniNode, seconds: float) -> None:
        """Cut ``node`` from etcd and from its peers for ``seconds`` (clients still reach it)."""
        self.proxies.cut(node.all_proxies, seconds)
        _logger.info("patroni node %s cut from the cluster for %.0f s", node.member, seconds)

    def set_maintenance(self, on: bool) -> None:
        """Patroni's maintenance mode (``patronictl pause``): it leaves PostgreSQL alone
        (no failover, no restarts, replay left paused if someone pauses it)."""
        body = json.dumps({"pause": on}).encode()
        for node in self.nodes:
            if not node.is_running():
                continue
            request = urllib.request.Request(  # noqa: S310 - our loopback REST API
                f"{node.rest_url}/config", data=body, method="PATCH",
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - loopback
                pass
            break
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [n.status() or {} for n in self.nodes if n.is_running()]
            if all(bool(s.get("pause")) == on for s in states):
                return
            time.sleep(0.1)
        raise ServiceStartError(f"patroni maintenance mode not {'on' if on else 'off'} in 30 s")

    def create_database(self, name: str) -> str:
        """CREATE DATABASE on the primary (it replicates); returns the writer URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.writer_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.writer_url(name)




def start_patroni_cluster(
    workdir: Path, *, size: int = 3, dcs: Mapping[str, Any] | None = None,
    timeout: float = 120.0,
) -> PatroniCluster:
    """Start etcd (3 members) and ``size`` Patroni nodes in ``workdir``; returns once one
    node is primary and the others stream from it, one synchronously."""
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    cluster = PatroniCluster(workdir, size=size, dcs=dcs)
    try:
        cluster.start(timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster
