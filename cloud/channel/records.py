"""The records of a brand's channel and how raw values (a JSON body, a CSV cell, a form
field) become them: every refused value is a :class:`FieldProblem` saying which field,
what was expected and what was got, and every problem of a record is reported at once.

Pure: the only data consulted is the offline geocoder's administrative divisions (which
region codes exist, and which region a site's coordinates fall in). Whether a referenced
distributor or site exists is the store's question (:mod:`cloud.channel.store`).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from cloud.channel.errors import FieldProblem, InvalidRecord, RegionCodeError
from cloud.channel.geocode import Geocoder
from cloud.channel.regions import covers
from wire.errors import IdentifierError
from wire.gs1 import check_company_prefix, check_digit

__all__ = [
    "FIELDS",
    "ID_PATTERN",
    "Distributor",
    "Kind",
    "Location",
    "Party",
    "Prefix",
    "Product",
    "Record",
    "Site",
    "parse_record",
    "record_key",
]

ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ID_RULE = "an id of 1–64 letters, digits, '_', '.' or '-' starting with a letter or digit"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{4,30}")
_SGLN_URN = re.compile(r"urn:epc:id:sgln:([0-9]{6,12})\.([0-9]{0,6})\.([!-~]{1,20})")
_PGLN_URN = re.compile(r"urn:epc:id:pgln:([0-9]{6,12})\.([0-9]{0,6})")
_GLN_LINK = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[^/?#]+)*?/(414|417)/([0-9]{13})"
                       r"(?:/254/([!-~]{1,20}))?")  # fmt: skip
_MAX_TEXT = 200
_MAX_ADDRESS = 500


class Kind(enum.StrEnum):
    """The kinds of channel record, in the order an import applies them."""

    PREFIX = "prefix"
    DISTRIBUTOR = "distributor"
    SITE = "site"
    PRODUCT = "product"
    LOCATION = "location"
    PARTY = "party"

    @property
    def plural(self) -> str:
        return {Kind.PARTY: "parties", Kind.PREFIX: "prefixes"}.get(self, f"{self.value}s")


@dataclass(frozen=True, slots=True)
class Prefix:
    """A GS1 company prefix the brand owns (:mod:`cloud.provenance.prefixes` keeps them)."""

    prefix: str


@dataclass(frozen=True, slots=True)
class Distributor:
    id: str
    name: str
    parent_id: str | None = None
    regions: tuple[str, ...] = ()  # GB/T 2260 province or city codes
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    region: str | None = None  # GB/T 2260; derived from the coordinates when not given
    distributor_id: str | None = None  # the operator; None: the brand's own site


@dataclass(frozen=True, slots=True)
class Product:
    gtin: str
    name_en: str | None = None
    name_zh: str | None = None
    temp_min_c: float | None = None
    temp_max_c: float | None = None
    humidity_min_pct: float | None = None
    humidity_max_pct: float | None = None

    @property
    def name(self) -> str:
        """What every page shows: the English name, else the Chinese one."""
        return self.name_en or self.name_zh or self.gtin


@dataclass(frozen=True, slots=True)
class Location:
    """An EPCIS location (SGLN URN or GS1 Digital Link) that is one of our sites."""

    location: str
    site_id: str


@dataclass(frozen=True, slots=True)
class Party:
    """An EPCIS party (PGLN URN or GS1 Digital Link) that is one of our distributors."""

    party: str
    distributor_id: str


Record = Prefix | Distributor | Site | Product | Location | Party
_TYPES: Final[dict[Kind, type[Any]]] = {
    Kind.PREFIX: Prefix,
    Kind.DISTRIBUTOR: Distributor,
    Kind.SITE: Site,
    Kind.PRODUCT: Product,
    Kind.LOCATION: Location,
    Kind.PARTY: Party,
}
# Field names per kind, in the order of import columns and forms.
FIELDS: Final[dict[Kind, tuple[str, ...]]] = {
    kind: tuple(t.__dataclass_fields__) for kind, t in _TYPES.items()
}
_KEYS: Final = {
    Kind.PREFIX: "prefix",
    Kind.DISTRIBUTOR: "id",
    Kind.SITE: "id",
    Kind.PRODUCT: "gtin",
    Kind.LOCATION: "location",
    Kind.PARTY: "party",
}


def record_key(kind: Kind, record: Record | Mapping[str, Any]) -> str:
    """The key of a record of ``kind`` (distributor and site id, GTIN, location, party)."""
    field = _KEYS[kind]
    value = record.get(field) if isinstance(record, Mapping) else getattr(record, field)
    return str(value)


def as_dict(record: Record) -> dict[str, Any]:
    data = asdict(record)
    if isinstance(record, Distributor):
        data["regions"] = list(record.regions)
    return data


# ----------------------------------------------------------------------------- values


class _Fields:
    """Reads one record's raw values, collecting problems instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.problems: list[FieldProblem] = []

    def problem(self, field: str, expected: str, got: Any) -> None:
        """``got`` is the refused value (shown quoted; ``None`` reads "nothing")."""
        self.problems.append(FieldProblem(field, expected, _shown(got)))

    def said(self, field: str, expected: str, got: str) -> None:
        """``got`` described in words rather than quoted."""
        self.problems.append(FieldProblem(field, expected, got))

    def _blank(self, field: str) -> bool:
        value = self.raw.get(field)
        return value is None or (isinstance(value, str) and not value.strip())

    def text(
        self, field: str, *, required: bool = False, limit: int = _MAX_TEXT
    ) -> str | None:
        value = self.raw.get(field)
        if self._blank(field):
            if required:
                self.problem(field, "a value", None)
            return None
        if not isinstance(value, str | int):
            self.problem(field, "text", value)
            return None
        text = str(value).strip()
        if "\x00" in text or any(ord(c) < 32 for c in text):
            self.problem(field, "text without control characters", text)
            return None
        if len(text) > limit:
            self.said(field, f"at most {limit} characters", f"{len(text)} characters")
            return None
        return text

    def ident(self, field: str, *, required: bool = False) -> str | None:
        value = self.text(field, required=required, limit=64)
        if value is not None and not ID_PATTERN.fullmatch(value):
            self.problem(field, _ID_RULE, value)
            return None
        return value

    def number(self, field: str, lo: float, hi: float, what: str) -> float | None:
        value = self.raw.get(field)
        if self._blank(field):
            return None
        try:
            number = float(str(value).strip().replace(",", ".")) if isinstance(
                value, str
            ) else float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.problem(field, f"a number ({what})", value)
            return None
        if isinstance(value, bool) or not math.isfinite(number) or not lo <= number <= hi:
            self.problem(field, f"a number from {lo:g} to {hi:g} ({what})", value)
            return None
        return number

    def listed(self, field: str) -> list[str]:
        """A list: a JSON array, or text separated by ';', ',', '|' or spaces."""
        value = self.raw.get(field)
        if self._blank(field):
            return []
        if isinstance(value, list | tuple):
            items = [str(v).strip() for v in value]
        elif isinstance(value, str | int):
            items = re.split(r"[;,|\s]+", str(value).strip())
        else:
            self.problem(field, "a list of codes", value)
            return []
        return [i for i in items if i]


def _shown(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, int | float | bool):
        return repr(value)
    return f"a {type(value).__name__}"


def _distributor(f: _Fields, geocoder: Geocoder) -> Distributor | None:
    ident = f.ident("id", required=True)
    name = f.text("name", required=True)
    parent = f.ident("parent_id")
    if ident is not None and parent == ident:
        f.problem("parent_id", "another distributor (it buys from its parent)", parent)
    regions: list[str] = []
    for code in f.listed("regions"):
        try:
            regions.append(geocoder.authorisable(code).code)
        except RegionCodeError as exc:
            f.problems.append(FieldProblem("regions", _expected_of(exc), repr(code)))
    phone = f.text("contact_phone", limit=40)
    if phone is not None and not _PHONE.fullmatch(phone):
        f.problem("contact_phone", "a telephone number (digits, spaces, +, -, parentheses)", phone)
    email = f.text("contact_email", limit=254)
    if email is not None and not _EMAIL.fullmatch(email):
        f.problem("contact_email", "an e-mail address like name@example.com", email)
    if f.problems or ident is None or name is None:
        return None
    return Distributor(
        ident, name, parent, tuple(dict.fromkeys(regions)), f.text("contact_name"), phone, email
    )


def _expected_of(exc: RegionCodeError) -> str:
    message = str(exc)
    head = message.split(", got ", 1)[0]
    return head.removeprefix("expected ") if head.startswith("expected ") else message


def _site(f: _Fields, geocoder: Geocoder) -> Site | None:
    ident = f.ident("id", required=True)
    name = f.text("name", required=True)
    address = f.text("address", limit=_MAX_ADDRESS)
    lat = f.number("latitude", -90, 90, "degrees north, WGS-84")
    lon = f.number("longitude", -180, 180, "degrees east, WGS-84")
    given = (f.raw.get("latitude") not in (None, ""), f.raw.get("longitude") not in (None, ""))
    if given[0] != given[1]:
        f.said(
            "longitude" if given[0] else "latitude", "both latitude and longitude, or neither",
            "only one of them",
        )  # fmt: skip
    region = f.text("region", limit=16)
    if region is not None:
        try:
            info = geocoder.region(region)
            if info is None:
                raise RegionCodeError(f"expected a GB/T 2260 code that exists, got {region!r}")
            region = info.code
        except RegionCodeError as exc:
            f.problems.append(FieldProblem("region", _expected_of(exc), repr(region)))
            region = None
    if lat is not None and lon is not None:
        place = geocoder.locate(lat, lon)
        if place is None:
            swapped = geocoder.locate(lon, lat) if abs(lon) <= 90 else None
            f.said(
                "latitude",
                "a point in China (latitude and longitude swapped?)" if swapped else
                "a point in China (WGS-84 degrees)",
                f"{lat:g}, {lon:g}",
            )  # fmt: skip
        elif region is None and "region" not in {p.field for p in f.problems}:
            region = (place.city or place.province).code
        elif region is not None and not covers(region, place.code):
            f.problem(
                "region",
                f"the region of the coordinates ({place.label}, {place.code}) or one "
                "containing it",
                region,
            )
    operator = f.ident("distributor_id")
    if f.problems or ident is None or name is None:
        return None
    return Site(ident, name, address, lat, lon, region, operator)


def _gtin(f: _Fields) -> str | None:
    value = f.text("gtin", required=True, limit=20)
    if value is None:
        return None
    digits = value.replace(" ", "")
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        f.problem("gtin", "a GTIN of 8, 12, 13 or 14 digits", value)
        return None
    gtin = digits.zfill(14)
    expected = check_digit(gtin[:13])
    if int(gtin[13]) != expected:
        f.said("gtin", f"check digit {expected} (GS1 mod 10)", f"{value} ending in {gtin[13]}")
        return None
    return gtin


def _product(f: _Fields, _geocoder: Geocoder) -> Product | None:
    gtin = _gtin(f)
    name_en = f.text("name_en")
    name_zh = f.text("name_zh")
    named = any(p.field.startswith("name") for p in f.problems)
    if name_en is None and name_zh is None and not named:
        f.problem("name_en", "a name in English or Chinese (name_en or name_zh)", None)
    t_lo = f.number("temp_min_c", -80, 80, "°C")
    t_hi = f.number("temp_max_c", -80, 80, "°C")
    h_lo = f.number("humidity_min_pct", 0, 100, "% relative humidity")
    h_hi = f.number("humidity_max_pct", 0, 100, "% relative humidity")
    if t_lo is not None and t_hi is not None and t_lo > t_hi:
        f.problem("temp_max_c", f"at least temp_min_c ({t_lo:g})", t_hi)
    if h_lo is not None and h_hi is not None and h_lo > h_hi:
        f.problem("humidity_max_pct", f"at least humidity_min_pct ({h_lo:g})", h_hi)
    if f.problems or gtin is None:
        return None
    return Product(gtin, name_en, name_zh, t_lo, t_hi, h_lo, h_hi)


def _gln_ok(prefix: str, reference: str) -> bool:
    return len(prefix) + len(reference) == 12


def _location(f: _Fields, _geocoder: Geocoder) -> Location | None:
    location = f.text("location", required=True, limit=512)
    if location is not None:
        urn = _SGLN_URN.fullmatch(location)
        link = _GLN_LINK.fullmatch(location)
        if urn is not None and not _gln_ok(urn.group(1), urn.group(2)):
            f.problem("location", "an SGLN whose company prefix and location reference have "
                      "12 digits together", location)  # fmt: skip
        elif link is not None and (link.group(1) != "414" or not _gln13(link.group(2))):
            f.problem("location", "a Digital Link with /414/ and a GLN-13 with its check digit",
                      location)  # fmt: skip
        elif urn is None and link is None:
            f.problem(
                "location",
                "an SGLN URN (urn:epc:id:sgln:9506000.00020.0) or a GS1 Digital Link with /414/",
                location,
            )
    site = f.ident("site_id", required=True)
    if f.problems or location is None or site is None:
        return None
    return Location(location, site)


def _party(f: _Fields, _geocoder: Geocoder) -> Party | None:
    party = f.text("party", required=True, limit=512)
    if party is not None:
        urn = _PGLN_URN.fullmatch(party)
        link = _GLN_LINK.fullmatch(party)
        if urn is not None and not _gln_ok(urn.group(1), urn.group(2)):
            f.problem("party", "a PGLN whose company prefix and party reference have 12 "
                      "digits together", party)  # fmt: skip
        elif link is not None and (link.group(1) != "417" or not _gln13(link.group(2))):
            f.problem("party", "a Digital Link with /417/ and a GLN-13 with its check digit",
                      party)  # fmt: skip
        elif urn is None and link is None:
            f.problem(
                "party",
                "a PGLN URN (urn:epc:id:pgln:9506000.00001) or a GS1 Digital Link with /417/",
                party,
            )
    distributor = f.ident("distributor_id", required=True)
    if f.problems or party is None or distributor is None:
        return None
    return Party(party, distributor)


def _gln13(digits: str) -> bool:
    return check_digit(digits[:12]) == int(digits[12])


def _prefix(f: _Fields, _geocoder: Geocoder) -> Prefix | None:
    value = f.text("prefix", required=True, limit=40)
    if value is None:
        return None
    try:
        check_company_prefix(value)
    except IdentifierError as exc:
        f.said("prefix", "a GS1 company prefix of 6 to 12 digits, as GS1 assigned it",
               str(exc).split("; got ")[-1] if "; got " in str(exc) else str(exc))  # fmt: skip
        return None
    return Prefix(value)


_PARSERS: Final[dict[Kind, Callable[[_Fields, Geocoder], Record | None]]] = {
    Kind.PREFIX: _prefix,
    Kind.DISTRIBUTOR: _distributor,
    Kind.SITE: _site,
    Kind.PRODUCT: _product,
    Kind.LOCATION: _location,
    Kind.PARTY: _party,
}


def parse_record(kind: Kind, raw: Mapping[str, Any], geocoder: Geocoder) -> Record:
    """The record of ``kind`` from raw values; :class:`InvalidRecord` lists every problem.

    Unknown fields with a value are refused (a misspelt column must not be silently
    ignored); empty ones are not (one sheet may hold several kinds)."""
    f = _Fields(raw)
    for name, value in raw.items():
        if name not in FIELDS[kind] and value not in (None, ""):
            f.said(str(name), f"one of the {kind.value} fields {', '.join(FIELDS[kind])}",
                   "an unknown field")  # fmt: skip
    record = _PARSERS[kind](f, geocoder)
    if f.problems or record is None:
        key = raw.get(_KEYS[kind])
        what = f"{kind.value} {key!r}" if isinstance(key, str) and key else kind.value
        raise InvalidRecord(what, f.problems)
    return record
