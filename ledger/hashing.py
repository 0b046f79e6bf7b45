"""RFC 9162 §2.1.1 Merkle tree hashing with SHA-256.

Leaves and interior nodes are domain-separated by a one-byte prefix so that a
leaf can never be confused with a node (second pre-image resistance)::

    leaf hash = SHA-256(0x00 || data)
    node hash = SHA-256(0x01 || left || right)
    MTH({})   = SHA-256("")
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["EMPTY_ROOT", "HASH_SIZE", "LEAF_PREFIX", "NODE_PREFIX", "leaf_hash", "node_hash"]

HASH_SIZE: Final = 32
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"

EMPTY_ROOT: Final[bytes] = hashlib.sha256(b"").digest()
"""Root hash of the empty tree, ``e3b0c442…b855``."""


def leaf_hash(data: bytes) -> bytes:
    """Hash a leaf's input bytes: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child hashes into their parent: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()
