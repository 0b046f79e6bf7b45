"""The independent verifier: check a proof bundle trusting only the chain and the log key.

Every check is reported, passed or failed, with what was expected and what was found;
a check whose inputs failed an earlier check is reported as failed with the reason, so
the output always says precisely what is wrong. Nothing here touches our database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.bundle import AnchoredCheckpoint, AnchorRef, ProofBundle
from ledger.canonical import CanonicalError, parse_canonical
from ledger.chain import AnchorReceipt, ChainReader
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import AnchorError, CheckpointError, ProofError
from ledger.hashing import leaf_hash
from ledger.note import VerifierKey
from ledger.proofs import verify_consistency, verify_inclusion

__all__ = ["Check", "VerificationReport", "verify_bundle"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


@dataclass
class VerificationReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok


def verify_bundle(
    bundle: ProofBundle,
    verifier: VerifierKey,
    chain: ChainReader,
    *,
    contract: str | None = None,
) -> VerificationReport:
    """Check ``bundle`` (see :mod:`ledger.bundle`); ``contract`` pins the anchor contract."""
    report = VerificationReport()
    checkpoint = _open(report, "checkpoint signature", bundle.checkpoint, verifier)
    _check_event(report, bundle)
    computed = bundle.leaf_hash if bundle.event is None else leaf_hash(bundle.event)
    if checkpoint is None:
        report.add("inclusion", False, "not checked: the checkpoint is not trusted")
    else:
        try:
            verify_inclusion(
                computed, bundle.index, checkpoint.size, bundle.inclusion_proof, checkpoint.root
            )
            report.add(
                "inclusion",
                True,
                f"entry {bundle.index} is in the tree of size {checkpoint.size}",
            )
        except ProofError as exc:
            report.add("inclusion", False, str(exc))
    _check_anchor(report, "anchor", bundle.checkpoint, checkpoint, chain, contract)
    link = bundle.consistency
    if link is not None:
        later = _open(report, "later checkpoint signature", link.checkpoint, verifier)
        if checkpoint is None or later is None:
            report.add("consistency", False, "not checked: a checkpoint is not trusted")
        else:
            try:
                verify_consistency(
                    checkpoint.size, later.size, link.proof, checkpoint.root, later.root
                )
                report.add("consistency", True, f"tree {later.size} extends tree {checkpoint.size}")
            except ProofError as exc:
                report.add("consistency", False, str(exc))
        _check_anchor(report, "later anchor", link.checkpoint, later, chain, contract)
    return report


def _open(
    report: VerificationReport, name: str, anchored: AnchoredCheckpoint, verifier: VerifierKey
) -> Checkpoint | None:
    try:
        checkpoint = open_checkpoint(anchored.note, verifier, origin=verifier.name)
    except CheckpointError as exc:
        report.add(name, False, f"{exc} (log key {verifier.to_vkey()})")
        return None
    report.add(name, True, f"{checkpoint.origin} size {checkpoint.size} signed by the log key")
    return checkpoint


def _check_event(report: VerificationReport, bundle: ProofBundle) -> None:
    if bundle.event is None:
        report.add(
            "event",
            True,
            "withheld (a public bundle): the entry's leaf hash is proven, not its content",
        )
        return
    try:
        parse_canonical(bundle.event)
        report.add("event", True, "RFC 8785 canonical JSON object")
    except CanonicalError as exc:
        report.add("event", False, str(exc))
    computed = leaf_hash(bundle.event)
    if computed == bundle.leaf_hash:
        report.add("leaf hash", True, f"SHA-256(0x00 || event) = {computed.hex()}")
    else:
        report.add(
            "leaf hash",
            False,
            f"SHA-256(0x00 || event) = {computed.hex()}, bundle says {bundle.leaf_hash.hex()}",
        )


def _check_anchor(
    report: VerificationReport,
    name: str,
    anchored: AnchoredCheckpoint,
    checkpoint: Checkpoint | None,
    chain: ChainReader,
    contract: str | None,
) -> None:
    ref = anchored.anchor
    tx = "0x" + ref.tx_hash.hex()
    receipt = _anchor_receipt(report, name, ref, chain, contract)
    if receipt is None:
        return
    if checkpoint is None:
        report.add(name, False, f"not checked: the checkpoint anchored by {tx} is not trusted")
        return
    ours = [log for log in receipt.logs if log.contract.lower() == ref.contract.lower()]
    if not any(log.root == checkpoint.root and log.size == checkpoint.size for log in ours):
        seen = ", ".join(f"(root {log.root.hex()}, size {log.size})" for log in ours) or "none"
        report.add(
            name,
            False,
            f"transaction {tx} has no Anchored(root {checkpoint.root.hex()}, size "
            f"{checkpoint.size}) log from {ref.contract}; its Anchored logs: {seen}",
        )
        return
    report.add(
        name,
        True,
        f"Anchored(root, {checkpoint.size}) in tx {tx}, block {receipt.block_number}, "
        f"contract {ref.contract}",
    )


def _anchor_receipt(
    report: VerificationReport,
    name: str,
    ref: AnchorRef,
    chain: ChainReader,
    contract: str | None,
) -> AnchorReceipt | None:
    """The mined, successful anchor transaction's receipt, or ``None`` after reporting why not."""
    tx = "0x" + ref.tx_hash.hex()
    if contract is not None and ref.contract.lower() != contract.lower():
        report.add(name, False, f"anchor contract is {ref.contract}, expected {contract}")
        return None
    try:
        chain_id = chain.chain_id()
        if chain_id != ref.chain_id:
            report.add(
                f"{name} chain id", False, f"RPC is chain {chain_id}, bundle says {ref.chain_id}"
            )
            return None
        report.add(f"{name} chain id", True, f"chain {chain_id}")
        receipt = chain.receipt(ref.tx_hash)
    except AnchorError as exc:
        report.add(name, False, f"cannot query the chain: {exc}")
        return None
    if receipt is None:
        report.add(name, False, f"transaction {tx} not found on chain {ref.chain_id}")
        return None
    if not receipt.succeeded:
        report.add(name, False, f"transaction {tx} reverted")
        return None
    return receipt
