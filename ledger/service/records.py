"""Rows of ``ledger_checkpoints`` and ``ledger_anchors``: small typed queries, no policy.

The policies (when to checkpoint, how to resume an anchor) live in :mod:`ledger.service.jobs` and
:mod:`ledger.service.anchor_job`; this module only reads and writes rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row

from ledger.service.anchor import SignedAnchor

__all__ = [
    "AnchorRow",
    "AnchorStatus",
    "StoredCheckpoint",
    "all_checkpoints",
    "anchor_covering",
    "checkpoint_at",
    "insert_checkpoint",
    "insert_pending_anchor",
    "latest_checkpoint",
    "latest_confirmed_anchor",
    "pending_anchor",
    "recent_anchors",
    "settle_anchor",
]

Conn = psycopg.Connection[Any]
AnchorStatus = Literal["pending", "confirmed", "failed"]


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AnchorRow:
    id: int
    size: int
    root: bytes
    chain_id: int
    contract: str
    sender: str
    nonce: int
    tx_hash: bytes
    raw_tx: bytes
    status: AnchorStatus
    block_number: int | None
    gas_used: int | None
    error: str | None
    created_at: datetime
    settled_at: datetime | None


_CP = "SELECT size, root, note, created_at FROM ledger_checkpoints"
_AN = (
    "SELECT id, size, root, chain_id, contract, sender, nonce, tx_hash, raw_tx, status,"
    " block_number, gas_used, error, created_at, settled_at FROM ledger_anchors"
)


def _checkpoints(conn: Conn, sql: str, params: tuple[Any, ...] = ()) -> list[StoredCheckpoint]:
    with conn.cursor(row_factory=class_row(StoredCheckpoint)) as cur:
        return cur.execute(sql, params).fetchall()


def _anchors(conn: Conn, sql: str, params: tuple[Any, ...] = ()) -> list[AnchorRow]:
    with conn.cursor(row_factory=class_row(AnchorRow)) as cur:
        return cur.execute(sql, params).fetchall()


def latest_checkpoint(conn: Conn) -> StoredCheckpoint | None:
    rows = _checkpoints(conn, f"{_CP} ORDER BY size DESC LIMIT 1")
    return rows[0] if rows else None


def checkpoint_at(conn: Conn, size: int) -> StoredCheckpoint | None:
    rows = _checkpoints(conn, f"{_CP} WHERE size = %s", (size,))
    return rows[0] if rows else None


def all_checkpoints(conn: Conn) -> list[StoredCheckpoint]:
    return _checkpoints(conn, f"{_CP} ORDER BY size")


def insert_checkpoint(conn: Conn, size: int, root: bytes, note: str) -> StoredCheckpoint:
    """Store a signed checkpoint; if one of that size exists already, return that one."""
    conn.execute(
        "INSERT INTO ledger_checkpoints (size, root, note) VALUES (%s, %s, %s)"
        " ON CONFLICT (size) DO NOTHING",
        (size, root, note),
    )
    stored = checkpoint_at(conn, size)
    assert stored is not None  # inserted or already there; rows are never deleted
    return stored


def pending_anchor(conn: Conn, chain_id: int, contract: str) -> AnchorRow | None:
    rows = _anchors(
        conn,
        f"{_AN} WHERE chain_id = %s AND contract = %s AND status = 'pending'",
        (chain_id, contract),
    )
    return rows[0] if rows else None


def latest_confirmed_anchor(
    conn: Conn, chain_id: int | None = None, contract: str | None = None
) -> AnchorRow | None:
    """The confirmed anchor of the largest tree (on one chain/contract if given)."""
    rows = _anchors(
        conn,
        f"{_AN} WHERE status = 'confirmed'"
        " AND (%s::bigint IS NULL OR chain_id = %s) AND (%s::text IS NULL OR contract = %s)"
        " ORDER BY size DESC, id DESC LIMIT 1",
        (chain_id, chain_id, contract, contract),
    )
    return rows[0] if rows else None


def anchor_covering(conn: Conn, index: int) -> AnchorRow | None:
    """The earliest confirmed anchor of a tree that contains leaf ``index``."""
    rows = _anchors(
        conn,
        f"{_AN} WHERE status = 'confirmed' AND size > %s ORDER BY size, id LIMIT 1",
        (index,),
    )
    return rows[0] if rows else None


def recent_anchors(conn: Conn, limit: int = 20) -> list[AnchorRow]:
    return _anchors(conn, f"{_AN} ORDER BY id DESC LIMIT %s", (limit,))


def insert_pending_anchor(
    conn: Conn, signed: SignedAnchor, *, chain_id: int, contract: str, sender: str
) -> AnchorRow:
    """Record a signed anchor transaction before it is broadcast (commit before sending)."""
    rows = _anchors(
        conn,
        "INSERT INTO ledger_anchors"
        " (size, root, chain_id, contract, sender, nonce, tx_hash, raw_tx)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id, size, root, chain_id, contract, sender, nonce, tx_hash, raw_tx, status,"
        " block_number, gas_used, error, created_at, settled_at",
        (
            signed.size,
            signed.root,
            chain_id,
            contract,
            sender,
            signed.nonce,
            signed.tx_hash,
            signed.raw,
        ),
    )
    return rows[0]


def settle_anchor(
    conn: Conn,
    anchor_id: int,
    status: Literal["confirmed", "failed"],
    *,
    tx_hash: bytes | None = None,
    block_number: int | None = None,
    gas_used: int | None = None,
    error: str | None = None,
) -> None:
    """Mark a pending anchor confirmed (in ``tx_hash``, default its own) or failed."""
    conn.execute(
        "UPDATE ledger_anchors SET status = %s, tx_hash = coalesce(%s, tx_hash),"
        " block_number = %s, gas_used = %s, error = %s, settled_at = now()"
        " WHERE id = %s AND status = 'pending'",
        (status, tx_hash, block_number, gas_used, error, anchor_id),
    )
