"""EPC identifiers as EPCIS uses them: pure-identity URNs and Digital Link URIs.

EPCIS 2.0 accepts both ``urn:epc:id:sgtin:CompanyPrefix.IndicatorItemRef.Serial`` (GS1 EPC
Tag Data Standard 2.x §6.3) and Digital Link URIs such as
``https://id.gs1.org/01/{GTIN}/21/{serial}``. Turning a GTIN into a URN needs the length of
the GS1 company prefix (it is not encoded in the GTIN), so callers pass it.
:func:`canonical_epc` maps every form of the same SGTIN/SSCC/LGTIN to one key (the canonical
``https://id.gs1.org`` Digital Link) so custody can be tracked whatever form a partner sends.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from wire.digital_link import DigitalLink, SsccLink, parse_link
from wire.errors import IdentifierError
from wire.gs1 import MAX_LOT_LENGTH, MAX_SERIAL_LENGTH, Gtin, Sscc, check_ai_value

__all__ = [
    "CANONICAL_RESOLVER",
    "canonical_epc",
    "company_prefix_digits",
    "epc_from_urn",
    "lgtin_urn",
    "sgtin_urn",
    "sscc_urn",
]

#: GS1's own resolver: the host of canonical Digital Link URIs.
CANONICAL_RESOLVER = "id.gs1.org"
#: Characters of set 82 that the EPC URI syntax escapes (TDS 2.x, table "EPC URI escaping").
_URN_ESCAPES = {c: f"%{ord(c):02X}" for c in '"%&/<>?'}
_SGTIN = re.compile(r"urn:epc:id:sgtin:([0-9]{6,12})\.([0-9]{1,7})\.(.+)")
_LGTIN = re.compile(r"urn:epc:class:lgtin:([0-9]{6,12})\.([0-9]{1,7})\.(.+)")
_SSCC = re.compile(r"urn:epc:id:sscc:([0-9]{6,12})\.([0-9]{5,11})")
_KEYED_PATH = re.compile(r"^https?://[^/]+(?:/[^/?#]+)*?/0[01]/[^/?#]+")
# Other GS1 keys as EPC URNs (TDS 2.x §6.3): ``urn:epc:id|idpat:<scheme>:<CompanyPrefix>.<next>``;
# the value is how many characters of <next> precede the rest of the key (an indicator digit).
_URN_KEYS = {"sgln": 0, "grai": 0, "giai": 0, "gsrn": 0, "gsrnp": 0, "gdti": 0, "cpi": 0,
             "sgcn": 0, "ginc": 0, "gsin": 0, "pgln": 0, "upui": 1, "itip": 1, "sgtin": 1,
             "sscc": 1}  # fmt: skip
_URN_KEY = re.compile(r"urn:epc:(?:id|idpat):([a-z]+):([0-9]{6,12})\.([^.]*)(?:\..*)?")
# Other GS1 keys in Digital Link paths (GS1 Digital Link 1.2, primary keys): the value is
# how many leading digits are not the company prefix (GRAI's filler 0, ITIP's indicator).
_LINK_KEYS = {"414": 0, "417": 0, "8003": 1, "8004": 0, "8018": 0, "8017": 0, "253": 0,
              "255": 0, "8006": 1, "8010": 0, "401": 0, "402": 0}  # fmt: skip
_LINK_KEY = re.compile(r"^https?://[^/]+(?:/[^/?#]+)*?/(\d{3,4})/([^/?#]+)")
_LEADING_DIGITS = re.compile(r"[0-9]*")
_URN_VALUE = re.compile(r"(?:[A-Za-z0-9!'()*+,\-.:;=_]|%[0-9A-Fa-f]{2})+")


def _escape(value: str) -> str:
    return "".join(_URN_ESCAPES.get(c, c) for c in value)


def _unescape(name: str, raw: str, max_length: int) -> str:
    if not _URN_VALUE.fullmatch(raw):
        raise IdentifierError(f"{name} {raw!r} has characters not allowed in an EPC URN")
    return check_ai_value(name, unquote(raw), max_length)


def sgtin_urn(gtin: Gtin, serial: str, company_prefix_length: int) -> str:
    """``urn:epc:id:sgtin:...`` for a serialised GTIN."""
    check_ai_value("serial (AI 21)", serial, MAX_SERIAL_LENGTH)
    indicator, prefix, item = gtin.split(company_prefix_length)
    return f"urn:epc:id:sgtin:{prefix}.{indicator}{item}.{_escape(serial)}"


def lgtin_urn(gtin: Gtin, lot: str, company_prefix_length: int) -> str:
    """``urn:epc:class:lgtin:...`` for a GTIN + lot (an EPCIS quantity class)."""
    check_ai_value("lot (AI 10)", lot, MAX_LOT_LENGTH)
    indicator, prefix, item = gtin.split(company_prefix_length)
    return f"urn:epc:class:lgtin:{prefix}.{indicator}{item}.{_escape(lot)}"


def sscc_urn(sscc: Sscc, company_prefix_length: int) -> str:
    """``urn:epc:id:sscc:...`` for a pallet or case."""
    extension, prefix, serial_ref = sscc.split(company_prefix_length)
    return f"urn:epc:id:sscc:{prefix}.{extension}{serial_ref}"


def _gtin_from_urn(prefix: str, indicator_item: str, urn: str) -> Gtin:
    if len(prefix) + len(indicator_item) != 13:
        raise IdentifierError(
            f"company prefix + indicator/item reference must be 13 digits in {urn!r}"
        )
    return Gtin.from_parts(indicator_item[0], prefix, indicator_item[1:])


def epc_from_urn(urn: str, resolver: str = CANONICAL_RESOLVER) -> DigitalLink | SsccLink:
    """The Digital Link of an SGTIN, LGTIN or SSCC URN (on ``resolver``)."""
    if m := _SGTIN.fullmatch(urn):
        serial = _unescape("serial (AI 21)", m.group(3), MAX_SERIAL_LENGTH)
        return DigitalLink(resolver, _gtin_from_urn(m.group(1), m.group(2), urn), serial=serial)
    if m := _LGTIN.fullmatch(urn):
        lot = _unescape("lot (AI 10)", m.group(3), MAX_LOT_LENGTH)
        return DigitalLink(resolver, _gtin_from_urn(m.group(1), m.group(2), urn), lot=lot)
    if m := _SSCC.fullmatch(urn):
        prefix, serial_ref = m.group(1), m.group(2)
        if len(prefix) + len(serial_ref) != 17:
            raise IdentifierError(f"company prefix + serial reference must be 17 digits: {urn!r}")
        return SsccLink(resolver, Sscc.from_parts(serial_ref[0], prefix, serial_ref[1:]))
    raise IdentifierError(f"not an sgtin, lgtin or sscc EPC URN: {urn!r}")


def canonical_epc(epc: str) -> str:
    """One key per physical object or class, whichever form of identifier was sent.

    SGTIN/LGTIN/SSCC URNs and Digital Link URIs on any resolver map to the canonical
    ``https://id.gs1.org/...`` Digital Link (a serialised item is GTIN + serial: a printed
    trace code ``/01/…/10/{lot}/21/{serial}`` and its SGTIN URN are one object); other
    identifiers (SGLN, GIAI, GRAI, patterns,
    private URIs) are returned unchanged, since they have no Digital Link form used here.
    A malformed SGTIN/SSCC (bad check digit, bad serial) raises :class:`IdentifierError`.
    """
    if epc.startswith(("urn:epc:id:sgtin:", "urn:epc:class:lgtin:", "urn:epc:id:sscc:")):
        return epc_from_urn(epc).uri
    if epc.startswith(("https://", "http://")):
        if not _KEYED_PATH.search(epc):
            return epc  # a URI that is not a GTIN/SSCC Digital Link (e.g. /414/ GLN)
        link = parse_link(epc)
        if isinstance(link, SsccLink):
            return SsccLink(CANONICAL_RESOLVER, link.sscc).uri
        if link.serial is not None:  # an SGTIN is GTIN + serial; a lot in the path is extra
            return DigitalLink(CANONICAL_RESOLVER, link.gtin, serial=link.serial).uri
        return DigitalLink(CANONICAL_RESOLVER, link.gtin, lot=link.lot).uri
    return epc


def company_prefix_digits(identifier: str) -> str | None:
    """The digits of a GS1 key from where its company prefix starts, or ``None`` for an
    identifier that is not a GS1 key (``urn:uuid:``, a GID, a private URI).

    A company prefix ``p`` owns the identifier when the result starts with ``p`` (prefixes
    are 6 to 12 digits; see :func:`wire.gs1.prefix_candidates`). SGTIN, SSCC and LGTIN in
    any form, GLN/SGLN, PGLN, GRAI, GIAI, GSRN, GDTI, GCN, CPID, GINC, GSIN, ITIP and UPUI
    are recognised, as URNs (also ``idpat`` patterns) and as Digital Links on any host.
    Raises :class:`IdentifierError` for a malformed SGTIN/SSCC/LGTIN (as
    :func:`canonical_epc`).
    """
    canonical = canonical_epc(identifier)
    if canonical.startswith(("https://", "http://")):
        if _KEYED_PATH.search(canonical):
            link = parse_link(canonical)
            key = link.sscc if isinstance(link, SsccLink) else link.gtin
            return key.prefix_digits
        if (m := _LINK_KEY.search(canonical)) and m.group(1) in _LINK_KEYS:
            digits = _LEADING_DIGITS.match(unquote(m.group(2)))
            skip = _LINK_KEYS[m.group(1)]
            return digits.group(0)[skip:] if digits and len(digits.group(0)) > skip + 5 else None
        return None
    if (m := _URN_KEY.fullmatch(canonical)) and m.group(1) in _URN_KEYS:
        rest = _LEADING_DIGITS.match(m.group(3))
        return m.group(2) + (rest.group(0)[_URN_KEYS[m.group(1)] :] if rest else "")
    return None
