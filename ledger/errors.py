"""Errors raised by the ledger package.

Every failure the ledger reports is a :class:`LedgerError`, so callers at a
boundary (the API, the CLI verifier) can catch one class. Messages say what was
expected and what was got.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "LedgerError",
    "NoteError",
    "ProofError",
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
