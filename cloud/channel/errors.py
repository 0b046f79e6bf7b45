"""Errors of channel master data: one root, each message says what was expected and got."""

from __future__ import annotations

from dataclasses import dataclass

from cloud.errors import CloudError

__all__ = [
    "ChannelError",
    "FieldProblem",
    "GeocoderUnavailable",
    "ImportRefused",
    "InvalidRecord",
    "RecordConflict",
    "RecordNotFound",
    "RegionCodeError",
]


class ChannelError(CloudError):
    """Root of every error of :mod:`cloud.channel`."""


class RegionCodeError(ChannelError, ValueError):
    """A region code that is not a GB/T 2260 (or ISO 3166-2:CN province) code."""


class GeocoderUnavailable(ChannelError):
    """The boundary data of the offline geocoder cannot be loaded."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One refused value: which field, what was expected, what was got."""

    field: str
    expected: str
    got: str

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, got {self.got}"


class InvalidRecord(ChannelError):
    """A record (distributor, site, …) with refused fields."""

    def __init__(self, what: str, problems: list[FieldProblem]) -> None:
        self.what = what
        self.problems = problems
        super().__init__(f"{what}: " + "; ".join(str(p) for p in problems))


class RecordNotFound(ChannelError):
    """The record (or one it refers to) does not exist in the caller's scope."""


class RecordConflict(ChannelError):
    """The record exists already, or is still referred to, or belongs to another tenant."""


class ImportRefused(ChannelError):
    """An import file that cannot be read at all (not a row problem: those are reported)."""
