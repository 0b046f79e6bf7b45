"""A printable A4 sheet of trace-code labels: QR plus the GS1 human-readable line.

Self-contained HTML (inline SVG, inline CSS, no scripts, fonts or images from elsewhere):
print it from any browser at 100 % scale. 3 × 7 labels of 70 × 41 mm per A4 page (a common
label-stock layout); each QR is 30 mm wide, i.e. ≥ 0.5 mm per module up to QR version 10.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloud.provenance.issue import IssuedCode, IssueRequest

__all__ = ["LABELS_PER_PAGE", "human_readable", "render_sheet"]

_logger = logging.getLogger(__name__)

LABELS_PER_PAGE = 21

_CSS = """
@page { size: A4 portrait; margin: 10mm 0 0 0; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "DejaVu Sans Mono", "Courier New", monospace; color: #000; }
header { margin: 0 10mm 4mm; font: 10pt sans-serif; }
@media print { header { display: none; } }
.page { display: grid; grid-template-columns: repeat(3, 70mm); grid-auto-rows: 41mm;
  width: 210mm; page-break-after: always; break-after: page; }
.page:last-child { page-break-after: auto; break-after: auto; }
.label { display: flex; align-items: center; gap: 2mm; padding: 2mm 3mm; overflow: hidden;
  break-inside: avoid; }
.label svg { width: 30mm; height: 30mm; flex: none; }
.hri { font-size: 6.5pt; line-height: 1.35; word-break: break-all; }
.hri b { font-size: 7.5pt; }
"""


def human_readable(gtin: str, lot: str, serial: str) -> str:
    """The GS1 human-readable interpretation: ``(01) … (10) … (21) …``."""
    return f"(01) {gtin} (10) {lot} (21) {serial}"


def _label(issued: IssuedCode, svg: str) -> str:
    link = issued.link
    lot = link.lot or ""
    return (
        '<div class="label">'
        f"{svg}"
        '<div class="hri">'
        f"<b>(21) {html.escape(issued.serial)}</b><br>"
        f"(01) {link.gtin.value}<br>(10) {html.escape(lot)}<br>"
        f"key {issued.code.kid}"
        "</div></div>"
    )


def render_sheet(request: IssueRequest, cells: Sequence[tuple[IssuedCode, str]]) -> str:
    """HTML for ``cells`` (each an issued code and its QR as inline SVG), A4 pages."""
    pages = []
    for start in range(0, len(cells), LABELS_PER_PAGE):
        labels = "".join(_label(i, svg) for i, svg in cells[start : start + LABELS_PER_PAGE])
        pages.append(f'<section class="page">{labels}</section>')
    title = html.escape(f"Trace codes {request.gtin.value} lot {request.lot}")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>"
        f"<header>{title}: {len(cells)} labels, {len(pages)} A4 page(s); "
        "print at 100 % scale, no margins added by the browser.</header>"
        f"{''.join(pages)}</body></html>\n"
    )
