"""What a scanned line says: GS1 element string, GS1 Digital Link URI, EPC or a plain code.

Scanners send one code per line. GS1 barcodes arrive as element strings, either raw
(``]C1``/``]d2``/``]Q3`` symbology prefix, FNC1 as the GS character 0x1D) or in the
human-readable form ``(01)09506000134352(10)LOT``; QR trace codes as Digital Link URIs
(``https://id.example/01/09506000134352/21/SERIAL``); RFID readers as EPC hex. A GTIN
found in any of them must carry a valid check digit, or the line is refused as a misread;
a plain numeric code of GTIN length with a bad check digit is kept, without a GTIN.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from edge.drivers.epc import EpcError, decode_epc96, looks_like_epc96
from edge.errors import EdgeError
from wire.gs1 import GTIN_LENGTHS, is_valid_gtin, normalise_gtin

__all__ = ["MAX_CODE_LEN", "CodeError", "ParsedCode", "parse_code"]

MAX_CODE_LEN = 512  # ScanEvent.code's limit
GS = "\x1d"
# AIs whose data length is fixed, by their first two digits: total length of AI + data
# (GS1 General Specifications, "predefined length" table). Every other element is ended
# by FNC1 (GS) or by the end of the string.
_PREDEFINED = {"00": 20, "01": 16, "02": 16, "03": 16, "04": 18, "11": 8, "12": 8, "13": 8,
               "14": 8, "15": 8, "16": 8, "17": 8, "18": 8, "19": 8, "20": 4, "31": 10,
               "32": 10, "33": 10, "34": 10, "35": 10, "36": 10, "41": 16}  # fmt: skip
# ISO/IEC 15424 symbology identifiers whose data is a GS1 element string.
_GS1_SYMBOLOGIES = {"]C1", "]d2", "]Q3", "]e0", "]J1"}
_BRACKETED = re.compile(r"\((\d{2,4})\)([^()]*)")
Kind = Literal["element_string", "digital_link", "epc", "plain"]


class CodeError(EdgeError):
    """A scanned line that is not a usable code (control characters, bad GTIN, too long)."""


@dataclass(frozen=True, slots=True)
class ParsedCode:
    code: str  # what the scan event records
    kind: Kind
    gtin: str | None = None  # GTIN-14 when the code carries one


def _gtin_or_error(digits: str, where: str) -> str:
    try:
        return normalise_gtin(digits)
    except ValueError:
        raise CodeError(f"{where}: {digits!r} is not a GTIN with a valid check digit") from None


def _element_string(data: str) -> str | None:
    """The GTIN of AI (01) in a raw element string, None when there is no (01)."""
    pos = 0
    while pos < len(data):
        if data[pos] == GS:
            pos += 1
            continue
        prefix = data[pos : pos + 2]
        if not (prefix.isascii() and prefix.isdigit()):
            raise CodeError(f"expected a GS1 application identifier at {pos}, got {prefix!r}")
        if prefix in _PREDEFINED:
            end = pos + _PREDEFINED[prefix]
            if end > len(data):
                raise CodeError(f"element ({prefix}) is cut short: {data[pos:]!r}")
            if prefix == "01":
                return _gtin_or_error(data[pos + 2 : end], "AI (01)")
            pos = end
        else:
            end = data.find(GS, pos)
            pos = len(data) if end < 0 else end
    return None


def _bracketed(data: str) -> str | None:
    elements = _BRACKETED.findall(data)
    if "".join(f"({ai}){value}" for ai, value in elements) != data:
        raise CodeError(f"expected (AI)value pairs, got {data!r}")
    for ai, value in elements:
        if ai == "01":
            return _gtin_or_error(value, "AI (01)")
    return None


def _digital_link(uri: str) -> str | None:
    segments = [unquote(s) for s in urlsplit(uri).path.split("/")]
    for key, value in itertools.pairwise(segments):
        if key == "01":
            if len(value) not in GTIN_LENGTHS:
                raise CodeError(f"Digital Link /01/ expects a GTIN, got {value!r}")
            return _gtin_or_error(value, "Digital Link /01/")
    return None


def _looks_like_unbracketed_gs1(text: str) -> bool:
    # A wedge scanner without symbology prefix, FNC1 dropped: "0109506000134352" + more.
    return len(text) > 16 and text.startswith("01") and is_valid_gtin(text[2:16])


def parse_code(line: str) -> ParsedCode:
    """Classify one scanned line; :class:`CodeError` when it cannot be a code."""
    text = line.strip(" \t\r\n")
    if not text:
        raise CodeError("empty line")
    if len(text) > MAX_CODE_LEN:
        raise CodeError(f"code is {len(text)} characters long; at most {MAX_CODE_LEN} allowed")
    if any(not ch.isprintable() and ch != GS for ch in text):
        raise CodeError(f"control characters in {text!r}")
    symbology, data = (text[:3], text[3:]) if text.startswith("]") else ("", text)
    if symbology in _GS1_SYMBOLOGIES and not data.startswith(("http://", "https://")):
        return ParsedCode(data, "element_string", _element_string(data))
    if data.startswith(("http://", "https://")):
        return ParsedCode(data, "digital_link", _digital_link(data))
    if data.startswith("(") and data[1:2].isdigit():
        return ParsedCode(data, "element_string", _bracketed(data))
    if GS in data or _looks_like_unbracketed_gs1(data):
        return ParsedCode(data, "element_string", _element_string(data))
    if looks_like_epc96(data):
        try:
            epc = decode_epc96(data)
        except EpcError as exc:
            raise CodeError(str(exc)) from None
        return ParsedCode(epc.uri, "epc", epc.gtin)
    gtin = data.zfill(14) if is_valid_gtin(data) else None
    return ParsedCode(data, "plain", gtin)
