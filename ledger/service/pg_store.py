"""The log in PostgreSQL: entries, perfect-subtree nodes and the tree head.

Tables (``cloud/migrations/0003_ledger.sql``): ``ledger_entries`` (one row per leaf: index,
leaf hash, the RFC 8785 canonical bytes that were hashed, the event as jsonb),
``ledger_nodes`` (``(level, idx) -> hash`` of every perfect subtree, written once) and
``ledger_head`` (one row: size and root).

Appends are batched: one transaction writes the entries with COPY, the new nodes with
COPY and the new head. Concurrent appenders are serialised by ``SELECT ... FOR UPDATE``
on the head row, taken only after the leaf hashes are computed, so the lock is held for
the writes alone. Proofs read ``O(log n)`` stored nodes in one query; nothing is ever
recomputed from the leaves (only the audit job does that).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.pq import TransactionStatus

from ledger.canonical import canonical_bytes
from ledger.errors import StoreError, TreeError
from ledger.hashing import leaf_hash
from ledger.tree import AppendResult, MerkleTree, NodeID

__all__ = ["Entry", "Head", "PgLog", "PgNodeStore"]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


class PgNodeStore:
    """A :class:`~ledger.tree.NodeStore` over ``ledger_nodes`` on one connection."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def get_many(self, ids: Sequence[NodeID]) -> list[bytes]:
        if not ids:
            return []
        try:
            rows = self._conn.execute(
                "SELECT n.hash FROM unnest(%s::smallint[], %s::bigint[]) WITH ORDINALITY"
                " AS q(level, idx, ord) LEFT JOIN ledger_nodes n USING (level, idx)"
                " ORDER BY q.ord",
                ([i.level for i in ids], [i.index for i in ids]),
            ).fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"reading {len(ids)} tree nodes failed: {exc}") from exc
        out: list[bytes] = []
        for node, (value,) in zip(ids, rows, strict=True):
            if value is None:
                raise TreeError(f"node store holds no node {node}")
            out.append(bytes(value))
        return out

    def put_many(self, nodes: Mapping[NodeID, bytes]) -> None:
        """COPY ``nodes`` in; atomic when called inside a transaction (as appends do)."""
        row = struct.Struct("!hihiqi32s").pack  # 3 fields: int2 level, int8 idx, bytea hash
        data = b"".join(row(3, 2, n.level, 8, n.index, 32, h) for n, h in nodes.items())
        try:
            _copy_binary(self._conn, "ledger_nodes (level, idx, hash)", data)
        except psycopg.errors.UniqueViolation as exc:
            raise StoreError(f"a tree node was already stored (log corrupted?): {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"writing {len(nodes)} tree nodes failed: {exc}") from exc


_COPY_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER: Final = struct.pack("!h", -1)


def _copy_binary(conn: Conn, target: str, rows: bytes) -> None:
    """COPY pre-encoded binary tuples (PostgreSQL binary COPY format) into ``target``.

    Encoding rows with :mod:`struct` in one pass is several times cheaper than a
    ``write_row`` call per row, and appends are CPU-bound on the Python side.
    """
    with conn.cursor().copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(_COPY_HEADER)
        copy.write(rows)
        copy.write(_COPY_TRAILER)


@dataclass(frozen=True, slots=True)
class Head:
    """The stored tree head: how many leaves and their root."""

    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored leaf."""

    index: int
    leaf_hash: bytes
    canonical: bytes
    event: dict[str, Any]  # the jsonb column, as the database holds it now
    appended_at: datetime


class PgLog:
    """Append events to the log and read proofs from it, on one psycopg connection.

    ``append`` commits on its own when called outside a transaction; inside a caller's
    transaction it becomes part of it (and holds the head lock until the caller commits),
    so an ingest can store custody events and their leaves atomically.
    """

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self._store = PgNodeStore(conn)

    @property
    def conn(self) -> Conn:
        return self._conn

    def head(self) -> Head:
        try:
            row = self._conn.execute("SELECT size, root FROM ledger_head").fetchone()
        except psycopg.Error as exc:
            raise StoreError(f"reading the tree head failed: {exc}") from exc
        if row is None:
            raise StoreError("ledger_head has no row: run the 0003_ledger migration")
        return Head(int(row[0]), bytes(row[1]))

    def tree(self, size: int | None = None) -> MerkleTree:
        """A tree view over the stored nodes at ``size`` (default: the current head)."""
        return MerkleTree(self._store, self.head().size if size is None else size)

    def append(self, events: Sequence[Mapping[str, Any]]) -> AppendResult:
        """Canonicalise ``events`` (RFC 8785) and append them in order, in one transaction."""
        return self.append_canonical([canonical_bytes(e) for e in events])

    def append_canonical(self, canonicals: Sequence[bytes]) -> AppendResult:
        """Append already-canonical event bytes in order, in one transaction."""
        hashes = [leaf_hash(c) for c in canonicals]  # before the lock: keep it short
        if not hashes:
            size = self.head().size
            return AppendResult(first_index=size, size=size, nodes={})
        outer = self._conn.info.transaction_status != TransactionStatus.IDLE
        try:
            with self._conn.transaction():
                row = self._conn.execute(
                    "SELECT size FROM ledger_head WHERE id FOR UPDATE"
                ).fetchone()
                if row is None:
                    raise StoreError("ledger_head has no row: run the 0003_ledger migration")
                tree = MerkleTree(self._store, int(row[0]))
                result = tree.append_many(hashes)
                self._copy_entries(result.first_index, hashes, canonicals)
                self._conn.execute(
                    "UPDATE ledger_head SET size = %s, root = %s, updated_at = now() WHERE id",
                    (result.size, tree.root()),
                )
        except psycopg.Error as exc:
            raise StoreError(f"appending {len(hashes)} entries failed: {exc}") from exc
        _logger.debug(
            "appended %d entries at %d (tree size %d%s)",
            len(hashes),
            result.first_index,
            result.size,
            ", in caller's transaction" if outer else "",
        )
        return result

    def _copy_entries(self, first: int, hashes: list[bytes], canonicals: Sequence[bytes]) -> None:
        # 4 fields: int8 idx, bytea leaf_hash, bytea canonical, jsonb event (version 1 + text)
        head = struct.Struct("!hiqi32s").pack
        data = b"".join(
            head(4, 8, first + offset, 32, h)
            + struct.pack("!i", len(c))
            + c
            + struct.pack("!ib", len(c) + 1, 1)
            + c
            for offset, (h, c) in enumerate(zip(hashes, canonicals, strict=True))
        )
        _copy_binary(self._conn, "ledger_entries (idx, leaf_hash, canonical, event)", data)

    def entry(self, index: int) -> Entry:
        row = self._conn.execute(
            "SELECT idx, leaf_hash, canonical, event, appended_at FROM ledger_entries"
            " WHERE idx = %s",
            (index,),
        ).fetchone()
        if row is None:
            raise TreeError(f"the log has no entry {index}")
        return Entry(int(row[0]), bytes(row[1]), bytes(row[2]), row[3], row[4])

    def index_of(self, leaf: bytes, size: int | None = None) -> int:
        """Lowest index whose *tree* leaf (level-0 node) is ``leaf``, below ``size``."""
        size = self.head().size if size is None else size
        row = self._conn.execute(
            "SELECT min(idx) FROM ledger_entries WHERE leaf_hash = %s AND idx < %s",
            (leaf, size),
        ).fetchone()
        if row is None or row[0] is None:
            raise TreeError(f"no entry with leaf hash {leaf.hex()} in the first {size} leaves")
        index = int(row[0])
        if self._store.get_many([NodeID(0, index)])[0] != leaf:
            raise StoreError(f"entry {index} disagrees with the tree's leaf {index}: run the audit")
        return index
