"""Reads from replicas (issue 18), on a real Patroni cluster and the real app.

With ``CT_DATABASE_READ_URL`` the API's reads go to a standby whose replay lag is within
``CT_DATABASE_READ_MAX_LAG_SECONDS``; a standby that falls behind (its replay paused) is
left out and reads go to the primary; a write answers its commit position and a read that
names it sees the write; the lag of every server is exported as a metric.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from channeltrace.failover_load import capture_document
from channeltrace.ha import PatroniCluster
from cloud.api.consistency import COMMIT_HEADER, READ_AFTER_HEADER
from cloud.api.metrics import ApiMetrics
from cloud.app import create_app
from cloud.auth.apikeys import create_api_key
from cloud.channel.bulk import ensure_tenants
from cloud.channel.changes import Actor
from cloud.channel.records import Location, Site
from cloud.channel.store import save_record
from cloud.migrate import migrate
from cloud.provenance.prefixes import add_prefix
from cloud.replicas import parse_lsn
from cloud.settings import Settings
from tests.integration.processes import wait_for

pytestmark = pytest.mark.integration

DC = "urn:epc:id:sgln:9506000.00020.0"
EPC = "urn:epc:id:sgtin:9506000.134352.1001"


def _reads(metrics: ApiMetrics) -> dict[tuple[str, str], float]:
    out = {}
    for metric in metrics.reads.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                out[(sample.labels["target"], sample.labels["reason"])] = sample.value
    return out


def _lags(metrics: ApiMetrics) -> dict[str, float]:
    return {
        s.labels["server"]: s.value for m in metrics.replica_lag.collect() for s in m.samples
    }


def _standbys(cluster: PatroniCluster) -> list[str]:
    primary = cluster.primary()
    return [n.url("ct_reads") for n in cluster.nodes if n is not primary]


def test_reads_use_replicas_within_the_lag_bound_and_see_the_callers_own_writes(
    make_patroni_cluster: Callable[..., PatroniCluster],
) -> None:
    cluster = make_patroni_cluster()
    url = cluster.create_database("ct_reads")
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        operator = Actor("test:operator", "operator")
        ensure_tenants(conn, [("acme", "Acme")], operator)
        save_record(conn, "acme", Site("dc", "Guangzhou DC", region="440100"), operator)
        save_record(conn, "acme", Location(DC, "dc"), operator)
        add_prefix(conn, "acme", "9506000")
        key = create_api_key(conn, tenant_id="acme", role="brand", label="reads")
    metrics = ApiMetrics.create()
    settings = Settings(
        database_url=url,
        database_read_url=cluster.reader_url("ct_reads"),
        database_read_max_lag_seconds=1.0,
        environment="development",
    )
    headers = {"X-API-Key": key}
    with TestClient(create_app(settings, metrics)) as client:
        reads: Any = client.app.state.reads  # type: ignore[attr-defined]
        primary = f"127.0.0.1:{cluster.primary().port}"
        standbys = [label for label in reads.monitor.labels if label != primary]
        wait_for(lambda: all(reads.monitor.usable(s) for s in standbys), 30,
                 lambda: f"standbys never usable: {[reads.monitor.state(s) for s in standbys]}")

        # Every server's lag is exported; the primary's is 0.
        lags = _lags(metrics)
        assert set(lags) == set(reads.monitor.labels)
        assert lags[primary] == 0.0

        # A read goes to a replica.
        before = _reads(metrics).get(("replica", "replica"), 0.0)
        assert client.get("/v1/tenants/acme/sites", headers=headers).status_code == 200
        assert _reads(metrics).get(("replica", "replica"), 0.0) == before + 1

        # A capture answers its commit position; a read naming it sees the event.
        document = capture_document(EPC, "urn:uuid:7e0c64e4-3b3a-4a57-9d64-8f6f0a2d1001", DC)
        captured = client.post("/epcis/capture", json=document, headers=headers)
        assert captured.status_code == 202, captured.text
        position = captured.headers[COMMIT_HEADER]
        assert parse_lsn(position) is not None
        assert client.cookies.get("ct_lsn") == position  # the console's browser keeps it
        client.cookies.clear()
        events = client.get("/epcis/events", params={"epc": EPC},
                            headers={**headers, READ_AFTER_HEADER: position})  # fmt: skip
        assert events.status_code == 200
        assert "7e0c64e4-3b3a-4a57-9d64-8f6f0a2d1001" in events.text
        # A position no server has replayed yet is read on the primary.
        ahead = reads.choose(after_lsn=(parse_lsn(position) or 0) + (1 << 40))
        assert ahead == ("primary", "read_your_writes")

        # Standbys whose replay is paused fall behind the bound: reads go to the primary.
        # (Patroni would resume their replay: it is told to leave the servers alone.)
        cluster.set_maintenance(True)
        for standby in _standbys(cluster):
            with psycopg.connect(standby, autocommit=True) as conn:
                conn.execute("SELECT pg_wal_replay_pause()")
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE behind (n int)")
                for n in range(30):  # keep committing: replay lag grows with the clock
                    conn.execute("INSERT INTO behind VALUES (%s)", (n,))
                    time.sleep(0.1)
            wait_for(lambda: not any(reads.monitor.usable(s) for s in standbys), 30,
                     lambda: f"standbys still usable: {[reads.monitor.state(s) for s in standbys]}")
            assert all(_lags(metrics)[s] > 1.0 for s in standbys), _lags(metrics)
            before = _reads(metrics).get(("primary", "no_standby_usable"), 0.0)
            assert client.get("/v1/tenants/acme/sites", headers=headers).status_code == 200
            assert _reads(metrics).get(("primary", "no_standby_usable")) == before + 1
        finally:
            for standby in _standbys(cluster):
                with psycopg.connect(standby, autocommit=True) as conn:
                    conn.execute("SELECT pg_wal_replay_resume()")
            cluster.set_maintenance(False)
        wait_for(lambda: all(reads.monitor.usable(s) for s in standbys), 30,
                 lambda: f"standbys never caught up: {[reads.monitor.state(s) for s in standbys]}")
