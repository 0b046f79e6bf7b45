"""Brands in PostgreSQL: code keys, issued trace codes, verdict thresholds, channel mapping.

The resolver needs only public keys (``brand_keys``); private keys stay offline with the
brand (:mod:`cloud.provenance.keys`). Issued codes are recorded so that a validly signed but
never-issued serial (a leaked key) is still counterfeit, and so that issuance never reuses
a serial. EPCIS locations and parties are mapped to our sites and distributors, which is
how custody meets readings (cold chain) and authorised areas (diversion).
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloud.provenance.clone import EARLY_CLIENTS, RECENT_SCANS, Thresholds
from cloud.provenance.errors import IssuanceError, ProvenanceStoreError, VerdictInputError
from cloud.provenance.geo import AuthorisedArea, Circle, GeoPoint
from cloud.provenance.issue import IssuedCode
from cloud.provenance.keys import BrandKey, Keyring
from cloud.provenance.prefixes import owner_of
from wire.digital_link import DigitalLink
from wire.epc import CANONICAL_RESOLVER
from wire.gs1 import Gtin

__all__ = [
    "ThresholdSettings",
    "authorised_area",
    "brand_keyring",
    "brand_thresholds",
    "issued_serials",
    "map_location",
    "map_party",
    "parse_thresholds",
    "record_issued_codes",
    "register_brand_key",
    "set_thresholds",
    "unit_epc",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


def unit_epc(link: DigitalLink) -> str:
    """The canonical EPC of a trace code's unit (GTIN + serial on ``id.gs1.org``, no lot)."""
    return _unit_epc(link.gtin.value, link.serial)


@functools.lru_cache(maxsize=65_536)  # a scan asks twice; a unit is scanned again
def _unit_epc(gtin: str, serial: str | None) -> str:
    return DigitalLink(CANONICAL_RESOLVER, Gtin(gtin), serial=serial).uri


def register_brand_key(conn: Conn, tenant: str, key: BrandKey) -> None:
    """Publish a brand's public key to resolvers (idempotent; revocation is kept)."""
    revoked = None if key.revoked is None else datetime.fromisoformat(key.revoked)
    row = conn.execute(
        "INSERT INTO brand_keys (kid, tenant_id, public_key, revoked_at) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (kid) DO UPDATE SET revoked_at = coalesce(brand_keys.revoked_at,"
        " EXCLUDED.revoked_at) RETURNING tenant_id, public_key",
        (key.kid, tenant, key.public_key, revoked),
    ).fetchone()
    if row is None or (row[0], row[1]) != (tenant, key.public_key):
        raise ProvenanceStoreError(f"key id {key.kid} is already registered to another key/brand")


def brand_keyring(conn: Conn, kid: str) -> tuple[Keyring, str | None]:
    """The keyring holding key ``kid`` (empty if unknown) and the brand that owns it."""
    row = conn.execute(
        "SELECT tenant_id, public_key, created_at, revoked_at FROM brand_keys WHERE kid = %s",
        (kid,),
    ).fetchone()
    if row is None:
        return Keyring(), None
    revoked = None if row[3] is None else row[3].isoformat()
    return Keyring((BrandKey(kid, row[1], row[2].isoformat(), revoked),)), str(row[0])


def _check_issuer(conn: Conn, tenant: str, gtin: str, kid: str) -> None:
    """A brand issues codes for its own GTINs, signed with its own key."""
    owner = owner_of(conn, gtin[1:13])
    if owner != tenant:
        raise IssuanceError(
            f"GTIN {gtin} is not under a company prefix registered to {tenant}: register the "
            "prefix first (channeltrace cloud prefixes add)"
            if owner is None
            else f"GTIN {gtin} is under a company prefix of another brand"
        )
    row = conn.execute("SELECT tenant_id FROM brand_keys WHERE kid = %s", (kid,)).fetchone()
    if row is None or row[0] != tenant:
        raise IssuanceError(f"key {kid} is not a registered code key of {tenant}")


def record_issued_codes(
    conn: Conn, tenant: str, batch: str, codes: Iterable[IssuedCode], lot: str
) -> int:
    """Record a batch of issued codes (COPY); a serial issued before is refused, and so is a
    code whose GTIN is not under the tenant's prefixes or whose key is not the tenant's."""
    count = 0
    items = iter(codes)
    first = next(items, None)
    if first is None:
        return 0
    issuer = (first.link.gtin.value, first.code.kid)
    _check_issuer(conn, tenant, *issuer)  # before COPY: the connection is busy during it
    try:
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(
                "COPY trace_codes (gtin, serial, tenant_id, lot, kid, batch, epc) FROM STDIN"
            ) as copy,
        ):
            for code in itertools.chain((first,), items):
                link = code.link
                if (link.gtin.value, code.code.kid) != issuer:
                    raise IssuanceError(
                        f"batch {batch}: one GTIN and one key per batch; {code.serial} has "
                        f"{link.gtin.value}/{code.code.kid}, the batch {issuer[0]}/{issuer[1]}"
                    )
                copy.write_row(
                    (
                        link.gtin.value,
                        code.serial,
                        tenant,
                        lot,
                        code.code.kid,
                        batch,
                        unit_epc(link),
                    )
                )
                count += 1
    except psycopg.errors.UniqueViolation as exc:
        raise ProvenanceStoreError(f"batch {batch}: a serial was already issued ({exc})") from None
    except psycopg.Error as exc:
        raise ProvenanceStoreError(f"recording batch {batch} failed: {exc}") from exc
    _logger.info("recorded %d codes of batch %s for %s", count, batch, tenant)
    return count


def issued_serials(conn: Conn, tenant: str, gtin: str) -> set[str]:
    """Serials ``tenant`` already issued for ``gtin`` (pass as ``existing`` to issuance)."""
    return {
        r[0]
        for r in conn.execute(
            "SELECT serial FROM trace_codes WHERE tenant_id = %s AND gtin = %s", (tenant, gtin)
        )
    }


class ThresholdSettings(BaseModel):
    """A brand's thresholds as stored in ``brand_settings.thresholds`` (JSON numbers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_speed_kmh: float = Field(default=900.0, gt=0)
    min_distance_km: float = Field(default=50.0, gt=0)
    home_radius_km: float = Field(default=25.0, gt=0)
    places_window_days: float = Field(default=30.0, gt=0)
    max_places_per_window: int = Field(default=4, ge=1, lt=RECENT_SCANS)
    count_window_hours: float = Field(default=24.0, gt=0)
    max_scans_per_window: int = Field(default=30, ge=1, lt=RECENT_SCANS)
    min_independent_clients: int = Field(default=2, ge=2, le=EARLY_CLIENTS)
    custody_radius_km: float = Field(default=300.0, gt=0)

    def thresholds(self) -> Thresholds:
        return Thresholds(
            max_speed_kmh=self.max_speed_kmh,
            min_distance_km=self.min_distance_km,
            home_radius_km=self.home_radius_km,
            places_window=timedelta(days=self.places_window_days),
            max_places_per_window=self.max_places_per_window,
            count_window=timedelta(hours=self.count_window_hours),
            max_scans_per_window=self.max_scans_per_window,
            min_independent_clients=self.min_independent_clients,
            custody_radius_km=self.custody_radius_km,
        )


def parse_thresholds(data: Mapping[str, Any]) -> Thresholds:
    try:
        return ThresholdSettings.model_validate(dict(data)).thresholds()
    except ValidationError as exc:
        raise VerdictInputError(f"invalid thresholds: {exc}") from None
    except OverflowError:  # a window too long for a timedelta (found by API fuzzing)
        raise VerdictInputError(
            f"invalid thresholds: a window is longer than {timedelta.max.days} days"
        ) from None


def set_thresholds(conn: Conn, tenant: str, data: Mapping[str, Any]) -> Thresholds:
    """Validate and store a brand's thresholds (unknown keys and bad values refused)."""
    limits = parse_thresholds(data)
    stored = ThresholdSettings.model_validate(dict(data)).model_dump_json(exclude_defaults=True)
    conn.execute(
        "INSERT INTO brand_settings (tenant_id, thresholds) VALUES (%s, %s::jsonb)"
        " ON CONFLICT (tenant_id) DO UPDATE SET thresholds = EXCLUDED.thresholds,"
        " updated_at = now()",
        (tenant, stored),
    )
    return limits


def brand_thresholds(conn: Conn, tenant: str | None) -> Thresholds:
    """The brand's thresholds, the defaults when it set none (or the brand is unknown)."""
    if tenant is None:
        return Thresholds()
    row = conn.execute(
        "SELECT thresholds FROM brand_settings WHERE tenant_id = %s", (tenant,)
    ).fetchone()
    if row is None:
        return Thresholds()
    try:
        return parse_thresholds(row[0])
    except VerdictInputError as exc:
        _logger.warning("brand %s: stored thresholds unusable (%s); using defaults", tenant, exc)
        return Thresholds()


def map_location(conn: Conn, location: str, tenant: str, site: str) -> None:
    """Say that the EPCIS location ``location`` (SGLN URN or Digital Link) is our site."""
    conn.execute(
        "INSERT INTO epcis_locations (location, tenant_id, site_id) VALUES (%s, %s, %s)"
        " ON CONFLICT (tenant_id, location) DO UPDATE SET site_id = EXCLUDED.site_id",
        (location, tenant, site),
    )


def map_party(conn: Conn, party: str, tenant: str, distributor: str) -> None:
    """Say that the EPCIS party ``party`` (e.g. a PGLN URN) is our distributor."""
    conn.execute(
        "INSERT INTO epcis_parties (party, tenant_id, distributor_id) VALUES (%s, %s, %s)"
        " ON CONFLICT (tenant_id, party) DO UPDATE SET distributor_id = EXCLUDED.distributor_id",
        (party, tenant, distributor),
    )


def authorised_area(
    conn: Conn, tenant: str, party: str | None, location: str | None
) -> tuple[str, AuthorisedArea] | None:
    """The ``tenant``'s distributor a unit was shipped to (by owning party, else by
    destination site's distributor) and its authorised area; ``None`` when unknown or it
    has no area."""
    row = conn.execute(
        "SELECT d.id, d.regions, d.authorised_circles FROM distributors d"
        " LEFT JOIN epcis_parties p ON (p.tenant_id, p.distributor_id) = (d.tenant_id, d.id)"
        " LEFT JOIN epcis_locations l"
        "   ON l.tenant_id = %(tenant)s AND l.location = %(location)s"
        " LEFT JOIN sites s ON (s.tenant_id, s.id) = (l.tenant_id, l.site_id)"
        " WHERE d.tenant_id = %(tenant)s AND (p.party = %(party)s"
        "    OR (s.distributor_id = d.id AND s.tenant_id = d.tenant_id))"
        " ORDER BY (p.party = %(party)s) DESC NULLS LAST LIMIT 1",
        {"tenant": tenant, "party": party, "location": location},
    ).fetchone()
    if row is None:
        return None
    try:
        circles = tuple(
            Circle(GeoPoint(float(c["lat"]), float(c["lon"])), float(c["radius_km"]))
            for c in row[2]
        )
        regions = tuple(row[1])
        if not regions and not circles:
            return None
        return str(row[0]), AuthorisedArea(regions, circles)
    except (VerdictInputError, KeyError, TypeError, ValueError) as exc:
        _logger.warning("distributor %s: authorised area unusable: %s", row[0], exc)
        return None
