"""Verification of RFC 9162 inclusion and consistency proofs.

Follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by step,
with the edge rules of the shared test vectors (``shared/standards/merkle``):

- a leaf hash must be exactly :data:`~ledger.hashing.HASH_SIZE` bytes, and so
  must every proof element;
- ``index`` must be below ``tree_size``;
- the proof must have exactly the length the sizes imply (checked up front, so
  the error says how many hashes were expected and how many were given);
- a consistency proof from size 0 is an error (it proves nothing), even to size 0;
- ``size1 == size2`` is valid only with an empty proof and equal roots.

Every failure raises :class:`~ledger.errors.ProofError`.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from ledger.errors import ProofError
from ledger.hashing import HASH_SIZE, node_hash

__all__ = [
    "consistency_proof_size",
    "inclusion_proof_size",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]


def inclusion_proof_size(index: int, tree_size: int) -> int:
    """Number of hashes in the inclusion proof of leaf ``index`` in a tree of ``tree_size``."""
    _check_index(index, tree_size)
    inner = (index ^ (tree_size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner + border


def consistency_proof_size(size1: int, size2: int) -> int:
    """Number of hashes in the consistency proof from ``size1`` to ``size2`` (``0 < size1``)."""
    _check_sizes(size1, size2)
    if size1 == size2:
        return 0
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length() - shift
    border = ((size1 - 1) >> (inner + shift)).bit_count()
    seed = 0 if size1 == 1 << shift else 1  # root1 is implied when size1 is a power of two
    return seed + inner + border


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes:
    """Compute the root ``proof`` implies for ``leaf_hash`` at ``index`` (RFC 9162 §2.1.3.2)."""
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
    _check_proof_shape(proof, inclusion_proof_size(index, tree_size), "inclusion")
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:  # unreachable after the length check; kept as RFC step 3.1
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    Returns ``None`` on success; raises :class:`ProofError` otherwise.
    """
    computed = root_from_inclusion_proof(leaf_hash, index, tree_size, proof)
    if not hmac.compare_digest(computed, root):
        raise ProofError(
            f"inclusion proof for leaf {index} of {tree_size} gives root {computed.hex()}, "
            f"expected {root.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the tree of ``size1`` with ``root1``.

    Returns ``None`` on success; raises :class:`ProofError` otherwise (RFC 9162 §2.1.4.2).
    """
    expected = consistency_proof_size(size1, size2)
    if size1 == size2:
        _verify_same_size(size1, proof, root1, root2)
        return
    _check_proof_shape(proof, expected, "consistency")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # step 1: size1 is an exact power of two
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:  # step 3
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # unreachable after the length check; kept as RFC step 6.1
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if not hmac.compare_digest(fr, root1):
        raise ProofError(
            f"consistency proof {size1}->{size2} gives old root {fr.hex()}, expected {root1.hex()}"
        )
    if not hmac.compare_digest(sr, root2):
        raise ProofError(
            f"consistency proof {size1}->{size2} gives new root {sr.hex()}, expected {root2.hex()}"
        )


def _verify_same_size(size: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Equal sizes: only an empty proof between equal roots is consistent."""
    if proof:
        raise ProofError(f"sizes are equal ({size}): expected an empty proof, got {len(proof)}")
    if not hmac.compare_digest(root1, root2):
        raise ProofError(
            f"sizes are equal ({size}) but roots differ: {root1.hex()} != {root2.hex()}"
        )


def _check_index(index: int, tree_size: int) -> None:
    if tree_size < 0 or index < 0:
        raise ProofError(f"index and size must be non-negative, got index={index} size={tree_size}")
    if index >= tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")


def _check_sizes(size1: int, size2: int) -> None:
    if size1 < 0 or size2 < 0:
        raise ProofError(f"sizes must be non-negative, got size1={size1} size2={size2}")
    if size1 > size2:
        raise ProofError(f"size1 ({size1}) must not exceed size2 ({size2})")
    if size1 == 0:
        raise ProofError(f"a consistency proof from size 0 proves nothing (size2={size2})")


def _check_proof_shape(proof: Sequence[bytes], expected: int, kind: str) -> None:
    if len(proof) != expected:
        raise ProofError(f"{kind} proof must have {expected} hashes, got {len(proof)}")
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise ProofError(f"{kind} proof hash {i} must be {HASH_SIZE} bytes, got {len(p)}")
