"""What a search in the provenance explorer asks for: one object, a lot, or a product.

Accepted (whitespace around is ignored):
- a Digital Link (printed trace code or canonical), an SGTIN/SSCC URN → that object;
- a Digital Link or LGTIN URN with a lot and no serial → the lot's units;
- ``GTIN serial`` or ``GTIN/serial`` (GTIN-8/12/13/14) → that unit;
- a GTIN alone → the product's units;
- anything else → a lot number (``units.lot``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wire.digital_link import DigitalLink, encode_ai_value, parse_link
from wire.epc import CANONICAL_RESOLVER, canonical_epc, epc_from_urn
from wire.errors import IdentifierError
from wire.gs1 import MAX_LOT_LENGTH, check_ai_value, normalise_gtin

__all__ = ["BadLookup", "Lookup", "parse_lookup"]

_GTIN_SERIAL = re.compile(r"([0-9]{8,14})\s*[\s/,;]\s*(\S{1,20})")
_GTIN = re.compile(r"[0-9]{8,14}")


class BadLookup(ValueError):
    """The search text names nothing the explorer can look up (message says why)."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """Exactly one of ``epc`` (one object) or ``lot``/``gtin`` (a set of units)."""

    epc: str | None = None
    gtin: str | None = None
    lot: str | None = None

    @property
    def single(self) -> bool:
        return self.epc is not None


def parse_lookup(text: str) -> Lookup:
    query = text.strip()
    if not query:
        raise BadLookup("enter a trace code, an EPC, a GTIN and serial, or a lot")
    try:
        return _parse(query)
    except IdentifierError as exc:
        raise BadLookup(str(exc)) from None


def _parse(query: str) -> Lookup:  # noqa: PLR0911 - one return per accepted form
    if query.startswith(("https://", "http://")):
        link = parse_link(query)
        if isinstance(link, DigitalLink) and link.serial is None:
            if link.lot is None:
                return Lookup(gtin=link.gtin.value)
            return Lookup(gtin=link.gtin.value, lot=link.lot)
        return Lookup(epc=canonical_epc(query))
    if query.startswith("urn:epc:class:lgtin:"):
        link = epc_from_urn(query)
        assert isinstance(link, DigitalLink)
        return Lookup(gtin=link.gtin.value, lot=link.lot)
    if query.startswith("urn:"):
        return Lookup(epc=canonical_epc(query))
    if m := _GTIN_SERIAL.fullmatch(query):
        gtin = normalise_gtin(m.group(1))
        serial = encode_ai_value(m.group(2))
        return Lookup(epc=canonical_epc(f"https://{CANONICAL_RESOLVER}/01/{gtin}/21/{serial}"))
    if _GTIN.fullmatch(query):
        try:
            return Lookup(gtin=normalise_gtin(query))
        except IdentifierError:
            pass  # digits that are no GTIN: a lot number
    return Lookup(lot=check_ai_value("lot (AI 10)", query, MAX_LOT_LENGTH))
