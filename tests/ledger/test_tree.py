"""MerkleTree behaviour beyond the reference: errors, store contract, and O(log n) reads."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pytest

from ledger import (
    HASH_SIZE,
    InMemoryNodeStore,
    MerkleTree,
    NodeID,
    TreeError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)


class CountingStore:
    """A NodeStore that counts the node hashes read and the batches issued."""

    def __init__(self) -> None:
        self.inner = InMemoryNodeStore()
        self.reads = 0
        self.batches = 0

    def get_many(self, ids: Sequence[NodeID]) -> list[bytes]:
        self.reads += len(ids)
        self.batches += 1
        return self.inner.get_many(ids)

    def put_many(self, nodes: Mapping[NodeID, bytes]) -> None:
        self.inner.put_many(nodes)

    def reset(self) -> None:
        self.reads = self.batches = 0


N = 2**16 + 3


@pytest.fixture(scope="module")
def big() -> tuple[MerkleTree, CountingStore]:
    store = CountingStore()
    tree = MerkleTree(store)
    tree.append_many(leaf_hash(i.to_bytes(4, "big")) for i in range(N))
    return tree, store


def test_proofs_read_logarithmically_many_nodes(big: tuple[MerkleTree, CountingStore]) -> None:
    tree, store = big
    bound = 2 * math.ceil(math.log2(N))  # one path plus one decomposed right edge
    for size in (N, N - 1, N - 2, 2**16, 2**16 - 1, 40_000, 12_345):
        store.reset()
        root = tree.root(size)
        assert store.reads <= math.ceil(math.log2(size))
        for index in (0, 1, size // 2, size - 2, size - 1):
            store.reset()
            proof = tree.inclusion_proof(index, size)
            assert store.reads <= bound
            assert store.batches == 1
            verify_inclusion(leaf_hash(index.to_bytes(4, "big")), index, size, proof, root)
        for size1 in (1, 2, 3, size // 3, size - 1, size):
            store.reset()
            proof = tree.consistency_proof(size1, size)
            assert store.reads <= bound
            verify_consistency(size1, size, proof, tree.root(size1), root)


def test_append_reads_only_the_right_frontier(big: tuple[MerkleTree, CountingStore]) -> None:
    tree, store = big
    store.reset()
    result = tree.append(leaf_hash(b"one more"))
    assert result == N
    assert store.reads == N.bit_count()  # the perfect subtrees covering [0, N)
    assert store.batches == 1


def test_append_result_lists_the_new_nodes() -> None:
    tree = MerkleTree(InMemoryNodeStore())
    tree.append_many([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])
    result = tree.append_many([leaf_hash(b"d")])
    assert result.first_index == 3
    assert result.size == 4
    assert set(result.nodes) == {NodeID(0, 3), NodeID(1, 1), NodeID(2, 0)}
    assert result.nodes[NodeID(2, 0)] == tree.root()


def test_reopened_tree_continues_from_stored_nodes() -> None:
    store = InMemoryNodeStore()
    first = MerkleTree(store)
    first.append_many(leaf_hash(bytes([i])) for i in range(11))
    reopened = MerkleTree(store, size=11)
    reopened.append_many(leaf_hash(bytes([i])) for i in range(11, 20))
    straight = MerkleTree(InMemoryNodeStore())
    straight.append_many(leaf_hash(bytes([i])) for i in range(20))
    assert reopened.root() == straight.root()
    assert reopened.root(11) == first.root()


def test_empty_batch_writes_nothing() -> None:
    store = CountingStore()
    tree = MerkleTree(store)
    result = tree.append_many([])
    assert (result.first_index, result.size, dict(result.nodes)) == (0, 0, {})
    assert store.inner.nodes == {}
    assert store.batches == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.root(6), "size must be between 0 and the tree size 5, got 6"),
        (lambda t: t.root(-1), "got -1"),
        (lambda t: t.inclusion_proof(5), r"leaf index must be in \[0, 5\), got 5"),
        (lambda t: t.inclusion_proof(0, 0), r"leaf index must be in \[0, 0\)"),
        (lambda t: t.inclusion_proof(1, 9), "got 9"),
        (lambda t: t.consistency_proof(0, 5), "0 < size1 <= size2, got 0 and 5"),
        (lambda t: t.consistency_proof(4, 3), "got 4 and 3"),
        (lambda t: t.leaf_hash(5), "got 5"),
        (lambda t: t.append(b"short"), f"must be {HASH_SIZE} bytes, got 5"),
    ],
)
def test_bad_requests_raise_tree_error(call: object, message: str) -> None:
    tree = MerkleTree(InMemoryNodeStore())
    tree.append_many(leaf_hash(bytes([i])) for i in range(5))
    with pytest.raises(TreeError, match=message):
        call(tree)  # type: ignore[operator]
    assert tree.size == 5


def test_missing_store_node_is_a_tree_error() -> None:
    tree = MerkleTree(InMemoryNodeStore(), size=3)
    with pytest.raises(TreeError, match="holds no node"):
        tree.root()


def test_negative_size_rejected() -> None:
    with pytest.raises(TreeError):
        MerkleTree(InMemoryNodeStore(), size=-1)
