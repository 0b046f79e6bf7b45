"""Chaos run: 20 real agents, 2 ingest workers, Mosquitto with persistence, PostgreSQL, and
faults at random times for 10 minutes; then readings taken = rows stored, no duplicate,
every seq stored or reported.

Run: ``python bench/chaos.py [--seconds 600] [--agents 20] [--seed 1]`` (about 13 minutes
with set-up and the final delivery). Starts its own Mosquitto (the system's, persistence on)
and PostgreSQL (fsync on), prints each fault as it is injected and the figures as one JSON
line at the end; exits 1 when a figure is wrong. The faults and the checks are described in
channeltrace/chaos.py; tests/integration/test_chaos.py runs the same for 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from channeltrace.chaos import ChaosConfig, run_chaos
from channeltrace.services import find_mosquitto, start_mosquitto, start_postgres


def say(text: str) -> None:
    print(text, flush=True)


def workdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # the servers run as their own users and must enter it
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep logs and data directories")
    args = parser.parse_args()
    version = subprocess.run([str(find_mosquitto()), "-h"], capture_output=True, text=True,
                             check=False).stdout.splitlines()[0]  # fmt: skip
    say(f"broker: {version}")
    mq_dir, pg_dir, run_dir = workdir("ct-chaos-mq-"), workdir("ct-chaos-pg-"), workdir("ct-chaos-")
    try:
        with start_mosquitto(mq_dir, persistence=True) as broker, start_postgres(pg_dir) as pg:
            database_url = pg.create_database("chaos")
            config = ChaosConfig(duration_s=args.seconds, agents=args.agents,
                                 workers=args.workers, seed=args.seed)  # fmt: skip
            report = run_chaos(broker, pg, database_url, run_dir, config, say)
    finally:
        if not args.keep:
            for path in (mq_dir, pg_dir, run_dir):
                shutil.rmtree(path, ignore_errors=True)
        else:
            say(f"kept {run_dir} (agents, logs), {mq_dir}, {pg_dir}")
    figures = report.as_dict()
    say(json.dumps({"bench": "chaos", "seconds": args.seconds, "agents": args.agents,
                    "workers": args.workers, "seed": args.seed, **figures}))  # fmt: skip
    say(
        f"faults injected {figures['faults_total']}; readings taken {report.readings_taken}"
        f" (evicted {report.evicted_readings}), stored {report.readings_stored}, duplicated"
        f" {report.duplicate_rows}; seqs {report.seqs_allocated}: stored {report.seqs_stored},"
        f" evicted {report.seqs_evicted}, not held {report.seqs_not_held}, missing"
        f" {report.seqs_missing}; gaps recorded {report.gaps_recorded}, backfilled"
        f" {report.gaps_backfilled}, open {report.gaps_open_lost}; max receipt lag"
        f" {report.max_receipt_lag_s:.1f} s; {'OK' if report.ok else 'FAILED'}"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
