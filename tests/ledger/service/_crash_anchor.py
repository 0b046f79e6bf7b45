"""Run the anchor job in a child process that SIGKILLs itself mid-anchor.

    python -m tests.ledger.service._crash_anchor DATABASE_URL RPC_URL CONTRACT PRIVATE_KEY MODE

``before-send``: dies after the pending row is committed, before the transaction leaves;
``after-send``: dies right after the transaction is broadcast, before the receipt is
recorded. Real PostgreSQL, real anvil, the real job: only the process death is staged.
"""

from __future__ import annotations

import os
import signal
import sys

import psycopg

from ledger.service.anchor import SignedAnchor, Web3Anchorer
from ledger.service.jobs import anchor_latest


class DyingAnchorer(Web3Anchorer):
    mode = "after-send"

    def broadcast(self, signed: SignedAnchor) -> None:
        if self.mode == "after-send":
            super().broadcast(signed)
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    database_url, rpc_url, contract, private_key, mode = sys.argv[1:6]
    anchorer = DyingAnchorer(rpc_url, contract, private_key)
    anchorer.mode = mode
    with psycopg.connect(database_url, autocommit=True) as conn:
        anchor_latest(conn, anchorer)
    raise SystemExit("the anchor job finished: it should have been killed")


if __name__ == "__main__":
    main()
