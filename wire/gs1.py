"""GS1 check digits (General Specifications §7.9): the modulo-10, weights 3-1 rule.

One implementation for every side: GTINs travel on the wire (stock counts and scans),
gateways read them from barcodes, and the cloud issues and resolves codes with them.
"""

from __future__ import annotations

__all__ = ["GTIN_LENGTHS", "check_digit", "gtin14", "is_valid_gtin"]

GTIN_LENGTHS = (8, 12, 13, 14)  # GTIN-8, GTIN-12 (UPC-A), GTIN-13 (EAN-13), GTIN-14


def check_digit(body: str) -> int:
    """The check digit for ``body`` (the digits before it), weights 3, 1, 3... from the right.

    Counting from the right makes it correct for GTIN-8/12/13/14, SSCC-18, GLN and every
    other GS1 key; raises :class:`ValueError` unless ``body`` is one or more ASCII digits.
    """
    if not body or not body.isascii() or not body.isdigit():
        raise ValueError(f"expected digits, got {body!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def is_valid_gtin(digits: str) -> bool:
    return (
        len(digits) in GTIN_LENGTHS
        and digits.isascii()
        and digits.isdigit()
        and check_digit(digits[:-1]) == int(digits[-1])
    )


def gtin14(digits: str) -> str:
    """A valid GTIN of any length, left-padded with zeros to the 14 digits the wire uses."""
    if not is_valid_gtin(digits):
        raise ValueError(f"{digits!r} is not a GTIN with a valid check digit")
    return digits.zfill(14)
