"""The ledger's periodic jobs as plain functions, for any scheduler (``cloud/scheduler.py``).

- :func:`make_checkpoint`: sign a checkpoint of the current tree if it grew (interval and
  on demand);
- :func:`anchor_latest`: put the latest checkpoint on chain, crash-safe
  (:mod:`ledger.service.anchor_job`);
- :func:`audit`: recompute the log from its rows and compare with the signed checkpoints.

Each takes an open psycopg connection (autocommit) and returns a value describing what it
did; none of them loops or sleeps between runs.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from ledger.audit import AuditReport, AuditRow, audit_rows, open_checkpoints
from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.errors import CheckpointError, ProofError, StoreError, TreeError
from ledger.note import LogKey, VerifierKey
from ledger.proofs import verify_consistency
from ledger.service.anchor_job import AnchorOutcome, anchor_latest
from ledger.service.pg_store import PgLog
from ledger.service.records import (
    StoredCheckpoint,
    all_checkpoints,
    insert_checkpoint,
    latest_checkpoint,
)

__all__ = ["AnchorOutcome", "anchor_latest", "audit", "make_checkpoint"]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


def make_checkpoint(conn: Conn, key: LogKey) -> StoredCheckpoint | None:
    """Sign and store a checkpoint of the current tree; ``None`` if it has not grown.

    Before signing, the tree's root is recomputed from the stored nodes and checked to
    extend the latest signed checkpoint (a consistency proof from stored nodes, verified
    against the *signed* root): the log never signs a history that contradicts an earlier
    checkpoint, whatever happened to the database.
    """
    log = PgLog(conn)
    head = log.head()
    latest = latest_checkpoint(conn)
    if head.size == 0 or (latest is not None and latest.size >= head.size):
        return None
    tree = log.tree(head.size)
    root = tree.root()
    if root != head.root:
        raise StoreError(f"stored tree root at {head.size} differs from the head row's root")
    if latest is not None:
        try:
            previous = open_checkpoint(latest.note, key.verifier(), origin=key.name)
            proof = tree.consistency_proof(previous.size, head.size)
            verify_consistency(previous.size, head.size, proof, previous.root, root)
        except (CheckpointError, ProofError, TreeError) as exc:
            raise StoreError(
                f"refusing to sign size {head.size}: not consistent with the signed "
                f"checkpoint of size {latest.size}: {exc}"
            ) from None
    note = sign_checkpoint(Checkpoint(key.name, head.size, root), key)
    stored = insert_checkpoint(conn, head.size, root, note)
    _logger.info("checkpoint %d signed (root %s)", head.size, root.hex())
    return stored


def audit(conn: Conn, verifier: VerifierKey) -> AuditReport:
    """Recompute every leaf and checkpoint root from the stored rows (see :mod:`ledger.audit`)."""
    report = AuditReport()
    stored = all_checkpoints(conn)
    checkpoints = open_checkpoints(((c.size, c.note) for c in stored), verifier, report)
    log = PgLog(conn)
    tree_size = log.head().size
    tree = log.tree(tree_size)
    roots: dict[int, bytes | None] = {}
    for cp in checkpoints:
        try:
            roots[cp.size] = tree.root(cp.size)
        except TreeError:
            roots[cp.size] = None
    with conn.transaction(), conn.cursor(name="ledger_audit") as cur:
        cur.itersize = 10_000
        cur.execute(
            "SELECT coalesce(e.idx, n.idx), e.leaf_hash, e.canonical, e.event::text, n.hash"
            " FROM ledger_entries e"
            " FULL JOIN (SELECT idx, hash FROM ledger_nodes WHERE level = 0) n ON n.idx = e.idx"
            " ORDER BY 1"
        )
        rows = (
            AuditRow(
                index=int(r[0]),
                leaf_hash=None if r[1] is None else bytes(r[1]),
                canonical=None if r[2] is None else bytes(r[2]),
                event_json=r[3],
                tree_leaf=None if r[4] is None else bytes(r[4]),
            )
            for r in cur
        )
        audit_rows(rows, checkpoints, roots, tree_size, report)
    level = logging.INFO if report.ok else logging.ERROR
    _logger.log(
        level,
        "audit: %d entries, %d checkpoints, %d findings",
        report.entries,
        report.checkpoints,
        len(report.findings),
    )
    return report
