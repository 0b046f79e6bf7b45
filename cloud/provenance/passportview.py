"""The passport's part of the verdict page (product, journey, storage conditions), drawn
when the passport is computed, not per scan.

A passport is computed when the unit's custody or the channel behind it changes
(:mod:`cloud.provenance.passports`); so is its presentation: :func:`fragments` renders this
part of the page in every language (``templates/passport.html``) and the passport keeps
it, marked with :data:`PRESENTATION` (a digest of the templates and catalogs) and the time
zone it was drawn in. A scan then draws only its verdict around it; a fragment of another
presentation or zone is drawn again at the scan (and not kept).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any, Final

from cloud.provenance.i18n import (
    LANGUAGES,
    LOCALE_DIR,
    TEMPLATE_DIR,
    Formatter,
    render,
    translations,
)
from cloud.provenance.passport import Passport, Stay
from cloud.provenance.placenames import place_name

__all__ = ["N_", "PRESENTATION", "fragment", "fragments"]

_logger = logging.getLogger(__name__)


def _digest() -> str:
    h = hashlib.sha256()
    for path in sorted([*TEMPLATE_DIR.glob("*.html"), *LOCALE_DIR.glob("*/LC_MESSAGES/*.mo")]):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


#: What a stored fragment was drawn with: templates and catalogs of this build.
PRESENTATION: Final = _digest()


def N_(message: str) -> str:
    """Marks ``message`` for the catalog; translated where it is shown."""
    return message


_STEPS: Final = {
    "commissioning": N_("Made and coded"),
    "packing": N_("Packed"),
    "unpacking": N_("Unpacked"),
    "shipping": N_("Shipped"),
    "departing": N_("Shipped"),
    "receiving": N_("Received at a warehouse"),
    "arriving": N_("Arrived"),
    "accepting": N_("Received at a warehouse"),
    "storing": N_("Stored"),
    "retail_selling": N_("Sold in a shop"),
    "decommissioning": N_("Withdrawn"),
    "inspecting": N_("Inspected"),
}
_OTHER_STEP: Final = N_("Recorded")


def _place(site: str | None, region: str | None, lang: str) -> str | None:
    city = place_name(region, lang)
    if site and city:
        return f"{site}, {city}" if lang == "en" else f"{city} {site}"
    return site or city


def _stay_line(stay: Stay, passport: Passport, lang: str, fmt: Formatter) -> str | None:
    t = translations(lang)
    x = stay.exposure
    if stay.site is None and stay.location is None:
        return None
    where = _place(stay.site, stay.region, lang) or t.gettext("a warehouse")
    span = {"where": where, "start": fmt.date(stay.start),
            "end": fmt.date(stay.end) if stay.end else t.gettext("now")}  # fmt: skip
    if x is None or x.covered_minutes == 0:
        return t.gettext("%(where)s, %(start)s – %(end)s: not measured") % span
    problems = []
    if x.minutes_above >= 1:
        problems.append(
            t.gettext("too warm for %(time)s (up to %(max)s °C)")
            % {"time": fmt.duration(_minutes(x.minutes_above)),
               "max": fmt.number(x.max_celsius or 0.0, 1)}
        )
    if x.minutes_below >= 1:
        problems.append(
            t.gettext("too cold for %(time)s (down to %(min)s °C)")
            % {"time": fmt.duration(_minutes(x.minutes_below)),
               "min": fmt.number(x.min_celsius or 0.0, 1)}
        )
    if not problems:
        return t.gettext("%(where)s, %(start)s – %(end)s: within the range") % span
    sep = "；" if lang == "zh" else "; "
    return t.gettext("%(where)s, %(start)s – %(end)s: %(problems)s") % {
        **span, "problems": sep.join(problems)
    }


def _minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def _storage(passport: Passport, lang: str, fmt: Formatter) -> dict[str, Any] | None:
    p = passport.profile
    if p is None or not passport.stays:
        return None
    t = translations(lang)
    lines = [line for s in passport.stays if (line := _stay_line(s, passport, lang, fmt))]
    coverage = None
    x = passport.exposure
    if x is not None and x.total_minutes > 0:
        coverage = t.gettext(
            "The temperature was measured for %(share)s of the time since the product was "
            "made (not while on the road)."
        ) % {"share": fmt.percent(x.coverage)}
    return {
        "rule": t.gettext("This product should be kept between %(min)s °C and %(max)s °C.")
        % {"min": fmt.number(p.min_celsius, 0), "max": fmt.number(p.max_celsius, 0)},
        "lines": lines,
        "coverage": coverage,
    }


def _drawn(passport: Passport, lang: str, timezone: str) -> str:
    fmt = Formatter.of(lang, timezone)
    t = translations(lang)
    steps = [
        {
            "label": t.gettext(_STEPS.get(s.biz_step or "", _OTHER_STEP)),
            "when": fmt.date(s.time),
            "place": _place(s.site, s.region, lang),
            "proof_url": s.proof_url,
        }
        for s in passport.steps
    ]
    return render(
        "passport.html",
        lang,
        product=passport.product(lang),
        brand=passport.brand,
        lot=passport.lot,
        steps=steps,
        storage=_storage(passport, lang, fmt),
    )


def fragments(passport: Passport, timezone: str) -> tuple[tuple[str, str], ...]:
    """The passport's part of the page in every language, to keep with it:
    ``(("presentation", …), ("timezone", …), (lang, html), …)``."""
    drawn = [(lang, _drawn(passport, lang, timezone)) for lang in LANGUAGES]
    return (("presentation", PRESENTATION), ("timezone", timezone), *drawn)


def fragment(passport: Passport, lang: str, timezone: str) -> str:
    """The passport's part of the page: the kept one when it was drawn by this build in
    this zone, else drawn now."""
    kept = dict(passport.html)
    if kept.get("presentation") == PRESENTATION and kept.get("timezone") == timezone:
        html = kept.get(lang)
        if html is not None:
            return html
    return _drawn(passport, lang, timezone)
