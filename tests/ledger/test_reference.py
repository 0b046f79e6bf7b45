"""Our tree and verifiers against a literal transcription of RFC 9162 §2.1.

The reference below is the RFC's recursive definitions of MTH, PATH and PROOF
(§2.1.1, §2.1.3.1, §2.1.4.1), written with ``hashlib`` only, so it shares no
code with ``ledger``. Like transparency-dev/merkle's ``testonly/reference_test.go``.
"""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import (
    EMPTY_ROOT,
    InMemoryNodeStore,
    MerkleTree,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300
_settings = settings(max_examples=60, deadline=None, database=None)


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


leaves_st = st.lists(st.binary(max_size=8), min_size=1, max_size=MAX_SIZE)


@st.composite
def splits(draw: st.DrawFn, n: int) -> list[int]:
    """Cut points 0 = c0 <= ... <= ck = n: append leaves[c_i:c_i+1] as one batch each."""
    cuts = draw(st.lists(st.integers(0, n), max_size=8))
    return sorted({0, n, *cuts})


def _build(leaves: list[bytes], cuts: list[int]) -> tuple[MerkleTree, InMemoryNodeStore]:
    store = InMemoryNodeStore()
    tree = MerkleTree(store)
    for a, b in itertools.pairwise(cuts):
        result = tree.append_many(leaf_hash(x) for x in leaves[a:b])
        assert result.first_index == a
        assert result.size == b
    return tree, store


@_settings
@given(st.data())
def test_tree_matches_reference(data: st.DataObject) -> None:
    leaves = data.draw(leaves_st)
    n = len(leaves)
    tree, _ = _build(leaves, data.draw(splits(n), label="cuts"))
    size = data.draw(st.integers(1, n), label="size")
    d = leaves[:size]
    root = tree.root(size)
    assert root == ref_mth(d)

    index = data.draw(st.integers(0, size - 1), label="index")
    path = tree.inclusion_proof(index, size)
    assert path == ref_path(index, d)
    verify_inclusion(leaf_hash(leaves[index]), index, size, path, root)

    size1 = data.draw(st.integers(1, size), label="size1")
    proof = tree.consistency_proof(size1, size)
    assert proof == ref_proof(size1, d)
    verify_consistency(size1, size, proof, tree.root(size1), root)


@_settings
@given(st.data())
def test_batch_splits_write_the_same_nodes(data: st.DataObject) -> None:
    leaves = data.draw(leaves_st)
    n = len(leaves)
    _, batched = _build(leaves, data.draw(splits(n), label="cuts"))
    _, single = _build(leaves, list(range(n + 1)))
    assert batched.nodes == single.nodes
    # Exactly the perfect subtrees: 2n - popcount(n) nodes.
    assert len(single.nodes) == 2 * n - n.bit_count()


def _flip(h: bytes, bit: int) -> bytes:
    out = bytearray(h)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@_settings
@given(st.data())
def test_mutated_inclusion_proofs_fail(data: st.DataObject) -> None:
    leaves = data.draw(st.lists(st.binary(max_size=4), min_size=2, max_size=MAX_SIZE))
    tree, _ = _build(leaves, [0, len(leaves)])
    size = data.draw(st.integers(2, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    path, root, leaf = tree.inclusion_proof(index, size), tree.root(size), tree.leaf_hash(index)
    bit = data.draw(st.integers(0, 255))
    pos = data.draw(st.integers(0, len(path) - 1))
    mutated = [*path[:pos], _flip(path[pos], bit), *path[pos + 1 :]]
    bad_cases = [
        (leaf, index, size, mutated, root),
        (leaf, index, size, path, _flip(root, bit)),
        (_flip(leaf, bit), index, size, path, root),
        (leaf, index, size, path[:-1], root),
        (leaf, index, size, [*path, root], root),
    ]
    for case in bad_cases:
        with pytest.raises(ProofError):
            verify_inclusion(*case)


@_settings
@given(st.data())
def test_mutated_consistency_proofs_fail(data: st.DataObject) -> None:
    leaves = data.draw(st.lists(st.binary(max_size=4), min_size=2, max_size=MAX_SIZE))
    tree, _ = _build(leaves, [0, len(leaves)])
    size2 = data.draw(st.integers(2, len(leaves)))
    size1 = data.draw(st.integers(1, size2 - 1))
    proof, root1, root2 = tree.consistency_proof(size1, size2), tree.root(size1), tree.root(size2)
    bit = data.draw(st.integers(0, 255))
    pos = data.draw(st.integers(0, len(proof) - 1))
    mutated = [*proof[:pos], _flip(proof[pos], bit), *proof[pos + 1 :]]
    bad_cases = [
        (size1, size2, mutated, root1, root2),
        (size1, size2, proof, _flip(root1, bit), root2),
        (size1, size2, proof, root1, _flip(root2, bit)),
        (size1, size2, proof[:-1], root1, root2),
        (size1, size2, [*proof, root2], root1, root2),
        (size1, size2, proof, root2, root1),
    ]
    for case in bad_cases:
        with pytest.raises(ProofError):
            verify_consistency(*case)


def test_empty_tree_root() -> None:
    tree = MerkleTree(InMemoryNodeStore())
    assert tree.root() == EMPTY_ROOT == ref_mth([])


def test_every_small_tree_exhaustively() -> None:
    leaves = [bytes([i]) for i in range(34)]
    tree, _ = _build(leaves, [0, len(leaves)])
    for size in range(1, len(leaves) + 1):
        d = leaves[:size]
        assert tree.root(size) == ref_mth(d)
        for i in range(size):
            assert tree.inclusion_proof(i, size) == ref_path(i, d)
        for m in range(1, size + 1):
            assert tree.consistency_proof(m, size) == ref_proof(m, d)
