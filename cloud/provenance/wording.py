"""What a verdict means for a shopper, in plain words, in the page's language.

The verdict's own reasons are written for the brand (speeds, key ids, region codes); a
shopper needs to know what happened and what to do: "this code was already scanned in
Chengdu 40 minutes ago — check the seal". Every sentence here is a message of the
catalog (:mod:`cloud.provenance.i18n`) with named values, so both languages say the same.
Places are city names (:mod:`cloud.provenance.placenames`), times in the page's zone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud.provenance.clone import CountEvidence, PlacesEvidence, Scan, TravelEvidence
from cloud.provenance.i18n import Formatter, translations
from cloud.provenance.placenames import place_name
from cloud.provenance.verdicts import CustodyEvidence, DiversionEvidence, Finding, Verdict

__all__ = ["Wording", "explain"]

_logger = logging.getLogger(__name__)

_TONE = {
    "genuine": "ok",
    "genuine_seen_before": "ok",
    "inconsistent_custody": "warn",
    "suspected_clone": "warn",
    "suspected_diversion": "warn",
    "recalled": "bad",
    "counterfeit": "bad",
}


@dataclass(frozen=True, slots=True)
class Wording:
    tone: str  # ok, warn, bad
    headline: str
    what: tuple[str, ...]  # what happened, one sentence each
    todo: tuple[str, ...]  # what to do
    unconfirmed: str | None = None


class _Words:
    def __init__(self, lang: str, fmt: Formatter) -> None:
        self.t = translations(lang)
        self.lang = lang
        self.fmt = fmt

    def __call__(self, message: str, **values: Any) -> str:
        return self.t.gettext(message) % values if values else self.t.gettext(message)

    def place(self, scan: Scan | None = None, region: str | None = None) -> str:
        code = region if scan is None else scan.region
        name = place_name(code, self.lang)
        if name is None and scan is not None and scan.point is not None:
            return self.t.gettext("a place at %(lat)s, %(lon)s") % {
                "lat": f"{scan.point.lat:.2f}", "lon": f"{scan.point.lon:.2f}"
            }
        return name or self.t.gettext("an unknown place")


def explain(  # noqa: PLR0911 - one answer per verdict kind
    verdict: Verdict,
    lang: str,
    fmt: Formatter,
    *,
    now: datetime,
    brand: str | None = None,
    distributor: str | None = None,
) -> Wording:
    """The verdict in plain words (``distributor``: the name of the one it was shipped to)."""
    _ = _Words(lang, fmt)
    top = verdict.findings[0]
    kind = verdict.kind.value
    tone = _TONE[kind]
    unconfirmed = None
    if not verdict.confirmed:
        unconfirmed = _(
            "Only one phone has reported this so far, so it is not confirmed. The brand has "
            "been told and will look into it."
        )
    if kind == "counterfeit":
        return Wording(tone, *_counterfeit(_, top, fmt, brand), unconfirmed)
    if kind == "recalled":
        return Wording(
            tone,
            _("Recalled: do not use this product"),
            (_("The brand recalled this product. It is genuine, but it must not be used."),),
            (_("Do not use or consume it. Take it back to the shop for a refund."),),
        )
    if kind == "suspected_clone":
        return Wording(tone, *_clone(_, top, fmt, now), unconfirmed)
    if kind == "suspected_diversion":
        return Wording(tone, *_diversion(_, top, distributor), unconfirmed)
    if kind == "inconsistent_custody":
        return Wording(tone, *_custody(_, top, fmt))
    if kind == "genuine_seen_before":
        first = verdict.first_scan
        when = fmt.date_time(first)
        return Wording(
            tone,
            _("Genuine product"),
            (
                _("This code was issued by the brand. It has been checked %(count)s time(s) "
                  "before, first on %(when)s.", count=fmt.number(verdict.previous_scans),
                  when=when),
            ),
            (
                _("If you have just bought it and nobody scanned it before you, check that "
                  "the seal is intact and ask the seller about it."),
            ),
        )
    return Wording(
        tone,
        _("Genuine product"),
        (_("This code was issued by the brand, and this is the first time it has been "
           "checked."),),
        (_("Keep this page: the journey below shows where the product has been."),),
    )


def _counterfeit(
    _: _Words, top: Finding, fmt: Formatter, brand: str | None
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    report = _("Do not use it. Keep the receipt, and report it to the brand with the form "
               "below.")  # fmt: skip
    if top.code == "malformed":
        return (
            _("We could not check this code"),
            (_("The code is incomplete or damaged: it does not carry the brand's signature."),),
            (
                _("Scan the code on the pack again, holding the phone steady."),
                _("If this keeps happening, the code was not printed by the brand: do not "
                  "buy or use the product."),
            ),
        )
    if top.code == "decommissioned":
        return (
            _("Not genuine: this code was withdrawn"),
            (_("The brand recorded the product with this code as destroyed, so a product "
               "carrying it is not the original."),),
            (report,),
        )
    if top.code == "revoked_key":
        return (
            _("Not genuine: the brand no longer accepts this code"),
            (_("The code was signed with a key the brand has withdrawn."),),
            (report,),
        )
    who = brand or _("the brand")
    return (
        _("Not genuine: the brand did not issue this code"),
        (_("%(brand)s has no record of issuing this code. The product is probably fake.",
           brand=who),),
        (report,),
    )


def _clone(
    _: _Words, top: Finding, fmt: Formatter, now: datetime
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    headline = _("Warning: this code may have been copied")
    seal = _("Check that the seal and the packaging are intact, and buy only from "
             "authorised shops.")  # fmt: skip
    e = top.evidence
    if isinstance(e, TravelEvidence):
        other = e.first
        what = _(
            "This code was already scanned in %(place)s %(ago)s ago, too far from here for "
            "the same pack to have travelled. Someone may have copied the code.",
            place=_.place(other), ago=fmt.duration(now - other.time),
        )  # fmt: skip
        return headline, (what,), (seal,)
    if isinstance(e, PlacesEvidence):
        what = _(
            "This code has been scanned in %(places)s different places within %(days)s "
            "days; one pack does not travel like that. Someone may have copied the code.",
            places=fmt.number(e.places), days=fmt.number((e.end - e.start).days or 1),
        )  # fmt: skip
        return headline, (what,), (seal,)
    if isinstance(e, CountEvidence):
        what = _(
            "This code has been scanned %(count)s times within a day; one pack is not "
            "checked that often. Someone may have copied the code.",
            count=fmt.number(e.scans),
        )  # fmt: skip
        return headline, (what,), (seal,)
    return (
        headline,
        (_("The brand has found copies of this code before. This pack may be one of them."),),
        (seal,),
    )


def _diversion(
    _: _Words, top: Finding, distributor: str | None
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    e = top.evidence
    area, place, sold = "", _("an unknown place"), False
    if isinstance(e, DiversionEvidence):
        joiner = "、" if _.lang == "zh" else ", "
        area = joiner.join(place_name(c, _.lang) or c for c in e.area.regions[:3])
        if e.region or e.point:
            place = _.place(Scan(e.time, e.point, e.region))
        sold = e.basis == "sale"
    seller = distributor or _("an authorised distributor")
    if sold:
        what = _("This product is genuine. It was meant to be sold in %(area)s by %(seller)s, "
                 "but it was sold in %(place)s.", area=area or _("another region"),
                 seller=seller, place=place)  # fmt: skip
    else:
        what = _("This product is genuine. It was meant to be sold in %(area)s by %(seller)s, "
                 "but it was first scanned in %(place)s.", area=area or _("another region"),
                 seller=seller, place=place)  # fmt: skip
    return (
        _("Genuine, but sold outside its authorised region"),
        (what,),
        (_("The shop may not be an authorised dealer: the brand's warranty and after-sales "
           "service may not apply. Keep your receipt."),),
    )


def _custody(
    _: _Words, top: Finding, fmt: Formatter
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    e = top.evidence
    ask = _("Ask the seller where the product came from, and keep your receipt.")
    headline = _("Genuine code, but the brand's records do not match this scan")
    if top.code == "never_shipped":
        return (
            headline,
            (_("The brand's records say this product has not left the brand's warehouse "
               "yet, so it should not be on sale."),),
            (ask,),
        )
    if isinstance(e, CustodyEvidence) and e.distance_km is not None:
        what = _("The brand's records place this product at a warehouse %(km)s km from "
                 "here.", km=fmt.number(e.distance_km))  # fmt: skip
    else:
        what = _("The brand's records place this product in another region.")
    return headline, (what,), (ask,)
