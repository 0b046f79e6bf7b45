"""A Patroni-managed PostgreSQL cluster over etcd, started by the tests themselves.

``make_patroni_cluster()`` starts 3 etcd members and 3 Patroni nodes (Debian's
``etcd-server`` 3.4 and ``patroni`` 3.0, PostgreSQL 15) on free loopback ports in temp
dirs, as ``postgres`` when the tests run as root; one primary and two streaming replicas,
one of them synchronous (``channeltrace.ha.cluster_settings``). Every cluster is private
to its test (tests kill and cut nodes) and stopped after it.

``make_pgbouncer(upstream_port)`` puts a pgbouncer in front of one node.

Missing packages skip locally and fail when ``CI=true`` (scripts/bootstrap.sh installs
them), like the other services.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest

from channeltrace.ha import (
    PatroniCluster,
    Pgbouncer,
    find_etcd,
    find_patroni,
    find_pgbouncer,
    start_patroni_cluster,
    start_pgbouncer,
)
from channeltrace.services import ServiceUnavailable
from tests.plugins.services import missing_service_outcome, service_dir

__all__ = ["make_patroni_cluster", "make_pgbouncer"]


def _missing(reason: str) -> NoReturn:
    if missing_service_outcome(os.environ) == "fail":
        pytest.fail(f"{reason} (CI=true: a missing service fails, it is never skipped)", False)
    pytest.skip(reason)


@pytest.fixture
def make_patroni_cluster() -> Iterator[Callable[..., PatroniCluster]]:
    """Start private Patroni clusters (``make_patroni_cluster(dcs=...)``); stopped after."""
    started: list[tuple[PatroniCluster, Any]] = []

    def make(**options: Any) -> PatroniCluster:
        try:
            find_etcd()
            find_patroni()
        except ServiceUnavailable as exc:
            _missing(str(exc))
        workdir = service_dir("ct-ha-")
        try:
            cluster = start_patroni_cluster(workdir, **options)
        except ServiceUnavailable as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            _missing(str(exc))
        started.append((cluster, workdir))
        return cluster

    yield make
    for cluster, workdir in reversed(started):
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def make_pgbouncer() -> Iterator[Callable[..., Pgbouncer]]:
    """Start pgbouncers in front of one server each (``make_pgbouncer(port)``)."""
    started: list[tuple[Pgbouncer, Any]] = []

    def make(upstream_port: int, **options: Any) -> Pgbouncer:
        try:
            find_pgbouncer()
        except ServiceUnavailable as exc:
            _missing(str(exc))
        workdir = service_dir("ct-pgb-")
        bouncer = start_pgbouncer(workdir, upstream_port, **options)
        started.append((bouncer, workdir))
        return bouncer

    yield make
    for bouncer, workdir in reversed(started):
        bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)
