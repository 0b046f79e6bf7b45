"""The audit: recompute the log from its stored entries and compare with what was signed.

Pure: :func:`audit_rows` takes the stored rows (entries joined with the tree's level-0
nodes, in index order), the signed checkpoint notes, and the roots the stored tree gives
at each checkpoint size, and returns every discrepancy with the index it concerns:

- ``corrupt``   an entry's canonical bytes do not hash to its leaf hash, or its jsonb
                event is not those bytes (edited in place);
- ``mismatch``  an entry differs from the tree's leaf at its index (edited consistently,
                reordered, or shifted by an insertion);
- ``missing``   the tree has a leaf at an index with no entry (deleted row);
- ``extra``     an entry at an index the tree does not have (inserted row);
- ``checkpoint`` the root recomputed from the entries, or the stored tree's root, differs
                from a signed checkpoint (reported with the range of indices it covers);
- ``signature`` a stored checkpoint note does not verify with the log's key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ledger.canonical import CanonicalError, canonical_bytes
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.compact import CompactRange
from ledger.errors import CheckpointError
from ledger.hashing import leaf_hash
from ledger.note import VerifierKey

__all__ = ["AuditReport", "AuditRow", "Finding", "FindingKind", "audit_rows", "open_checkpoints"]

FindingKind = Literal["corrupt", "mismatch", "missing", "extra", "checkpoint", "signature"]


@dataclass(frozen=True, slots=True)
class AuditRow:
    """An index with its entry (if any) and its tree leaf (if any)."""

    index: int
    leaf_hash: bytes | None  # None: no entry row at this index
    canonical: bytes | None
    event_json: str | None
    tree_leaf: bytes | None  # None: no level-0 node at this index


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    index: int  # the entry index; for checkpoints, the checkpoint's size
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.index}: {self.detail}"


@dataclass
class AuditReport:
    entries: int = 0
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def indices(self, kind: FindingKind | None = None) -> list[int]:
        return [f.index for f in self.findings if kind is None or f.kind == kind]


def open_checkpoints(
    notes: Iterable[tuple[int, str]], verifier: VerifierKey, report: AuditReport
) -> list[Checkpoint]:
    """Verify stored notes ``(size, note)``; bad ones become ``signature`` findings."""
    good = []
    for size, note in notes:
        try:
            checkpoint = open_checkpoint(note, verifier, origin=verifier.name)
        except CheckpointError as exc:
            report.findings.append(Finding("signature", size, str(exc)))
            continue
        if checkpoint.size != size:
            report.findings.append(
                Finding("signature", size, f"row says size {size}, note says {checkpoint.size}")
            )
            continue
        good.append(checkpoint)
    return sorted(good, key=lambda c: c.size)


def _check_row(row: AuditRow, tree_size: int) -> Finding | None:
    if row.leaf_hash is None or row.canonical is None:
        return Finding("missing", row.index, "the tree has this leaf but no entry row holds it")
    if row.tree_leaf is None:
        what = "beyond the tree" if row.index >= tree_size else "with no tree leaf"
        return Finding("extra", row.index, f"entry row {what} (size {tree_size})")
    problem = _content_problem(row.leaf_hash, row.canonical, row.event_json)
    if problem is not None:
        return Finding("corrupt", row.index, problem)
    if row.tree_leaf != row.leaf_hash:
        return Finding("mismatch", row.index, "entry differs from the tree's leaf at this index")
    return None


def _content_problem(stored_leaf: bytes, canonical: bytes, event_json: str | None) -> str | None:
    """Why an entry's own columns disagree with each other, or ``None``."""
    if leaf_hash(canonical) != stored_leaf:
        return "canonical bytes do not hash to the stored leaf hash"
    if event_json is None:
        return None
    try:
        again = canonical_bytes(json.loads(event_json))
    except (CanonicalError, ValueError) as exc:
        return f"stored event is not canonicalisable: {exc}"
    return None if again == canonical else "stored event differs from its canonical bytes"


def audit_rows(
    rows: Iterable[AuditRow],
    checkpoints: Sequence[Checkpoint],
    tree_roots: Mapping[int, bytes | None],
    tree_size: int,
    report: AuditReport,
) -> AuditReport:
    """Recompute leaves and roots from ``rows`` (index order) and compare (see module doc).

    ``tree_roots`` maps each checkpoint size to the stored tree's root at that size
    (``None`` if the stored tree is smaller).
    """
    pending = list(checkpoints)
    compact = CompactRange()
    previous = 0

    def close_checkpoints() -> None:
        nonlocal previous
        while pending and pending[0].size == compact.size:
            cp = pending.pop(0)
            report.checkpoints += 1
            if compact.root() != cp.root:
                report.findings.append(
                    Finding(
                        "checkpoint",
                        cp.size,
                        f"root recomputed from entries differs from the signed root; "
                        f"the change is in entries [{previous}, {cp.size})",
                    )
                )
            if tree_roots.get(cp.size) != cp.root:
                report.findings.append(
                    Finding(
                        "checkpoint", cp.size, "the stored tree's root differs from the signed root"
                    )
                )
            previous = cp.size

    for row in rows:
        finding = _check_row(row, tree_size)
        if finding is not None:
            report.findings.append(finding)
        if row.canonical is None:
            continue
        report.entries += 1
        compact.append(leaf_hash(row.canonical))
        close_checkpoints()
    for cp in pending:
        report.checkpoints += 1
        report.findings.append(
            Finding(
                "checkpoint", cp.size, f"signed for {cp.size} entries, only {compact.size} stored"
            )
        )
    return report
