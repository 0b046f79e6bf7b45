"""Append-only RFC 9162 Merkle tree over stored perfect-subtree hashes.

The store holds only *perfect* subtree hashes, addressed by :class:`NodeID`
``(level, index)``: the root of the complete subtree of ``2**level`` leaves that
starts at leaf ``index * 2**level`` (level 0 holds the leaf hashes). These
nodes never change once written, which is the idea behind the "compact range"
of transparency-dev/merkle and Trillian's storage.

Any subtree ``[begin, end)`` that the RFC 9162 algorithms ask for starts at a
multiple of a power of two at least as large as ``end - begin``, so it is
either one perfect node or splits into at most ``log2(n)`` perfect nodes (one
per set bit of ``end - begin``, largest first) whose hashes combine right to
left into the subtree's hash. Hence:

- appending writes the leaf plus one node per completed subtree (amortised two
  writes per leaf, at most ``log2(n) + 1``) and reads at most ``log2(n)``
  stored nodes, in one batch, per call;
- ``root(size)`` for any historical size reads at most ``log2(size)`` nodes;
- inclusion and consistency proofs (RFC 9162 §2.1.3.1 / §2.1.4.1) read
  ``O(log n)`` nodes, again in one batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ledger.errors import TreeError
from ledger.hashing import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = [
    "AppendResult",
    "InMemoryNodeStore",
    "MerkleTree",
    "NodeID",
    "NodeStore",
    "consistency_ranges",
    "inclusion_ranges",
    "range_nodes",
]


@dataclass(frozen=True, order=True, slots=True)
class NodeID:
    """Address of a perfect subtree: ``2**level`` leaves from leaf ``index * 2**level``."""

    level: int
    index: int


class NodeStore(Protocol):
    """Where the tree keeps its perfect-subtree hashes. Written only by appends."""

    def get_many(self, ids: Sequence[NodeID]) -> list[bytes]:
        """Return the hashes of ``ids`` in order; raise :class:`TreeError` if one is missing."""
        ...

    def put_many(self, nodes: Mapping[NodeID, bytes]) -> None:
        """Store ``nodes`` atomically (all or none)."""
        ...


class InMemoryNodeStore:
    """A :class:`NodeStore` in a dict; for tests, tools and small logs."""

    def __init__(self) -> None:
        self.nodes: dict[NodeID, bytes] = {}

    def get_many(self, ids: Sequence[NodeID]) -> list[bytes]:
        try:
            return [self.nodes[i] for i in ids]
        except KeyError as exc:
            raise TreeError(f"node store holds no node {exc.args[0]}") from None

    def put_many(self, nodes: Mapping[NodeID, bytes]) -> None:
        self.nodes.update(nodes)


@dataclass(frozen=True)
class AppendResult:
    """Outcome of :meth:`MerkleTree.append_many`: where the batch landed and what was written."""

    first_index: int
    size: int
    nodes: Mapping[NodeID, bytes] = field(repr=False)


def range_nodes(begin: int, end: int) -> list[NodeID]:
    """Perfect subtrees covering ``[begin, end)``, largest (leftmost) first.

    ``begin`` must be a multiple of the smallest power of two ``>= end - begin``
    (true of every subtree in the RFC 9162 algorithms).
    """
    ids: list[NodeID] = []
    pos, remaining = begin, end - begin
    while remaining:
        level = remaining.bit_length() - 1
        if pos % (1 << level):
            raise TreeError(f"range [{begin}, {end}) is not aligned to perfect subtrees")
        ids.append(NodeID(level, pos >> level))
        pos += 1 << level
        remaining -= 1 << level
    return ids


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Subtree ranges of PATH(index, D[0:size]) in proof order (RFC 9162 §2.1.3.1)."""
    out: list[tuple[int, int]] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            out.append((begin + k, end))
            end = begin + k
        else:
            out.append((begin, begin + k))
            begin += k
    out.reverse()  # the recursion emits the deepest sibling first
    return out


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Subtree ranges of PROOF(size1, D[0:size2]) in proof order (RFC 9162 §2.1.4.1)."""
    out: list[tuple[int, int]] = []
    begin, end, whole = 0, size2, True
    while size1 != end:
        k = _split(end - begin)
        if size1 <= begin + k:
            out.append((begin + k, end))
            end = begin + k
        else:
            out.append((begin, begin + k))
            begin, whole = begin + k, False
    if not whole:
        out.append((begin, end))
    out.reverse()
    return out


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only Merkle tree whose nodes live in a :class:`NodeStore`.

    ``size`` is the number of leaves already in ``store`` (the store does not
    track it; a persistent store keeps it next to the nodes).
    """

    def __init__(self, store: NodeStore, size: int = 0) -> None:
        if size < 0:
            raise TreeError(f"tree size must be non-negative, got {size}")
        self._store = store
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash; return its index."""
        return self.append_many([leaf_hash]).first_index

    def append_many(self, leaf_hashes: Iterable[bytes]) -> AppendResult:
        """Append leaf hashes in order with one ``get_many`` and one ``put_many`` call."""
        hashes = list(leaf_hashes)
        for i, h in enumerate(hashes):
            if len(h) != HASH_SIZE:
                raise TreeError(f"leaf hash {i} must be {HASH_SIZE} bytes, got {len(h)}")
        first = self._size
        if not hashes:
            return AppendResult(first_index=first, size=first, nodes={})
        frontier = range_nodes(0, first)  # the only old nodes a new subtree can need
        known = dict(zip(frontier, self._store.get_many(frontier), strict=True))
        new: dict[NodeID, bytes] = {}
        for offset, leaf in enumerate(hashes):
            level, index, h = 0, first + offset, leaf
            new[NodeID(level, index)] = h
            while index & 1:
                left = NodeID(level, index - 1)
                h = node_hash(new[left] if left in new else known[left], h)
                level, index = level + 1, index >> 1
                new[NodeID(level, index)] = h
        self._store.put_many(new)
        self._size = first + len(hashes)
        return AppendResult(first_index=first, size=self._size, nodes=new)

    def leaf_hash(self, index: int) -> bytes:
        self._check_index(index, self._size)
        return self._store.get_many([NodeID(0, index)])[0]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all of them)."""
        size = self._size if size is None else size
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        return self._hash_ranges([(0, size)])[0]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 §2.1.3.1)."""
        size = self._size if size is None else size
        self._check_size(size)
        self._check_index(index, size)
        return self._hash_ranges(inclusion_ranges(index, size))

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Proof that the tree of ``size2`` extends the tree of ``size1`` (RFC 9162 §2.1.4.1)."""
        size2 = self._size if size2 is None else size2
        self._check_size(size2)
        if not 0 < size1 <= size2:
            raise TreeError(f"consistency proof needs 0 < size1 <= size2, got {size1} and {size2}")
        return self._hash_ranges(consistency_ranges(size1, size2))

    def _hash_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """Hash each subtree range from its perfect nodes, reading them in one batch."""
        groups = [range_nodes(b, e) for b, e in ranges]
        ids = list(dict.fromkeys(i for g in groups for i in g))
        by_id = dict(zip(ids, self._store.get_many(ids), strict=True))
        out = []
        for group in groups:
            h = by_id[group[-1]]
            for node in reversed(group[:-1]):
                h = node_hash(by_id[node], h)
            out.append(h)
        return out

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise TreeError(f"size must be between 0 and the tree size {self._size}, got {size}")

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if not 0 <= index < size:
            raise TreeError(f"leaf index must be in [0, {size}), got {index}")
