"""Pure parts: the compact range, bundle JSON round trip and errors, the audit on rows."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import Checkpoint, InMemoryNodeStore, LogKey, MerkleTree, sign_checkpoint
from ledger.audit import AuditReport, AuditRow, audit_rows, open_checkpoints
from ledger.bundle import AnchoredCheckpoint, AnchorRef, ConsistencyLink, ProofBundle
from ledger.canonical import CanonicalError, canonical_bytes, parse_canonical
from ledger.compact import CompactRange
from ledger.errors import BundleError
from ledger.hashing import leaf_hash


@given(st.integers(min_value=0, max_value=300))
def test_compact_range_root_equals_tree_root(n: int) -> None:
    tree, compact = MerkleTree(InMemoryNodeStore()), CompactRange()
    for i in range(n):
        h = leaf_hash(i.to_bytes(2, "big"))
        tree.append(h)
        compact.append(h)
    assert (compact.size, compact.root()) == (n, tree.root())


def sample_bundle(with_link: bool) -> ProofBundle:
    ref = AnchorRef(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", b"\x01" * 32, 7)
    link = ConsistencyLink(AnchoredCheckpoint("note2\n", ref), (b"\x03" * 32,))
    return ProofBundle(
        index=3,
        event=canonical_bytes({"b": 1, "a": "é"}),
        leaf_hash=b"\x02" * 32,
        inclusion_proof=(b"\x04" * 32, b"\x05" * 32),
        checkpoint=AnchoredCheckpoint("note1\n", ref),
        consistency=link if with_link else None,
    )


@pytest.mark.parametrize("with_link", [True, False])
def test_bundle_round_trip(with_link: bool) -> None:
    bundle = sample_bundle(with_link)
    assert ProofBundle.from_json(bundle.to_json()) == bundle


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="v0"), "bundle format must be"),
        (lambda d: d.update(index=-1), "bundle.index must be a non-negative integer"),
        (lambda d: d.update(leaf_hash="abc"), "leaf_hash is not hex"),
        (lambda d: d["inclusion"].append("00"), r"inclusion\[2\] must be 32 bytes"),
        (lambda d: d["checkpoint"]["anchor"].pop("tx_hash"), "anchor.tx_hash must be a string"),
        (lambda d: d.update(consistency=[]), "consistency must be a JSON object"),
    ],
)
def test_malformed_bundles_are_refused(mutate: object, message: str) -> None:
    data = json.loads(sample_bundle(True).to_json())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(BundleError, match=message):
        ProofBundle.from_dict(data)
    with pytest.raises(BundleError, match="not JSON"):
        ProofBundle.from_json("{")


def test_parse_canonical() -> None:
    assert parse_canonical(b'{"a":1}') == {"a": 1}
    with pytest.raises(CanonicalError, match="not RFC 8785 canonical"):
        parse_canonical(b'{"a": 1}')
    with pytest.raises(CanonicalError, match="must be a JSON object"):
        parse_canonical(b"[1]")


def test_audit_rows_reports_each_kind_with_its_index() -> None:
    key = LogKey.generate("audit.example/log")
    data = [canonical_bytes({"n": i}) for i in range(6)]
    tree = MerkleTree(InMemoryNodeStore())
    tree.append_many(leaf_hash(d) for d in data)
    notes = [
        (4, sign_checkpoint(Checkpoint(key.name, 4, tree.root(4)), key)),
        (6, sign_checkpoint(Checkpoint(key.name, 6, tree.root(6)), key)),
        (5, "garbage\n"),
    ]
    report = AuditReport()
    checkpoints = open_checkpoints(notes, key.verifier(), report)
    assert [c.size for c in checkpoints] == [4, 6]
    assert report.indices("signature") == [5]
    forged = canonical_bytes({"n": 99})
    rows = [
        AuditRow(0, leaf_hash(data[0]), data[0], '{"n": 0}', leaf_hash(data[0])),
        AuditRow(1, leaf_hash(forged), forged, None, leaf_hash(data[1])),  # edited
        AuditRow(2, leaf_hash(data[2]), data[2], '{"n": 7}', leaf_hash(data[2])),  # jsonb edited
        AuditRow(3, None, None, None, leaf_hash(data[3])),  # deleted
        AuditRow(4, leaf_hash(data[4]), data[4], None, leaf_hash(data[4])),
        AuditRow(5, leaf_hash(data[5]), data[5], None, leaf_hash(data[5])),
        AuditRow(6, leaf_hash(forged), forged, None, None),  # inserted past the end
    ]
    roots = {4: tree.root(4), 6: tree.root(6)}
    audit_rows(rows, checkpoints, roots, 6, report)
    kinds = [(f.kind, f.index) for f in report.findings]
    assert kinds == [
        ("signature", 5),
        ("mismatch", 1),
        ("corrupt", 2),
        ("missing", 3),
        ("checkpoint", 4),
        ("extra", 6),
        ("checkpoint", 6),
    ]
    assert "[0, 4)" in report.findings[4].detail
