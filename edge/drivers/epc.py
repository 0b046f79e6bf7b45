"""EPC binary encodings as RFID readers report them (hex), per GS1 EPC Tag Data Standard.

Only SGTIN-96 carries a GTIN, so it is the one decoded in full: to its pure-identity URI
(``urn:epc:id:sgtin:CompanyPrefix.ItemRef.Serial``, what EPCIS events use) and to its
GTIN-14. Other 96-bit EPC schemes are recognised by their header and kept as hex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.errors import EdgeError
from wire.gs1 import check_digit

__all__ = ["EPC_HEADERS", "Epc", "EpcError", "decode_epc96", "looks_like_epc96"]

SGTIN_96 = 0x30
# 96-bit schemes by header (TDS §14.2): the ones a warehouse portal meets.
EPC_HEADERS = {
    0x2C: "gdti-96",
    0x2D: "gsrn-96",
    0x30: "sgtin-96",
    0x31: "sscc-96",
    0x32: "sgln-96",
    0x33: "grai-96",
    0x34: "giai-96",
    0x35: "gid-96",
}
# SGTIN partition value -> (company prefix bits, digits, item reference bits, digits)
_PARTITIONS = {
    0: (40, 12, 4, 1),
    1: (37, 11, 7, 2),
    2: (34, 10, 10, 3),
    3: (30, 9, 14, 4),
    4: (27, 8, 17, 5),
    5: (24, 7, 20, 6),
    6: (20, 6, 24, 7),
}
_HEX96 = re.compile(r"^[0-9A-Fa-f]{24}$")


class EpcError(EdgeError):
    """Hex that claims an EPC scheme but does not decode as one."""


@dataclass(frozen=True, slots=True)
class Epc:
    scheme: str
    uri: str  # pure identity URI for SGTIN-96, upper-case hex otherwise
    gtin: str | None = None


def looks_like_epc96(text: str) -> bool:
    return bool(_HEX96.match(text)) and int(text[:2], 16) in EPC_HEADERS


def decode_epc96(text: str) -> Epc:
    """Decode 24 hex digits; :class:`EpcError` when an SGTIN-96 is malformed."""
    if not looks_like_epc96(text):
        raise EpcError(f"expected 24 hex digits starting with an EPC header, got {text!r}")
    bits = int(text, 16)
    header = bits >> 88
    if header != SGTIN_96:
        return Epc(scheme=EPC_HEADERS[header], uri=text.upper())
    partition = (bits >> 82) & 0b111
    if partition not in _PARTITIONS:
        raise EpcError(f"SGTIN-96 {text} has partition {partition}; expected 0..6")
    cp_bits, cp_digits, ir_bits, ir_digits = _PARTITIONS[partition]
    company = (bits >> (82 - cp_bits)) & ((1 << cp_bits) - 1)
    item = (bits >> 38) & ((1 << ir_bits) - 1)
    serial = bits & ((1 << 38) - 1)
    if company >= 10**cp_digits or item >= 10**ir_digits:
        raise EpcError(
            f"SGTIN-96 {text}: company prefix {company} or item reference {item} "
            f"exceeds {cp_digits}/{ir_digits} digits"
        )
    cp, ir = str(company).zfill(cp_digits), str(item).zfill(ir_digits)
    body = ir[0] + cp + ir[1:]  # indicator digit, company prefix, item reference
    return Epc(
        scheme="sgtin-96",
        uri=f"urn:epc:id:sgtin:{cp}.{ir}.{serial}",
        gtin=body + str(check_digit(body)),
    )
