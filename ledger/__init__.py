"""ChannelTrace provenance ledger: the pure core.

RFC 9162 Merkle hashing, an append-only tree over stored perfect-subtree
hashes, inclusion/consistency proof generation and verification, C2SP
signed-note checkpoints with Ed25519 keys, canonical JSON, proof bundles and
their offline verification, the audit of a log's checkpoints, and the chain's
protocols and receipt types (:mod:`ledger.chain`). No I/O: storage is a
:class:`NodeStore` passed in by the caller, the chain a
:class:`~ledger.chain.ChainReader`.

Everything that does I/O lives in :mod:`ledger.service`: the PostgreSQL store
and rows, the checkpoint/anchor/audit jobs, web3 anchoring, the FastAPI routes,
the typer CLI, settings and key files. The core imports nothing of it (an
import-linter contract checks this).
"""

from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.errors import CheckpointError, LedgerError, NoteError, ProofError, TreeError
from ledger.hashing import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash
from ledger.note import LogKey, VerifierKey, key_id, open_note, sign_note
from ledger.proofs import (
    consistency_proof_size,
    inclusion_proof_size,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from ledger.tree import AppendResult, InMemoryNodeStore, MerkleTree, NodeID, NodeStore

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "AppendResult",
    "Checkpoint",
    "CheckpointError",
    "InMemoryNodeStore",
    "LedgerError",
    "LogKey",
    "MerkleTree",
    "NodeID",
    "NodeStore",
    "NoteError",
    "ProofError",
    "TreeError",
    "VerifierKey",
    "consistency_proof_size",
    "inclusion_proof_size",
    "key_id",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "root_from_inclusion_proof",
    "sign_checkpoint",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
]
