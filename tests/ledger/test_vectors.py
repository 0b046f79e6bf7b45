"""RFC 6962 / RFC 9162 proof vectors from transparency-dev/merkle (shared/standards/merkle)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger import (
    InMemoryNodeStore,
    LedgerError,
    MerkleTree,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.ledger._data import MERKLE_VECTORS, RFC6962_LEAVES

_ABSENT = f"standards vectors not found at {MERKLE_VECTORS} (expected the repo's sibling shared/)"


def _vector_params(kind: str) -> list[Any]:
    folder = MERKLE_VECTORS / kind
    if not folder.is_dir():
        return [pytest.param(None, id=f"{kind}-absent", marks=pytest.mark.skip(reason=_ABSENT))]
    files = sorted(folder.rglob("*.json"))
    return [pytest.param(f, id=f.relative_to(MERKLE_VECTORS).as_posix()) for f in files]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def _proof(vector: dict[str, Any]) -> list[bytes]:
    return [_b(p) for p in vector["proof"] or []]


@pytest.fixture(scope="module")
def rfc_tree() -> MerkleTree:
    tree = MerkleTree(InMemoryNodeStore())
    tree.append_many(leaf_hash(d) for d in RFC6962_LEAVES)
    return tree


def _over_rfc_tree(path: Path) -> bool:
    """The numbered vector folders' happy paths are proofs over the RFC 6962 test tree."""
    return path.name == "happy-path.json" and path.parent.name.isdigit()


@pytest.mark.parametrize("path", _vector_params("inclusion"))
def test_inclusion_vector(path: Path, rfc_tree: MerkleTree) -> None:
    v = _load(path)
    args = (_b(v["leafHash"]), v["leafIdx"], v["treeSize"], _proof(v), _b(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
        return
    verify_inclusion(*args)
    # A happy path over the RFC 6962 test tree must also be what our tree generates.
    if _over_rfc_tree(path):
        assert rfc_tree.root(v["treeSize"]) == _b(v["root"])
        assert rfc_tree.inclusion_proof(v["leafIdx"], v["treeSize"]) == _proof(v)


@pytest.mark.parametrize("path", _vector_params("consistency"))
def test_consistency_vector(path: Path, rfc_tree: MerkleTree) -> None:
    v = _load(path)
    args = (v["size1"], v["size2"], _proof(v), _b(v["root1"]), _b(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
        return
    verify_consistency(*args)
    if _over_rfc_tree(path):
        assert rfc_tree.root(v["size2"]) == _b(v["root2"])
        assert rfc_tree.root(v["size1"]) == _b(v["root1"])
        assert rfc_tree.consistency_proof(v["size1"], v["size2"]) == _proof(v)


def test_vector_counts() -> None:
    if not MERKLE_VECTORS.is_dir():
        pytest.skip(_ABSENT)
    assert len(list((MERKLE_VECTORS / "inclusion").rglob("*.json"))) == 98
    assert len(list((MERKLE_VECTORS / "consistency").rglob("*.json"))) == 98


def test_errors_are_ledger_errors() -> None:
    assert issubclass(ProofError, LedgerError)


def test_rfc6962_eight_leaf_root(rfc_tree: MerkleTree) -> None:
    # From shared/standards/README.md: the 8-leaf tree of the vectors' leaf inputs.
    want = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert rfc_tree.root().hex() == want
