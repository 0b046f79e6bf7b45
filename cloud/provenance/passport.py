"""A unit's passport (pure): everything a consumer scan shows and judges about a unit
besides its scans, as one value with a JSON form.

Computed when the unit's custody or the channel behind it changes
(:mod:`cloud.provenance.passports`), stored as one ``unit_passports`` row and read in the
scan's one query (:mod:`cloud.provenance.scanread`): the custody timeline with its proof
links, the product, the places it passed (site names and GB/T 2260 regions), cold-chain
exposure per custody interval and in total, and the verdict's inputs about the unit
(:class:`~cloud.provenance.verdicts.UnitRecord`). Places are kept as codes and site names;
region names are looked up when a page is drawn, in the page's language.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud.provenance.coldchain import Exposure, StorageProfile
from cloud.provenance.geo import AuthorisedArea, Circle, GeoPoint
from cloud.provenance.verdicts import Sale, Shipment, UnitRecord, Whereabouts

__all__ = ["FORMAT", "Passport", "Stay", "Step"]

_logger = logging.getLogger(__name__)

#: Stored passports of another format are recomputed on read.
FORMAT = 1


@dataclass(frozen=True, slots=True)
class Step:
    """One custody event in the unit's journey."""

    ledger_index: int
    event_id: str
    time: datetime
    event_type: str
    biz_step: str | None
    action: str | None
    location: str | None  # the EPCIS location as the event names it
    site: str | None = None  # our site's name, when the location is mapped to one
    region: str | None = None  # the site's GB/T 2260 region
    via: str | None = None  # the container the event was about, when not the unit itself

    @property
    def proof_url(self) -> str:
        """The public proof page of this step (:mod:`cloud.provenance.proofpage`)."""
        return f"/proof/{self.ledger_index}"

    @property
    def bundle_url(self) -> str:
        """The full proof bundle (with the event: for callers who may see it)."""
        return f"/ledger/entries/{self.ledger_index}/bundle"


@dataclass(frozen=True, slots=True)
class Stay:
    """One custody interval: where (``None``: in transit) and its cold-chain exposure."""

    start: datetime
    end: datetime | None
    location: str | None
    site: str | None = None
    region: str | None = None
    exposure: Exposure | None = None


@dataclass(frozen=True, slots=True)
class Passport:
    tenant: str
    epc: str
    gtin: str
    lot: str | None
    serial: str | None
    unit: UnitRecord
    status: str | None = None  # units.status; None: issued, no custody event yet
    brand: str | None = None
    product_en: str | None = None
    product_zh: str | None = None
    profile: StorageProfile | None = None
    steps: tuple[Step, ...] = ()
    stays: tuple[Stay, ...] = ()
    exposure: Exposure | None = None  # over all stays
    computed_at: datetime | None = None
    exposure_through: datetime | None = None
    shipped_to_name: str | None = None  # the distributor's name
    # The passport's part of the page, drawn when it was computed (cloud.provenance.passportview)
    html: tuple[tuple[str, str], ...] = ()

    @property
    def proof_url(self) -> str | None:
        return self.steps[-1].proof_url if self.steps else None

    @property
    def open_interval(self) -> bool:
        return bool(self.stays) and self.stays[-1].end is None and self.stays[-1].site is not None

    def product(self, lang: str) -> str | None:
        if lang == "zh":
            return self.product_zh or self.product_en
        return self.product_en or self.product_zh

    # --- JSON ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        u = self.unit
        return {
            "format": FORMAT,
            "tenant": self.tenant,
            "epc": self.epc,
            "gtin": self.gtin,
            "lot": self.lot,
            "serial": self.serial,
            "status": self.status,
            "brand": self.brand,
            "product_en": self.product_en,
            "product_zh": self.product_zh,
            "profile": None
            if self.profile is None
            else [self.profile.min_celsius, self.profile.max_celsius],
            "unit": {
                "decommissioned_at": _t(u.decommissioned_at),
                "recalled_at": _t(u.recalled_at),
                "shipment": None if u.shipment is None else _shipment(u.shipment),
                "sale": None
                if u.sale is None
                else {"time": _t(u.sale.time), "point": _p(u.sale.point), "region": u.sale.region},
                "whereabouts": None if u.whereabouts is None else _whereabouts(u.whereabouts),
            },
            "shipped_to_name": self.shipped_to_name,
            "steps": [
                [s.ledger_index, s.event_id, _t(s.time), s.event_type, s.biz_step, s.action,
                 s.location, s.site, s.region, s.via]
                for s in self.steps
            ],
            "stays": [
                [_t(s.start), _t(s.end), s.location, s.site, s.region, _x(s.exposure)]
                for s in self.stays
            ],
            "exposure": _x(self.exposure),
            "computed_at": _t(self.computed_at),
            "exposure_through": _t(self.exposure_through),
            "html": dict(self.html),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Passport:
        """The passport of :meth:`to_json`; raises ``ValueError`` (or ``KeyError``,
        ``TypeError``) for anything else, including another :data:`FORMAT`."""
        if data.get("format") != FORMAT:
            raise ValueError(f"passport format {data.get('format')!r}, expected {FORMAT}")
        u = data["unit"]
        sale = u["sale"]
        unit = UnitRecord(
            epc=str(data["epc"]),
            decommissioned_at=_dt(u["decommissioned_at"]),
            shipment=None if u["shipment"] is None else _shipment_of(u["shipment"]),
            sale=None
            if sale is None
            else Sale(_req(sale["time"]), _point_of(sale["point"]), sale["region"]),
            recalled_at=_dt(u["recalled_at"]),
            whereabouts=None if u["whereabouts"] is None else _whereabouts_of(u["whereabouts"]),
        )
        steps = tuple(
            Step(int(s[0]), str(s[1]), _req(s[2]), str(s[3]), s[4], s[5], s[6], s[7], s[8], s[9])
            for s in data["steps"]
        )
        unit = UnitRecord(
            unit.epc, unit.decommissioned_at, unit.shipment, unit.sale,
            steps[-1].proof_url if steps else None, unit.recalled_at, unit.whereabouts,
        )  # fmt: skip
        profile = data["profile"]
        return cls(
            tenant=str(data["tenant"]),
            epc=str(data["epc"]),
            gtin=str(data["gtin"]),
            lot=data["lot"],
            serial=data["serial"],
            unit=unit,
            status=data["status"],
            brand=data["brand"],
            product_en=data["product_en"],
            product_zh=data["product_zh"],
            profile=None if profile is None else StorageProfile(profile[0], profile[1]),
            steps=steps,
            stays=tuple(
                Stay(_req(s[0]), _dt(s[1]), s[2], s[3], s[4], _exposure_of(s[5]))
                for s in data["stays"]
            ),
            exposure=_exposure_of(data["exposure"]),
            computed_at=_dt(data["computed_at"]),
            exposure_through=_dt(data["exposure_through"]),
            shipped_to_name=data["shipped_to_name"],
            html=tuple((str(k), str(v)) for k, v in (data.get("html") or {}).items()),
        )


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _req(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _p(point: GeoPoint | None) -> list[float] | None:
    return None if point is None else [point.lat, point.lon, point.accuracy_km]


def _point_of(value: Any) -> GeoPoint | None:
    return None if value is None else GeoPoint(float(value[0]), float(value[1]), float(value[2]))


def _shipment(s: Shipment) -> dict[str, Any]:
    return {
        "distributor": s.distributor,
        "regions": list(s.area.regions),
        "circles": [[c.centre.lat, c.centre.lon, c.radius_km] for c in s.area.circles],
    }


def _shipment_of(d: Mapping[str, Any]) -> Shipment:
    circles = tuple(Circle(GeoPoint(c[0], c[1]), c[2]) for c in d["circles"])
    return Shipment(str(d["distributor"]), AuthorisedArea(tuple(d["regions"]), circles))


def _whereabouts(w: Whereabouts) -> dict[str, Any]:
    return {
        "status": w.status,
        "site": w.site,
        "name": w.name,
        "point": _p(w.point),
        "region": w.region,
        "with_brand": w.with_brand,
    }


def _whereabouts_of(d: Mapping[str, Any]) -> Whereabouts:
    return Whereabouts(
        str(d["status"]), d["site"], d["name"], _point_of(d["point"]), d["region"],
        bool(d["with_brand"]),
    )  # fmt: skip


_EXPOSURE_FIELDS = (
    "total_minutes", "covered_minutes", "minutes_below", "minutes_above",
    "min_celsius", "max_celsius", "mean_celsius", "mkt_celsius",
)  # fmt: skip


def _x(e: Exposure | None) -> list[Any] | None:
    if e is None:
        return None
    return [_t(e.start), _t(e.end), *(getattr(e, f) for f in _EXPOSURE_FIELDS)]


def _exposure_of(value: Any) -> Exposure | None:
    if value is None:
        return None
    start, end, *rest = value
    return Exposure(_req(start), _req(end), *rest)
