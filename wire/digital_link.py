"""GS1 Digital Link URIs (uncompressed form) for trade items and logistic units.

``https://{resolver}[/{prefix}]/01/{GTIN-14}[/10/{lot}][/21/{serial}]`` and
``https://{resolver}[/{prefix}]/00/{SSCC}``. AI values are validated against GS1 AI
encodable character set 82 and percent-encoded on output for every character outside the
URI unreserved set (GS1 Digital Link 1.2 §6.x), with upper-case hex, so one identity has one
canonical URI. Parsing accepts lower-case escapes and raw sub-delimiters and normalises them.
The query string and fragment are not part of the identity and are ignored here.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from wire.errors import IdentifierError
from wire.gs1 import (
    MAX_LOT_LENGTH,
    MAX_SERIAL_LENGTH,
    Gtin,
    Sscc,
    check_ai_value,
    normalise_gtin,
    normalise_sscc,
)

__all__ = ["DigitalLink", "SsccLink", "encode_ai_value", "parse_link"]

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_RAW_SEGMENT = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+")
_HOST = re.compile(r"[a-z0-9]([a-z0-9\-.]*[a-z0-9])?(:[0-9]{1,5})?")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9\-._~]+")


def encode_ai_value(value: str) -> str:
    """Percent-encode an AI value for a Digital Link path segment (canonical, upper-case)."""
    return "".join(c if c in _UNRESERVED else f"%{ord(c):02X}" for c in value)


def _decode_segment(name: str, raw: str) -> str:
    if not _RAW_SEGMENT.fullmatch(raw):
        raise IdentifierError(f"{name} path segment {raw!r} is not a valid URI path segment")
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise IdentifierError(f"{name} {raw!r} percent-decodes to invalid UTF-8") from None


def _check_resolver(resolver: str) -> str:
    host = resolver.lower()
    if not _HOST.fullmatch(host):
        raise IdentifierError(f"resolver must be a host name[:port]; got {resolver!r}")
    return host


def _check_prefix(prefix: str) -> str:
    if prefix in ("", "/"):
        return ""
    segments = prefix.strip("/").split("/")
    for seg in segments:
        if not _PREFIX_SEGMENT.fullmatch(seg) or seg in ("00", "01"):
            raise IdentifierError(f"path prefix segment {seg!r} is not allowed")
    return "/" + "/".join(segments)


@dataclass(frozen=True, slots=True)
class DigitalLink:
    """A GS1 Digital Link URI for a trade item: GTIN with optional lot and serial."""

    resolver: str
    gtin: Gtin
    lot: str | None = None
    serial: str | None = None
    path_prefix: str = ""
    scheme: str = "https"

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolver", _check_resolver(self.resolver))
        object.__setattr__(self, "path_prefix", _check_prefix(self.path_prefix))
        if self.scheme not in ("https", "http"):
            raise IdentifierError(f"Digital Link scheme must be https or http; got {self.scheme}")
        if self.lot is not None:
            check_ai_value("lot (AI 10)", self.lot, MAX_LOT_LENGTH)
        if self.serial is not None:
            check_ai_value("serial (AI 21)", self.serial, MAX_SERIAL_LENGTH)

    @classmethod
    def build(
        cls, resolver: str, gtin: str, lot: str | None = None, serial: str | None = None
    ) -> DigitalLink:
        """Build from text (``gtin`` may be GTIN-8/12/13/14; it is normalised to 14)."""
        return cls(resolver=resolver, gtin=Gtin(normalise_gtin(gtin)), lot=lot, serial=serial)

    @property
    def uri(self) -> str:
        """The canonical URI (no query): the bytes a trace code signature covers."""
        path = f"{self.path_prefix}/01/{self.gtin.value}"
        if self.lot is not None:
            path += f"/10/{encode_ai_value(self.lot)}"
        if self.serial is not None:
            path += f"/21/{encode_ai_value(self.serial)}"
        return f"{self.scheme}://{self.resolver}{path}"

    @classmethod
    def parse(cls, uri: str) -> DigitalLink:
        link = parse_link(uri)
        if not isinstance(link, DigitalLink):
            raise IdentifierError(f"expected a GTIN (AI 01) Digital Link; got an SSCC in {uri!r}")
        return link

    def __str__(self) -> str:
        return self.uri


@dataclass(frozen=True, slots=True)
class SsccLink:
    """A GS1 Digital Link URI for a logistic unit (pallet or case): ``/00/{SSCC}``."""

    resolver: str
    sscc: Sscc
    path_prefix: str = ""
    scheme: str = "https"

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolver", _check_resolver(self.resolver))
        object.__setattr__(self, "path_prefix", _check_prefix(self.path_prefix))
        if self.scheme not in ("https", "http"):
            raise IdentifierError(f"Digital Link scheme must be https or http; got {self.scheme}")

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.resolver}{self.path_prefix}/00/{self.sscc.value}"

    def __str__(self) -> str:
        return self.uri


def parse_link(uri: str) -> DigitalLink | SsccLink:
    """Parse an uncompressed Digital Link URI with primary key AI (01) or AI (00)."""
    try:
        parts = urlsplit(uri)
    except ValueError as exc:  # e.g. an unbalanced "[" in the host (found by API fuzzing)
        raise IdentifierError(f"not a valid URI ({exc}): {uri!r}") from None
    if parts.scheme not in ("https", "http"):
        raise IdentifierError(f"Digital Link must use https or http; got {uri!r}")
    if not parts.netloc or "@" in parts.netloc:
        raise IdentifierError(f"Digital Link needs a resolver host; got {uri!r}")
    segments = parts.path.split("/")[1:]
    for i, seg in enumerate(segments):
        if seg in ("00", "01") and i + 1 < len(segments):
            prefix = "/" + "/".join(segments[:i]) if i else ""
            return _parse_keyed(parts.scheme, parts.netloc, prefix, segments[i:], uri)
    raise IdentifierError(f"no /01/{{GTIN}} or /00/{{SSCC}} in Digital Link path of {uri!r}")


def _parse_keyed(
    scheme: str, host: str, prefix: str, segments: list[str], uri: str
) -> DigitalLink | SsccLink:
    if segments[0] == "00":
        if len(segments) != 2:
            raise IdentifierError(f"an SSCC Digital Link has no qualifiers; got {uri!r}")
        sscc = Sscc(normalise_sscc(segments[1]))
        return SsccLink(resolver=host, sscc=sscc, path_prefix=prefix, scheme=scheme)
    gtin = Gtin(normalise_gtin(segments[1]))
    qualifiers = segments[2:]
    if len(qualifiers) % 2:
        raise IdentifierError(f"Digital Link qualifiers must be AI/value pairs; got {uri!r}")
    values: dict[str, str] = {}
    order = ("10", "21")
    last = -1
    for ai, raw in zip(qualifiers[::2], qualifiers[1::2], strict=True):
        if ai not in order:
            raise IdentifierError(f"unsupported qualifier AI ({ai}) after GTIN in {uri!r}")
        if order.index(ai) <= last:
            raise IdentifierError(f"qualifier AI ({ai}) out of order or repeated in {uri!r}")
        last = order.index(ai)
        values[ai] = _decode_segment(f"AI ({ai})", raw)
    return DigitalLink(
        resolver=host,
        gtin=gtin,
        lot=values.get("10"),
        serial=values.get("21"),
        path_prefix=prefix,
        scheme=scheme,
    )
