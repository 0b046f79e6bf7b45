"""The consumer page of a scan: small-screen HTML, no JavaScript, Chinese and English.

Both languages are in the page; CSS ``:target`` shows one. The preferred language (from
``Accept-Language``) is shown by default and the toggle link is a fragment (``#en`` /
``#zh``), so switching language is not a new request and never records a second scan.
Everything interpolated is HTML-escaped; the page loads no external resource.
"""

from __future__ import annotations

import html
from typing import Any, Final

from cloud.provenance.resolver import Resolution
from cloud.provenance.scanlog import jsonable

__all__ = ["preferred_language", "render_not_a_code", "render_page", "resolution_json"]

_VERDICT: Final = {
    "genuine": ("Genuine product", "正品"),
    "genuine_seen_before": ("Genuine — this code was scanned before", "正品 — 此码此前已被扫描"),
    "inconsistent_custody": (
        "Genuine code, but the brand's records do not match this scan",
        "正品码，但与品牌方的流通记录不符",
    ),
    "suspected_clone": ("Warning: this code may have been copied", "警告：此码疑似被复制"),
    "suspected_diversion": (
        "Genuine, but sold outside its authorised region",
        "正品，但疑似跨区销售（窜货）",
    ),
    "recalled": ("Recalled: do not use this product", "已召回：请勿使用此产品"),
    "counterfeit": ("Not genuine: the brand did not issue this code", "非正品：此码并非品牌方发放"),
}
# A suspicion one scanner alone could have caused is worded as unconfirmed.
_UNCONFIRMED: Final = {
    "suspected_clone": (
        "This code may have been copied — not confirmed",
        "此码可能被复制 — 尚未证实",
    ),
    "suspected_diversion": (
        "Genuine; possibly sold outside its authorised region — not confirmed",
        "正品；可能跨区销售 — 尚未证实",
    ),
}
_TONE: Final = {
    "genuine": "ok",
    "genuine_seen_before": "ok",
    "inconsistent_custody": "warn",
    "suspected_clone": "warn",
    "suspected_diversion": "warn",
    "recalled": "bad",
    "counterfeit": "bad",
}
_STEP: Final = {
    "commissioning": ("Made and coded", "生产赋码"),
    "packing": ("Packed", "装箱"),
    "unpacking": ("Unpacked", "拆箱"),
    "shipping": ("Shipped", "发货"),
    "receiving": ("Received", "收货"),
    "retail_selling": ("Sold", "零售售出"),
    "decommissioning": ("Withdrawn", "注销"),
}
_TEXT: Final = {
    "title": ("Product check", "产品验证"),
    "product": ("Product", "产品"),
    "lot": ("Lot", "批号"),
    "journey": ("Journey", "流通记录"),
    "proof": ("proof", "证明"),
    "cold": ("Storage conditions", "储存条件"),
    "range": ("Allowed", "允许范围"),
    "measured": ("Measured", "实测"),
    "outside": ("Minutes outside range", "超出范围分钟数"),
    "coverage": ("Monitored", "监测覆盖率"),
    "mkt": ("Mean kinetic temperature", "平均动力学温度"),
    "first": ("First scanned", "首次扫描"),
    "count": ("Earlier scans", "此前扫描次数"),
    "why": ("Why", "原因"),
    "switch": ("中文", "English"),
    "privacy": (
        "We record the time of this scan and a coarse location (about 1 km or your region); "
        "never your IP address.",
        "我们仅记录扫描时间和粗略位置（约1公里或所在地区），不记录IP地址。",
    ),
}
_CSS: Final = (
    "body{font:16px/1.45 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}"
    "main{max-width:34rem;margin:0 auto;padding:1rem}"
    ".v{padding:1rem;border-radius:.6rem;color:#fff;font-size:1.25rem;font-weight:600}"
    ".ok{background:#17803d}.warn{background:#b45309}.bad{background:#b91c1c}"
    "section{background:#fff;border-radius:.6rem;padding:.8rem 1rem;margin:.8rem 0}"
    "h2{font-size:1rem;margin:.2rem 0 .5rem}ol{padding-left:1.2rem;margin:0}"
    "small,.m{color:#666}a{color:#1d4ed8}.lang{display:none}.default{display:block}"
    ".lang:target{display:block}.lang:target~.default{display:none}"
    "nav{text-align:right}"
)


def preferred_language(accept_language: str | None) -> str:
    """``zh`` or ``en``: the first of them by q-value in ``Accept-Language`` (default en)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in ("zh", "en") and q > 0 and (best is None or (q, -position) > best[:2]):
            best = (q, -position, lang)
    return "en" if best is None else best[2]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _headline(r: Resolution) -> tuple[str, str]:
    kind = r.verdict.kind.value
    if not r.verdict.confirmed and kind in _UNCONFIRMED:
        return _UNCONFIRMED[kind]
    return _VERDICT[kind]


def _section(r: Resolution, lang: str) -> str:
    i = 0 if lang == "en" else 1
    kind = r.verdict.kind.value
    parts = [
        f'<nav><a href="#{"zh" if lang == "en" else "en"}" hreflang="{"zh" if i == 0 else "en"}">'
        f"{_TEXT['switch'][i]}</a></nav>",
        f'<div class="v {_TONE[kind]}" role="status">{_headline(r)[i]}</div>',
        f"<section><h2>{_TEXT['why'][i]}</h2><p>{_e(r.verdict.reason)}</p>",
    ]
    if r.verdict.first_scan is not None:
        parts.append(
            f"<p>{_TEXT['first'][i]}: {r.verdict.first_scan:%Y-%m-%d %H:%M} UTC · "
            f"{_TEXT['count'][i]}: {r.verdict.previous_scans}</p>"
        )
    parts.append("</section>")
    if r.product or r.lot:
        parts.append(
            f"<section><h2>{_TEXT['product'][i]}</h2><p>{_e(r.product or '')}"
            f"<br><span class=m>{_TEXT['lot'][i]} {_e(r.lot or '—')}</span></p></section>"
        )
    if r.timeline:
        regions = dict(r.regions)
        items = "".join(
            f"<li>{_STEP.get(e.biz_step or '', (e.biz_step or e.event_type,) * 2)[i]} · "
            f"{e.event_time:%Y-%m-%d} · {_e(regions.get(e.location or '') or '—')} "
            f'<small><a href="{_e(e.proof_url)}">{_TEXT["proof"][i]}</a></small></li>'
            for e in r.timeline
        )
        parts.append(f"<section><h2>{_TEXT['journey'][i]}</h2><ol>{items}</ol></section>")
    if r.exposure is not None and r.profile is not None:
        x, p = r.exposure, r.profile
        measured = (
            "—"
            if x.min_celsius is None or x.max_celsius is None
            else f"{x.min_celsius:.1f} – {x.max_celsius:.1f} °C"
        )
        mkt = "—" if x.mkt_celsius is None else f"{x.mkt_celsius:.1f} °C"
        parts.append(
            f"<section><h2>{_TEXT['cold'][i]}</h2><p>{_TEXT['range'][i]}: "
            f"{p.min_celsius:g} – {p.max_celsius:g} °C<br>{_TEXT['measured'][i]}: {measured}"
            f"<br>{_TEXT['mkt'][i]}: {mkt}<br>{_TEXT['outside'][i]}: {x.minutes_outside:.0f}"
            f"<br>{_TEXT['coverage'][i]}: {x.coverage:.0%}</p></section>"
        )
    parts.append(f"<p><small>{_TEXT['privacy'][i]}</small></p>")
    return "".join(parts)


def render_page(resolution: Resolution, lang: str) -> str:
    """The whole page; ``lang`` is shown first, the other one behind the toggle link."""
    other = "zh" if lang == "en" else "en"
    title = _TEXT["title"][0 if lang == "en" else 1]
    return (
        f'<!doctype html><html lang="{"zh-Hans" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{title}</title><style>{_CSS}</style>'
        f'</head><body><main><div class="lang" id="{other}" lang="{other}">'
        f"{_section(resolution, other)}</div>"
        f'<div class="lang default" id="{lang}" lang="{lang}">{_section(resolution, lang)}</div>'
        "</main></body></html>"
    )


_NOT_A_CODE: Final = (
    ("Not a product code", "This is not a product code we can check", "Why"),
    ("不是产品码", "这不是可以验证的产品码", "原因"),
)


def render_not_a_code(problem: str, lang: str) -> str:
    """The page for a request that is not a code of this resolver (answered 400)."""
    sections = []
    for code in (("zh", "en") if lang == "en" else ("en", "zh")):
        title, text, why = _NOT_A_CODE[0 if code == "en" else 1]
        default = " default" if code == lang else ""
        sections.append(
            f'<div class="lang{default}" id="{code}" lang="{code}">'
            f'<nav><a href="#{"zh" if code == "en" else "en"}">'
            f"{_TEXT['switch'][0 if code == 'en' else 1]}</a></nav>"
            f'<div class="v bad" role="status">{text}</div>'
            f"<section><h2>{why}</h2><p>{_e(problem)}</p></section></div>"
        )
    title = _NOT_A_CODE[0 if lang == "en" else 1][0]
    return (
        f'<!doctype html><html lang="{"zh-Hans" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{title}</title><style>{_CSS}</style>'
        f"</head><body><main>{''.join(sections)}</main></body></html>"
    )


def resolution_json(r: Resolution) -> dict[str, Any]:
    """The JSON answer (``Accept: application/json``)."""
    x = r.exposure
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
        "first_scan": None if r.verdict.first_scan is None else r.verdict.first_scan.isoformat(),
        "previous_scans": r.verdict.previous_scans,
        "code": {"status": r.check.status.value, "reason": r.check.reason, "kid": r.check.kid},
        "epc": r.epc,
        "lot": r.lot,
        "product": r.product,
        "status": r.status,
        "proof_url": r.verdict.proof_url,
        "timeline": [
            {
                "ledger_index": e.ledger_index,
                "event_id": e.event_id,
                "event_time": e.event_time.isoformat(),
                "biz_step": e.biz_step,
                "location": e.location,
                "region": dict(r.regions).get(e.location or ""),
                "via": e.via,
                "proof_url": e.proof_url,
            }
            for e in r.timeline
        ],
        "cold_chain": None
        if x is None or r.profile is None
        else {
            "profile": {"min_celsius": r.profile.min_celsius, "max_celsius": r.profile.max_celsius},
            "start": x.start.isoformat(),
            "end": x.end.isoformat(),
            "min_celsius": x.min_celsius,
            "max_celsius": x.max_celsius,
            "mean_celsius": x.mean_celsius,
            "mkt_celsius": x.mkt_celsius,
            "minutes_below": x.minutes_below,
            "minutes_above": x.minutes_above,
            "coverage": x.coverage,
        },
    }
