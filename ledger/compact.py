"""A compact range: the running root of a log from its leaves, in O(log n) memory.

Holds one hash per set bit of the size (the perfect subtrees of the right edge). Used by
the audit job to recompute historical roots while streaming entries, and by the
benchmark as the in-memory baseline of the same hashing the stored tree does.
"""

from __future__ import annotations

from ledger.errors import TreeError
from ledger.hashing import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = ["CompactRange"]


class CompactRange:
    """Leaves appended in order; :meth:`root` is the RFC 9162 MTH of all of them."""

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []  # perfect subtree roots, largest (leftmost) first

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        if len(leaf_hash) != HASH_SIZE:
            raise TreeError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
        h, index = leaf_hash, self._size
        while index & 1:  # each trailing 1 bit closes a perfect subtree
            h = node_hash(self._stack.pop(), h)
            index >>= 1
        self._stack.append(h)
        self._size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h
