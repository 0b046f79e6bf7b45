"""String formats and patterns of the EPCIS 2.0 JSON schema, checked without jsonschema.

The official schema is validated (in the conformance tests) with jsonschema's Draft 7 format
checkers: ``uri`` by rfc3987 and ``date-time`` by rfc3339-validator. These checks accept the
same strings, including two looser corners of those checkers that conformance keeps:

* an anchored ``$`` also matches before one final newline, so ``"urn:x\\n"`` is a URI and
  ``"2024-01-01T00:00:00Z\\n"`` a date-time (the schema's ``pattern`` keywords, matched with
  :func:`re.search`, behave the same, and ``\\d`` there matches any Unicode digit);
* ``date-time`` is checked upper-cased (``t`` and ``z`` are accepted, as RFC 3339 allows),
  without leap seconds.

The URI grammar is RFC 3986's ``URI`` rule (absolute, optional fragment) written so that every
part ends at a delimiter it cannot contain: possessive quantifiers then never change what
matches, and a hostile megabyte-long string is rejected in linear time.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Hashable, Iterable
from typing import Final

__all__ = [
    "EVENT_TIME_ZONE_OFFSET",
    "HEX_BINARY",
    "NON_GS1_WEB_VOC",
    "NOT_CBV",
    "UOM",
    "VERSION",
    "all_unique",
    "is_date_time",
    "is_uri",
    "search",
]

# Patterns exactly as the schema writes them (matched with re.search, like jsonschema).
VERSION: Final = re.compile(r"^\d+(\.\d+)*$")
EVENT_TIME_ZONE_OFFSET: Final = re.compile(r"^([+]|[-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)$")
UOM: Final = re.compile(r"^[A-Z0-9]{2,3}$")
HEX_BINARY: Final = re.compile(r"^[A-Fa-f0-9]+$")
NOT_CBV: Final = re.compile(r"^(?!(urn:epcglobal:cbv|https?:\/\/ns\.gs1\.org/cbv\/))")
NON_GS1_WEB_VOC: Final = re.compile(
    r"^(?!(https?:\/\/gs1\.org\/voc\/|https?:\/\/www\.gs1\.org\/voc\/))"
)

_HEX = "[0-9A-Fa-f]"
_PCT = f"%{_HEX}{{2}}"
_UNRESERVED_SUB = r"A-Za-z0-9._~!$&'()*+,;=\-"  # unreserved and sub-delims
_PCHAR = f"(?:[{_UNRESERVED_SUB}:@]|{_PCT})"
_H16 = f"{_HEX}{{1,4}}"
_DEC_OCTET = "(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
_IPV4 = rf"(?:{_DEC_OCTET}\.){{3}}{_DEC_OCTET}"
_LS32 = f"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = "|".join(
    [
        f"(?:{_H16}:){{6}}{_LS32}",
        f"::(?:{_H16}:){{5}}{_LS32}",
        f"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
        f"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
        f"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
        f"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
        f"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
        f"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
        f"(?:(?:{_H16}:){{0,6}}{_H16})?::",
    ]
)
_IP_FUTURE = rf"v{_HEX}+\.[{_UNRESERVED_SUB}:]+"  # lower-case "v" only, as rfc3987 has it
_AUTHORITY = (
    f"(?:(?:[{_UNRESERVED_SUB}:]|{_PCT})*+@)?"  # userinfo
    rf"(?:\[(?:{_IPV6}|{_IP_FUTURE})\]|(?:[{_UNRESERVED_SUB}]|{_PCT})*+)"  # host
    r"(?::[0-9]*+)?"  # port
)
_URI: Final = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*+:"  # scheme
    f"(?://{_AUTHORITY}(?:/{_PCHAR}*+)*+|(?!//)(?:{_PCHAR}|/)*+)"  # hier-part
    rf"(?:\?(?:{_PCHAR}|[/?])*+)?"  # query
    rf"(?:\#(?:{_PCHAR}|[/?])*+)?"  # fragment
)
_DATE_TIME: Final = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(\d{2})T(?:[01]\d|2[0123]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    r"(?:Z|[+-](?:[01]\d|2[0123]):[0-5]\d)",
    re.ASCII,
)


def _before_final_newline(value: str) -> str:
    return value[:-1] if value.endswith("\n") else value


def is_uri(value: str) -> bool:
    """True for an absolute URI (RFC 3986 ``URI``: scheme, hierarchy, query, fragment)."""
    return _URI.fullmatch(_before_final_newline(value)) is not None


def is_date_time(value: str) -> bool:
    """True for an RFC 3339 ``date-time`` with a valid calendar day (year 0 refused)."""
    match = _DATE_TIME.fullmatch(_before_final_newline(value.upper()))
    if match is None:
        return False
    year, month, day = (int(g) for g in match.groups())
    return year > 0 and 1 <= day <= calendar.monthrange(year, month)[1]


def search(pattern: re.Pattern[str], value: str) -> bool:
    """A schema ``pattern`` keyword: unanchored search, as JSON Schema specifies."""
    return pattern.search(value) is not None


def _json_key(value: object) -> Hashable:
    """A key equal for equal JSON values: ``1 == 1.0``, but ``true`` is not ``1``."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list):
        return ("array", tuple(_json_key(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, _json_key(v)) for k, v in value.items()))
    return ("other", id(value))


def all_unique(items: Iterable[object]) -> bool:
    """JSON Schema ``uniqueItems``: no two items are equal as JSON values."""
    keys = [_json_key(item) for item in items]
    return len(set(keys)) == len(keys)
