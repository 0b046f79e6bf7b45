"""Launch a highly available PostgreSQL on loopback: etcd, Patroni and pgbouncer.

The real Debian packages (``etcd-server`` 3.4, ``patroni`` 3.0, ``pgbouncer`` 1.18), run by
the test fixtures (``tests/plugins/patroni.py``) and ``bench/failover.py``. Every port is on
127.0.0.1 and every directory a temp dir of the caller's. As root, everything runs as the
``postgres`` user (PostgreSQL refuses root, and Patroni runs PostgreSQL as its own user).

    cluster = start_patroni_cluster(workdir)      # 3 etcd members, 3 Patroni nodes
    cluster.writer_url("ct")   # postgresql://postgres@127.0.0.1:A,...:C/ct?target_session_attrs=read-write
    cluster.kill_node(cluster.primary())          # kill -9 of Patroni and its PostgreSQL
    cluster.partition(cluster.primary(), 20.0)    # the node cut from etcd and its peers

The cluster's settings (``cluster_settings``) are the ones docs/operations.md explains:
synchronous replication, strict, so that a commit returns only once a standby has it.
Every node's peers reach it (its PostgreSQL for replication and pg_rewind, its REST API
for the leader race) and it reaches etcd through :class:`~channeltrace.proxies.TcpProxy`
instances of its own, so that a test can cut one node from the rest of the cluster while
the product's clients still reach it directly: the split-brain case synchronous
replication has to survive.
"""

from channeltrace.ha._common import (
    SUPERUSER,
    find_etcd,
    find_patroni,
    find_pgbouncer,
    multi_host_url,
)
from channeltrace.ha.cluster import PatroniCluster, start_patroni_cluster
from channeltrace.ha.etcd import Etcd, EtcdCluster
from channeltrace.ha.patroni import PatroniNode, cluster_settings
from channeltrace.ha.pgbouncer import Pgbouncer, start_pgbouncer
from channeltrace.proxies import ProxyLoop

__all__ = [
    "SUPERUSER",
    "Etcd",
    "EtcdCluster",
    "PatroniCluster",
    "PatroniNode",
    "Pgbouncer",
    "ProxyLoop",
    "cluster_settings",
    "find_etcd",
    "find_patroni",
    "find_pgbouncer",
    "multi_host_url",
    "start_patroni_cluster",
    "start_pgbouncer",
]
