"""Failover under load: the product while its database primary is killed and, later, cut
off from its cluster (issue 18).

Run: ``.venv/bin/python bench/failover.py [--agents 4] [--partition 25]``. Prints what
happened at each switch and the final accounting (progress on stderr, one JSON line on
stdout); asserts nothing. Needs Debian's ``patroni``, ``etcd-server`` and ``mosquitto``
(``scripts/bootstrap.sh`` installs them).

Starts its own Patroni cluster (3 etcd members, 3 PostgreSQL 15 nodes with synchronous
replication, strict), a Mosquitto with persistence, and then ``channeltrace.failover``:
real edge agents streaming to 2 ingest workers, 2 scheduler replicas signing ledger
checkpoints, the API with its reads on the replicas (``CT_DATABASE_READ_URL``), a client
capturing EPCIS events one at a time (each retried until acknowledged) and clients
scanning real signed codes. Faults: ``kill -9`` of the primary's node, then (once the node
has rejoined) the new primary cut from etcd and its peers for ``--partition`` seconds.

Figures per switch: time to promotion (Patroni's ttl 10 s, loop_wait 1 s, retry_timeout
3 s dominate it: production keeps the defaults 30/10/10, so expect about 3x), time until
captures and ingest commits resume, the answers scans and captures got meanwhile, when a
scheduler led again, when the old primary had rejoined. Final: readings taken vs stored
(exactly once), acknowledged captures present with their ledger index, the ledger audit,
0 lost. The baseline beside them: the cluster's own promotion time is bounded below by
the ttl of the leader key (10 s here) when a node dies without releasing it.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from channeltrace.failover import FailoverConfig, run_failover  # noqa: E402
from channeltrace.ha import start_patroni_cluster  # noqa: E402
from channeltrace.services import start_mosquitto  # noqa: E402


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--partition", type=float, default=25.0, help="seconds cut off")
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    root = Path(tempfile.mkdtemp(prefix="ct-failover-"))
    root.chmod(0o755)
    (root / "mq").mkdir()
    try:
        say("starting a Patroni cluster (3 etcd, 3 PostgreSQL 15) and Mosquitto ...")
        with start_patroni_cluster(root / "ha") as cluster, start_mosquitto(
            root / "mq", persistence=True
        ) as broker:
            config = FailoverConfig(agents=args.agents, partition_s=args.partition,
                                    warmup_s=args.warmup)  # fmt: skip
            report = run_failover(cluster, broker, root / "run", config, say=say)
        say("")
        for switch in report.switches:
            say(f"{switch.fault:>9}: {switch.old_primary} -> {switch.new_primary}; promotion "
                f"{switch.promotion_s:.1f} s, captures resumed {_s(switch.captures_resumed_s)}, "
                f"ingest resumed {_s(switch.ingest_resumed_s)}, scheduler leader again "
                f"{_s(switch.leader_again_s)}, old primary rejoined {_s(switch.rejoined_s)}")
            say(f"           scans meanwhile {dict(switch.scans)}, captures meanwhile "
                f"{dict(switch.captures)}")
        say(f"readings taken {report.readings_taken} (evicted {report.readings_evicted}), "
            f"stored {report.readings_stored}, duplicates {report.duplicate_rows}, seqs "
            f"missing {report.seqs_missing}; captures acknowledged {report.captures_acked}, "
            f"missing {report.captures_missing}; ledger {report.ledger_entries} entries, "
            f"{report.ledger_checkpoints} checkpoints, {len(report.ledger_findings)} findings; "
            f"lost {report.lost}; {'OK' if report.ok else 'NOT OK'} ({report.wall_s:.0f} s)")
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    finally:
        if args.keep:
            say(f"work dir kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
