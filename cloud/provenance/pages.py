"""The consumer pages of the resolver: the verdict page, the page for a request that is
not a code, the answer to a report, and the JSON form of a verdict.

Small-screen HTML with no JavaScript and no external resource; both languages are in the
verdict page and CSS ``:target`` shows one (the ``Accept-Language`` one first), so
switching language is a fragment link that never records a second scan. Text comes from
the templates and :mod:`cloud.provenance.wording` through the message catalogs
(:mod:`cloud.provenance.i18n`); everything interpolated is escaped by Jinja2.
"""

from __future__ import annotations

import functools
import html
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cloud.provenance import gs1resolver as gs1
from cloud.provenance.i18n import HTML_LANG, Formatter, render, translations
from cloud.provenance.passport import Passport
from cloud.provenance.passportview import N_, fragment
from cloud.provenance.resolver import Resolution
from cloud.provenance.scanlog import jsonable
from cloud.provenance.wording import Wording, explain

__all__ = [
    "ReportForm",
    "render_not_a_code",
    "render_page",
    "render_product",
    "render_report_answer",
    "resolution_json",
    "resolver_links",
]

_logger = logging.getLogger(__name__)


_SWITCH: Final = {"en": "中文", "zh": "English"}


@dataclass(frozen=True, slots=True)
class ReportForm:
    """The report form of a scan: where it posts and the token that ties it to the scan."""

    action: str
    token: str
    open: bool = False


def _section(
    r: Resolution, lang: str, *, default: bool, timezone: str, report: ReportForm | None
) -> str:
    fmt = Formatter.of(lang, timezone)
    passport = r.passport
    claimed = r.product_claimed
    described = passport or claimed
    brand = None if described is None else described.brand
    words = explain(
        r.verdict, lang, fmt, now=r.scanned_at, brand=brand,
        distributor=None if passport is None else passport.shipped_to_name,
    )  # fmt: skip
    passport_html = "" if passport is None else fragment(passport, lang, timezone)
    claimed_text = None
    if claimed is not None and claimed.product(lang):
        claimed_text = claimed.product(lang)
        if claimed.brand:
            claimed_text = f"{claimed_text} · {claimed.brand}"
    frame = _frame(
        lang, default, words,
        None if passport is None else passport.product(lang),
        None if passport is None else passport.brand,
        claimed_text,
        None if report is None else (report.action, report.open),
        fmt.zone_name(),
    )  # fmt: skip
    token = "" if report is None else html.escape(report.token, quote=True)
    return frame.replace(_PASSPORT, passport_html, 1).replace(_REPORT_SLOT, token, 1)


# Markers in a drawn frame where the passport's part and the report token go: the frame
# depends only on the wording, so the many scans that read alike share one drawing.
_PASSPORT: Final = "@@ct-passport-fragment@@"
_REPORT_SLOT: Final = "@@ct-report-token@@"


@functools.lru_cache(maxsize=4_096)
def _frame(
    lang: str, default: bool, words: Wording, product: str | None, brand: str | None,
    claimed: str | None, report: tuple[str, bool] | None, zone: str,
) -> str:  # fmt: skip
    other = "zh" if lang == "en" else "en"
    form = None if report is None else ReportForm(report[0], _REPORT_SLOT, report[1])
    return render(
        "verdict.html",
        lang,
        default=default,
        other=other,
        other_html_lang=HTML_LANG[other],
        switch_label=_SWITCH[lang],
        words=words,
        product=product,
        brand=brand,
        claimed=claimed,
        passport_html=_PASSPORT,
        report=form,
        zone=zone,
    )


def _page(title: str, lang: str, body: str) -> str:
    return _shell(title, lang).replace(_BODY, body, 1)


_BODY: Final = "@@ct-page-body@@"


@functools.lru_cache(maxsize=64)
def _shell(title: str, lang: str) -> str:
    return render("_base.html", lang, title=title, body=_BODY)


def render_page(
    resolution: Resolution, lang: str, *, timezone: str, report: ReportForm | None = None
) -> str:
    """The whole verdict page; ``lang`` is shown first, the other one behind the toggle."""
    other = "zh" if lang == "en" else "en"
    body = _section(resolution, other, default=False, timezone=timezone, report=report) + (
        _section(resolution, lang, default=True, timezone=timezone, report=report)
    )
    return _page(translations(lang).gettext("Product check"), lang, body)


#: Why a request is not a code, for people (the JSON problem carries the exact reason).
_NOT_A_CODE: Final = {
    "gtin": N_("The product number in this link is not a valid product number."),
    "lot": N_("The batch number in this link is too long or has characters a code never has."),
    "serial": N_("The serial number in this link is too long or has characters a code never "
                 "has."),
    "query": N_("This link carries too much extra text to be a product code."),
    "path": N_("This link is not in the form of a product code."),
}


def not_a_code_kind(problem: str) -> str:
    text = problem.lower()
    for kind in ("gtin", "lot", "serial", "query"):
        if kind in text:
            return kind
    return "path"


def render_not_a_code(problem: str, lang: str) -> str:
    """The page for a request that is not a code of this resolver (answered 400)."""
    kind = not_a_code_kind(problem)
    sections = []
    for code in ("zh", "en") if lang == "en" else ("en", "zh"):
        t = translations(code)
        other = "zh" if code == "en" else "en"
        sections.append(
            render(
                "not_a_code.html", code, default=code == lang, other=other,
                other_html_lang=HTML_LANG[other], switch_label=_SWITCH[code],
                why=t.gettext(_NOT_A_CODE[kind]),
            )
        )
    return _page(translations(lang).gettext("Not a product code"), lang, "".join(sections))


def render_product(passport: Passport, lang: str, *, timezone: str) -> str:
    """The product page of a product-level link (``/01/{gtin}``): no unit, no scan."""
    sections = []
    for code in ("zh", "en") if lang == "en" else ("en", "zh"):
        t = translations(code)
        fmt = Formatter.of(code, timezone)
        other = "zh" if code == "en" else "en"
        p = passport.profile
        rule = None if p is None else t.gettext(
            "This product should be kept between %(min)s °C and %(max)s °C."
        ) % {"min": fmt.number(p.min_celsius, 0), "max": fmt.number(p.max_celsius, 0)}
        sections.append(
            render(
                "product.html", code, default=code == lang, other=other,
                other_html_lang=HTML_LANG[other], switch_label=_SWITCH[code],
                product=passport.product(code), brand=passport.brand, lot=passport.lot,
                rule=rule,
            )
        )
    return _page(translations(lang).gettext("Product information"), lang, "".join(sections))


def render_report_answer(lang: str, *, accepted: bool, back: str | None = None) -> str:
    """The page after a report was sent (or refused as not tied to a scan)."""
    t = translations(lang)
    body = render("report_done.html", lang, accepted=accepted, back=back)
    return _page(t.gettext("Report a suspected fake"), lang, body)


def resolver_links(
    base: str, link: Any, resolution_url: str | None, proof_url: str | None, lang: str
) -> list[gs1.Link]:
    """The links of an identifier for its linkset (``base``: ``https://{host}``)."""
    t = translations(lang)
    product = f"{base}/01/{link.gtin.value}"
    links: list[gs1.Link] = []
    if link.serial is not None and resolution_url is not None:
        title = t.gettext("Product check")
        links += [
            gs1.Link("defaultLink", resolution_url, title),
            gs1.Link("verificationService", resolution_url, title, "text/html", ("en", "zh-CN")),
            gs1.Link("verificationService", resolution_url, t.gettext("Product check (JSON)"),
                     "application/json", ("en",)),
        ]
    else:
        links.append(gs1.Link("defaultLink", product, t.gettext("Product information")))
    links.append(
        gs1.Link("pip", product, t.gettext("Product information"), "text/html", ("en", "zh-CN"))
    )
    if proof_url is not None:
        links.append(
            gs1.Link("traceability", f"{base}{proof_url}",
                     t.gettext("Proof of the latest step of its journey"), "text/html",
                     ("en", "zh-CN"))
        )
    return links


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def resolution_json(r: Resolution) -> dict[str, Any]:
    """The JSON answer (``Accept: application/json``)."""
    p = r.passport
    x = None if p is None else p.exposure
    regions = {} if p is None else {s.location: s.region for s in p.steps if s.location}
    return {
        "scan_id": r.scan_id,
        "scanned_at": r.scanned_at.isoformat(),
        "verdict": r.verdict.kind.value,
        "confirmed": r.verdict.confirmed,
        "reason": r.verdict.reason,
        "findings": [
            {
                "kind": f.kind.value,
                "code": f.code,
                "confirmed": f.confirmed,
                "reason": f.reason,
                "evidence": jsonable(f.evidence),
            }
            for f in r.verdict.findings
        ],
        "first_scan": _time(r.verdict.first_scan),
        "previous_scans": r.verdict.previous_scans,
        "code": {"status": r.check.status.value, "reason": r.check.reason, "kid": r.check.kid},
        "epc": r.epc,
        "lot": r.lot,
        "product": None if p is None else p.product("en"),
        "product_zh": None if p is None else p.product("zh"),
        "brand": None if p is None else p.brand,
        "status": None if p is None else p.status,
        "proof_url": None if p is None else p.proof_url,
        "timeline": []
        if p is None
        else [
            {
                "ledger_index": s.ledger_index,
                "event_id": s.event_id,
                "event_time": s.time.isoformat(),
                "biz_step": s.biz_step,
                "location": s.location,
                "site": s.site,
                "region": regions.get(s.location or ""),
                "via": s.via,
                "proof_url": s.proof_url,
                "bundle_url": s.bundle_url,
            }
            for s in p.steps
        ],
        "cold_chain": None
        if x is None or p is None or p.profile is None
        else {
            "profile": {"min_celsius": p.profile.min_celsius, "max_celsius": p.profile.max_celsius},
            "start": x.start.isoformat(),
            "end": x.end.isoformat(),
            "min_celsius": x.min_celsius,
            "max_celsius": x.max_celsius,
            "mean_celsius": x.mean_celsius,
            "mkt_celsius": x.mkt_celsius,
            "minutes_below": x.minutes_below,
            "minutes_above": x.minutes_above,
            "coverage": x.coverage,
            "measured_until": _time(p.exposure_through),
            "stays": [
                {
                    "site": s.site,
                    "region": s.region,
                    "start": s.start.isoformat(),
                    "end": _time(s.end),
                    "minutes_below": None if s.exposure is None else s.exposure.minutes_below,
                    "minutes_above": None if s.exposure is None else s.exposure.minutes_above,
                    "coverage": None if s.exposure is None else s.exposure.coverage,
                }
                for s in p.stays
            ],
        },
    }
