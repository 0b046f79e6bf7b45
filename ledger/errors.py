"""Errors raised by the ledger package.

Every failure the ledger reports is a :class:`LedgerError`, so callers at a
boundary (the API, the CLI verifier) can catch one class. Messages say what was
expected and what was got.
"""

from __future__ import annotations

__all__ = [
    "AnchorError",
    "BundleError",
    "ChainUnavailableError",
    "CheckpointError",
    "KeyConfigError",
    "LedgerError",
    "NoteError",
    "ProofError",
    "StoreError",
    "TreeError",
]


class LedgerError(Exception):
    """Root of every error raised by :mod:`ledger`."""


class ProofError(LedgerError):
    """An inclusion or consistency proof failed verification or is malformed."""


class TreeError(LedgerError):
    """A Merkle tree operation was asked for something the tree cannot give.

    For example a size beyond the current tree, an index outside it, a leaf hash
    of the wrong length, or a node the store does not hold.
    """


class NoteError(LedgerError):
    """A C2SP signed note or key string is malformed or fails verification."""


class CheckpointError(NoteError):
    """A C2SP tlog-checkpoint is malformed, unsigned, or signed by the wrong key."""


class StoreError(LedgerError):
    """The log's PostgreSQL storage failed or holds something it must not."""


class KeyConfigError(LedgerError):
    """The log key is missing, unreadable, malformed, or refused (a default outside development)."""


class AnchorError(LedgerError):
    """Anchoring a checkpoint on chain failed (reverted, dropped, or misconfigured)."""


class ChainUnavailableError(AnchorError):
    """The chain's JSON-RPC endpoint did not answer; the operation may be retried."""


class BundleError(LedgerError):
    """A proof bundle is malformed (not: fails verification; see :mod:`ledger.verify`)."""
