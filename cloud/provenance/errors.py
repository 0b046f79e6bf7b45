"""Errors raised by :mod:`cloud.provenance`: one root, one subclass per concern."""

from __future__ import annotations

__all__ = [
    "CodeVerificationError",
    "ColdChainError",
    "CustodyError",
    "EpcisValidationError",
    "EventConflictError",
    "IssuanceError",
    "KeyStoreError",
    "OwnershipError",
    "PrefixConflictError",
    "PrefixError",
    "PrefixInUseError",
    "PrefixNotFoundError",
    "ProvenanceError",
    "ProvenanceStoreError",
    "VerdictInputError",
]


class ProvenanceError(Exception):
    """Root of every error raised by :mod:`cloud.provenance`."""


class KeyStoreError(ProvenanceError):
    """A brand key cannot be created, read or parsed."""


class CodeVerificationError(ProvenanceError):
    """A signed trace code is malformed beyond the point where it can be verified."""


class IssuanceError(ProvenanceError):
    """A batch of trace codes cannot be issued (bad request or output problem)."""


class EpcisValidationError(ProvenanceError):
    """An EPCIS document or event is not valid EPCIS 2.0 (or not capturable).

    ``errors`` lists ``(json_pointer, message)`` pairs, deepest-first per branch.
    """

    def __init__(self, message: str, errors: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors


class CustodyError(ProvenanceError):
    """Custody cannot be computed from the events given (for example, out of order)."""


class VerdictInputError(ProvenanceError, ValueError):
    """Thresholds, scans or unit records passed to the verdict engine are invalid."""


class ColdChainError(ProvenanceError, ValueError):
    """A storage profile, reading series or custody interval is invalid."""


class ProvenanceStoreError(ProvenanceError):
    """Reading or writing provenance rows (custody, units, scans, codes) failed."""


class EventConflictError(ProvenanceError):
    """An event reuses the eventID of a captured event with different content.

    ``event_ids`` lists the conflicting ids; nothing of the capture was stored.
    """

    def __init__(self, message: str, event_ids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.event_ids = event_ids


class OwnershipError(ProvenanceError):
    """A capture names what the capturing party does not own: an identifier under another
    brand's prefix or under no GS1 company prefix, for a distributor a unit not shipped to
    it, or a location that is not one of its (or the gateway's) sites.

    ``identifier`` is the first offending one (EPCs as normalised), ``kind`` says which it
    is (``epc`` or ``location``); nothing was stored.
    """

    def __init__(self, message: str, identifier: str, *, kind: str = "epc") -> None:
        super().__init__(message)
        self.identifier = identifier
        self.kind = kind


class PrefixError(ProvenanceError):
    """Registering or removing a GS1 company prefix failed (the subclass says why)."""


class PrefixConflictError(PrefixError):
    """The prefix overlaps one already registered (by this tenant or another)."""


class PrefixInUseError(PrefixError):
    """Issued codes or units with custody are under the prefix: it cannot be removed."""


class PrefixNotFoundError(PrefixError):
    """The prefix is not registered to this tenant."""
