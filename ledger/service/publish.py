"""What the log publishes, read from PostgreSQL: proofs against checkpoints, and bundles.

Shared by the API (:mod:`ledger.service.api`) and the CLI. Proofs come from the stored nodes;
entries are served as stored, so a tampered row yields a bundle that fails verification
rather than a silently "fixed" one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from ledger.bundle import AnchoredCheckpoint, AnchorRef, ConsistencyLink, ProofBundle
from ledger.canonical import canonical_bytes
from ledger.errors import LedgerError, TreeError
from ledger.service.pg_store import PgLog
from ledger.service.records import (
    AnchorRow,
    StoredCheckpoint,
    anchor_covering,
    checkpoint_at,
    latest_checkpoint,
    latest_confirmed_anchor,
)

__all__ = [
    "InclusionAnswer",
    "NotAnchoredError",
    "build_bundle",
    "build_public_bundle",
    "inclusion_at_checkpoint",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


class NotAnchoredError(LedgerError):
    """The entry exists but no confirmed anchor covers it yet."""


@dataclass(frozen=True, slots=True)
class InclusionAnswer:
    index: int
    leaf_hash: bytes
    checkpoint: StoredCheckpoint
    proof: list[bytes]


def inclusion_at_checkpoint(conn: Conn, index: int, size: int | None = None) -> InclusionAnswer:
    """Inclusion proof of leaf ``index`` to the checkpoint of ``size`` (default: latest)."""
    checkpoint = latest_checkpoint(conn) if size is None else checkpoint_at(conn, size)
    if checkpoint is None:
        raise TreeError(
            "no signed checkpoint yet" if size is None else f"no checkpoint of size {size}"
        )
    tree = PgLog(conn).tree(checkpoint.size)
    proof = tree.inclusion_proof(index, checkpoint.size)
    return InclusionAnswer(index, tree.leaf_hash(index), checkpoint, proof)


def _anchored(conn: Conn, anchor: AnchorRow) -> AnchoredCheckpoint:
    checkpoint = checkpoint_at(conn, anchor.size)
    if checkpoint is None:  # the foreign key makes this impossible
        raise TreeError(f"anchor {anchor.id} refers to a missing checkpoint {anchor.size}")
    ref = AnchorRef(anchor.chain_id, anchor.contract, anchor.tx_hash, anchor.block_number)
    return AnchoredCheckpoint(checkpoint.note, ref)


def build_bundle(conn: Conn, index: int) -> ProofBundle:
    """The proof bundle of entry ``index`` (see :mod:`ledger.bundle`)."""
    log = PgLog(conn)
    entry = log.entry(index)
    first = anchor_covering(conn, index)
    if first is None:
        raise NotAnchoredError(f"entry {index} is not covered by a confirmed anchor yet")
    head = log.head()
    tree = log.tree(head.size)
    proof = tree.inclusion_proof(index, first.size)
    consistency = None
    latest = latest_confirmed_anchor(conn, first.chain_id, first.contract)
    if latest is not None and latest.size > head.size:
        _logger.error(
            "stored tree (size %d) is smaller than anchored checkpoint %d: run the audit",
            head.size,
            latest.size,
        )
    elif latest is not None and latest.size > first.size:
        consistency = ConsistencyLink(
            _anchored(conn, latest), tuple(tree.consistency_proof(first.size, latest.size))
        )
    return ProofBundle(
        index=index,
        event=canonical_bytes(entry.event),  # the event as served, so any edit shows
        leaf_hash=entry.leaf_hash,
        inclusion_proof=tuple(proof),
        checkpoint=_anchored(conn, first),
        consistency=consistency,
    )


def build_public_bundle(conn: Conn, index: int) -> ProofBundle:
    """The bundle of entry ``index`` without its event (see :mod:`ledger.bundle`): for
    anyone, since it reveals hashes, the checkpoint and the anchor only."""
    return replace(build_bundle(conn, index), event=None)
