"""GS1 identifiers: GTIN and SSCC check digits, and AI values in the encodable set 82.

GS1 General Specifications §7.9 (mod-10 check digit), §3.2 (AI (00) SSCC, AI (01) GTIN,
AI (10) batch/lot, AI (21) serial) and figure 7.11-1 (GS1 AI encodable character set 82).
Everything here is pure and raises :class:`IdentifierError` with a message naming the value.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass

from cloud.provenance.errors import IdentifierError
from wire.gs1 import check_digit

__all__ = [
    "CSET82",
    "MAX_LOT_LENGTH",
    "MAX_SERIAL_LENGTH",
    "Gtin",
    "Sscc",
    "check_ai_value",
    "gs1_check_digit",
    "normalise_gtin",
    "normalise_sscc",
]

_logger = logging.getLogger(__name__)

#: GS1 AI encodable character set 82 (the characters allowed in AI (10) and AI (21) values).
CSET82 = frozenset(string.ascii_letters + string.digits + "!\"%&'()*+,-./:;<=>?_")
MAX_LOT_LENGTH = 20
MAX_SERIAL_LENGTH = 20
_GTIN_LENGTHS = (8, 12, 13, 14)
_DIGITS = re.compile(r"[0-9]+")


def gs1_check_digit(body: str) -> int:
    """The mod-10 check digit for ``body`` (all digits of the key except the check digit).

    Weights 3, 1, 3, ... are applied from the rightmost digit of the body, which makes the
    same function correct for GTIN-8/12/13/14, SSCC-18, GLN and every other GS1 key.
    """
    try:
        return check_digit(body)
    except ValueError:
        raise IdentifierError(f"check digit body must be 1 or more digits; got {body!r}") from None


def _check_key(kind: str, value: str) -> None:
    expected = gs1_check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise IdentifierError(
            f"{kind} {value} has check digit {value[-1]}; expected {expected} for that body"
        )


def normalise_gtin(value: str) -> str:
    """A GTIN-8, -12, -13 or -14 as a validated GTIN-14 (left-padded with zeros)."""
    text = value.strip()
    if not _DIGITS.fullmatch(text) or len(text) not in _GTIN_LENGTHS:
        raise IdentifierError(
            f"GTIN must be 8, 12, 13 or 14 digits; got {value!r} ({len(text)} characters)"
        )
    gtin14 = text.rjust(14, "0")
    _check_key("GTIN", gtin14)
    return gtin14


def normalise_sscc(value: str) -> str:
    """A validated SSCC-18 (exactly 18 digits with a correct check digit)."""
    text = value.strip()
    if not _DIGITS.fullmatch(text) or len(text) != 18:
        raise IdentifierError(f"SSCC must be 18 digits; got {value!r} ({len(text)} characters)")
    _check_key("SSCC", text)
    return text


def check_ai_value(name: str, value: str, max_length: int) -> str:
    """``value`` if it is 1..``max_length`` characters of set 82, else an error naming it."""
    if not value:
        raise IdentifierError(f"{name} must not be empty")
    if len(value) > max_length:
        raise IdentifierError(f"{name} is at most {max_length} characters; got {len(value)}")
    bad = sorted({c for c in value if c not in CSET82})
    if bad:
        raise IdentifierError(
            f"{name} {value!r} has characters outside GS1 AI encodable set 82: {bad!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class Gtin:
    """A GTIN held as its validated 14-digit form."""

    value: str

    def __post_init__(self) -> None:
        if len(self.value) != 14:
            raise IdentifierError(f"Gtin holds a GTIN-14; got {self.value!r} (use Gtin.parse)")
        normalise_gtin(self.value)

    @classmethod
    def parse(cls, text: str) -> Gtin:
        return cls(normalise_gtin(text))

    @classmethod
    def from_parts(cls, indicator: str, company_prefix: str, item_reference: str) -> Gtin:
        """Compose from indicator digit, company prefix and item reference (adds the check)."""
        body = indicator + company_prefix + item_reference
        if len(body) != 13 or not _DIGITS.fullmatch(body):
            raise IdentifierError(
                f"indicator + company prefix + item reference must be 13 digits; got {body!r}"
            )
        return cls(body + str(gs1_check_digit(body)))

    def split(self, company_prefix_length: int) -> tuple[str, str, str]:
        """``(indicator, company_prefix, item_reference)`` for a prefix of that length."""
        _check_prefix_length(company_prefix_length)
        cp_end = 1 + company_prefix_length
        return self.value[0], self.value[1:cp_end], self.value[cp_end:13]

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Sscc:
    """A validated SSCC-18 (serial shipping container code: pallets and cases)."""

    value: str

    def __post_init__(self) -> None:
        normalise_sscc(self.value)

    @classmethod
    def from_parts(cls, extension: str, company_prefix: str, serial_reference: str) -> Sscc:
        body = extension + company_prefix + serial_reference
        if len(body) != 17 or not _DIGITS.fullmatch(body):
            raise IdentifierError(
                f"extension + company prefix + serial reference must be 17 digits; got {body!r}"
            )
        return cls(body + str(gs1_check_digit(body)))

    def split(self, company_prefix_length: int) -> tuple[str, str, str]:
        """``(extension_digit, company_prefix, serial_reference)`` for that prefix length."""
        _check_prefix_length(company_prefix_length)
        cp_end = 1 + company_prefix_length
        return self.value[0], self.value[1:cp_end], self.value[cp_end:17]

    def __str__(self) -> str:
        return self.value


def _check_prefix_length(length: int) -> None:
    if not 6 <= length <= 12:
        raise IdentifierError(f"GS1 company prefix length must be 6..12 digits; got {length}")
