"""Failover under load (issue 18), on real processes: nothing acknowledged is lost.

A Patroni cluster (3 etcd, 3 PostgreSQL 15, synchronous replication, strict), Mosquitto
with persistence, real edge agents streaming to two ingest workers, two scheduler replicas
signing ledger checkpoints, the API (reads on the replicas) taking EPCIS captures and
consumer scans (``channeltrace.failover``). The primary's node is killed with ``kill -9``;
later the new primary is cut from etcd and its peers while the product still reaches it.
Each time Patroni promotes the synchronous standby, the ingest and the API write again,
a scheduler leads again and the old primary rejoins. At the end every reading taken is
stored exactly once, every acknowledged capture is present with the ledger index it was
given, and the ledger audit finds nothing.

No timing thresholds: the figures are printed (``bench/failover.py`` gives the same).
About two minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from channeltrace.failover import FailoverConfig, run_failover
from channeltrace.ha import PatroniCluster
from channeltrace.services import Mosquitto

pytestmark = pytest.mark.integration


@pytest.mark.timeout(900)
def test_the_product_follows_the_primary_through_a_kill_and_a_partition_and_loses_nothing(
    make_patroni_cluster: Callable[..., PatroniCluster],
    make_mosquitto: Callable[..., Mosquitto],
    tmp_path: Path,
) -> None:
    cluster = make_patroni_cluster()
    broker = make_mosquitto(persistence=True)
    config = FailoverConfig(agents=3, warmup_s=6.0, between_s=3.0, partition_s=20.0)
    report = run_failover(cluster, broker, tmp_path / "run", config)
    figures = report.as_dict()

    kill, cut = report.switches
    for switch in (kill, cut):
        assert switch.new_primary, figures
        assert switch.new_primary != switch.old_primary, figures
        assert switch.captures_resumed_s is not None, figures  # the API writes again
        assert switch.ingest_resumed_s is not None, figures  # so does the ingest
        assert switch.leader_again_s is not None, figures  # a scheduler leads again
        assert switch.rejoined_s is not None, figures  # the old primary is a replica again
        # Whatever a scan or capture got meanwhile, it was an answer: never a 500.
        assert not {s for s in (*switch.scans, *switch.captures) if s.startswith("5")} - {
            "503"
        }, figures

    assert report.readings_taken > 0, figures
    assert report.readings_stored == report.readings_taken - report.readings_evicted, figures
    assert report.duplicate_rows == 0, figures
    assert report.seqs_missing == 0, figures
    assert report.pending_after == 0, figures
    assert report.captures_acked > 0, figures
    assert report.captures_missing == 0, figures
    assert report.ledger_checkpoints > 0, figures
    assert report.ledger_findings == [], figures
    assert report.lost == 0, figures
    assert report.ok, figures
