"""GS1 keys: check digits, GTIN, SSCC, AI values (character set 82), company prefixes.

The one implementation for every side: GTINs travel on the wire (stock counts and scans),
gateways read them from barcodes and RFID tags, and the cloud issues, captures and resolves
codes with them. GS1 General Specifications §7.9 (mod-10 check digit), §3.2 (AI (00) SSCC,
AI (01) GTIN, AI (10) batch/lot, AI (21) serial), figure 7.11-1 (AI encodable character set
82) and §1.4.4 (GS1 company prefixes). Everything here is pure and raises
:class:`~wire.errors.IdentifierError` (a :class:`ValueError`) with a message naming the value.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from wire.errors import IdentifierError

__all__ = [
    "CSET82",
    "GTIN_LENGTHS",
    "MAX_LOT_LENGTH",
    "MAX_SERIAL_LENGTH",
    "Gtin",
    "Sscc",
    "check_ai_value",
    "check_company_prefix",
    "check_digit",
    "is_valid_gtin",
    "normalise_gtin",
    "normalise_sscc",
    "prefix_candidates",
]

GTIN_LENGTHS = (8, 12, 13, 14)  # GTIN-8, GTIN-12 (UPC-A), GTIN-13 (EAN-13), GTIN-14
#: GS1 AI encodable character set 82 (the characters allowed in AI (10) and AI (21) values).
CSET82 = frozenset(string.ascii_letters + string.digits + "!\"%&'()*+,-./:;<=>?_")
MAX_LOT_LENGTH = 20
MAX_SERIAL_LENGTH = 20
_PREFIX_LENGTHS = range(6, 13)
# Number ranges that are not GS1 company prefixes (GS1 General Specifications §1.4.4, as
# the 13 digits that follow a GTIN-14's indicator digit): whoever holds such a number holds
# it for one store, one country's coupons or no one, so no brand can own it.
_NOT_COMPANY_PREFIXES = (
    ("02", "restricted circulation numbers (variable-measure and in-store items)"),
    ("04", "restricted circulation numbers (for use within a company)"),
    ("05", "coupons (GTIN-12)"),
    ("2", "restricted circulation numbers (GS1 prefixes 200-299)"),
    ("980", "refund receipts (GS1 prefix 980)"),
    ("981", "coupons (GS1 prefixes 981-984)"),
    ("982", "coupons (GS1 prefixes 981-984)"),
    ("983", "coupons (GS1 prefixes 981-984)"),
    ("984", "coupons (GS1 prefixes 981-984)"),
    ("99", "coupons (GS1 prefix 99)"),
)


def _digits(value: str) -> bool:
    return bool(value) and value.isascii() and value.isdigit()


def check_digit(body: str) -> int:
    """The check digit for ``body`` (the digits before it), weights 3, 1, 3... from the right.

    Counting from the right makes it correct for GTIN-8/12/13/14, SSCC-18, GLN and every
    other GS1 key.
    """
    if not _digits(body):
        raise IdentifierError(f"check digit body must be 1 or more digits; got {body!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _check_key(kind: str, value: str) -> None:
    expected = check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise IdentifierError(
            f"{kind} {value} has check digit {value[-1]}; expected {expected} for that body"
        )


def is_valid_gtin(digits: str) -> bool:
    """Is ``digits`` exactly a GTIN-8/12/13/14 with a correct check digit (no spaces)?"""
    return (
        len(digits) in GTIN_LENGTHS
        and _digits(digits)
        and check_digit(digits[:-1]) == int(digits[-1])
    )


def normalise_gtin(value: str) -> str:
    """A GTIN-8, -12, -13 or -14 as a validated GTIN-14 (left-padded with zeros)."""
    text = value.strip()
    if not _digits(text) or len(text) not in GTIN_LENGTHS:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise IdentifierError(
            f"GTIN must be 8, 12, 13 or 14 digits; got {shown!r} ({len(text)} characters)"
        )
    gtin14 = text.rjust(14, "0")
    _check_key("GTIN", gtin14)
    return gtin14


def normalise_sscc(value: str) -> str:
    """A validated SSCC-18 (exactly 18 digits with a correct check digit)."""
    text = value.strip()
    if not _digits(text) or len(text) != 18:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise IdentifierError(f"SSCC must be 18 digits; got {shown!r} ({len(text)} characters)")
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


def check_company_prefix(value: str) -> str:
    """A GS1 company prefix: 6 to 12 ASCII digits, outside the ranges no company owns.

    The prefix is written as it starts the 13 digits after a GTIN-14's indicator digit (the
    form GS1 assigns: a U.P.C. company prefix ``614141`` is GS1 company prefix ``0614141``).
    """
    if not _digits(value) or len(value) not in _PREFIX_LENGTHS:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise IdentifierError(
            f"a GS1 company prefix is 6 to 12 digits; got {shown!r} ({len(value)} characters)"
        )
    for start, what in _NOT_COMPANY_PREFIXES:
        if value.startswith(start):
            raise IdentifierError(
                f"{value} is not a GS1 company prefix: numbers starting {start} are {what}"
            )
    return value


def prefix_candidates(digits: str) -> tuple[str, ...]:
    """Every string a company prefix of ``digits`` could be (its first 6..12 digits):
    ``digits`` are a key's digits from where its company prefix starts."""
    return tuple(digits[:n] for n in _PREFIX_LENGTHS if n <= len(digits))


def _check_prefix_length(length: int) -> None:
    if length not in _PREFIX_LENGTHS:
        raise IdentifierError(f"GS1 company prefix length must be 6..12 digits; got {length}")


@dataclass(frozen=True, slots=True)
class Gtin:
    """A GTIN held as its validated 14-digit form (``Gtin.parse`` takes the shorter ones)."""

    value: str

    def __post_init__(self) -> None:
        if len(self.value) != 14 or not _digits(self.value):
            raise IdentifierError(
                f"expected a GTIN-14 (14 digits); got {self.value[:40]!r} (Gtin.parse takes "
                "GTIN-8/12/13)"
            )
        _check_key("GTIN", self.value)

    @classmethod
    def parse(cls, text: str) -> Gtin:
        return cls(normalise_gtin(text))

    @classmethod
    def from_parts(cls, indicator: str, company_prefix: str, item_reference: str) -> Gtin:
        """Compose from indicator digit, company prefix and item reference (adds the check)."""
        body = indicator + company_prefix + item_reference
        if len(body) != 13 or not _digits(body):
            raise IdentifierError(
                f"indicator + company prefix + item reference must be 13 digits; got {body!r}"
            )
        return cls(body + str(check_digit(body)))

    @property
    def prefix_digits(self) -> str:
        """The digits a company prefix starts (everything after the indicator digit)."""
        return self.value[1:13]

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
        if len(body) != 17 or not _digits(body):
            raise IdentifierError(
                f"extension + company prefix + serial reference must be 17 digits; got {body!r}"
            )
        return cls(body + str(check_digit(body)))

    @property
    def prefix_digits(self) -> str:
        """The digits a company prefix starts (everything after the extension digit)."""
        return self.value[1:17]

    def split(self, company_prefix_length: int) -> tuple[str, str, str]:
        """``(extension_digit, company_prefix, serial_reference)`` for that prefix length."""
        _check_prefix_length(company_prefix_length)
        cp_end = 1 + company_prefix_length
        return self.value[0], self.value[1:cp_end], self.value[cp_end:17]

    def __str__(self) -> str:
        return self.value
