"""The GS1-Conformant resolver's own vocabulary (pure): link types, linksets (RFC 9264),
``Link`` headers, the resolver description file and compressed Digital Link URIs.

GS1-Conformant Resolver standard (ISO/IEC 18975), as this resolver meets it:

* ``GET``, ``HEAD`` and ``OPTIONS`` on every Digital Link; CORS on every answer;
* a syntactically invalid Digital Link is answered 400 (never 200 with an error page);
* ``?linkType=linkset`` (and the deprecated ``?linkType=all``), or ``Accept:
  application/linkset+json``, answer the linkset of the identifier, with a ``Link`` header
  to GS1's JSON-LD context; another ``linkType`` that the identifier has redirects (307)
  to it, one it has not is 404;
* every answer carries ``Link: <...?linkType=linkset>; rel="linkset"``;
* the linkset has exactly one ``gs1:defaultLink`` (title only): for a serialised code the
  verdict page, which a phone gets without asking — the resolver answers it itself rather
  than redirecting, because the verdict depends on the scan;
* a compressed Digital Link (GS1 Digital Link compression, one path segment) is
  decompressed and answered like the uncompressed one, which the ``Link`` header names
  with ``rel="owl:sameAs"``;
* ``/.well-known/gs1resolver`` describes the resolver.

Decompression uses ``gs1-compression`` (a Python port of GS1's reference prototype).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

__all__ = [
    "GS1_VOC",
    "JSONLD_CONTEXT",
    "LINKSET_TYPE",
    "Link",
    "decompress",
    "description",
    "link_header",
    "linkset",
    "wanted_link_type",
]

_logger = logging.getLogger(__name__)

GS1_VOC: Final = "https://gs1.org/voc/"
LINKSET_TYPE: Final = "application/linkset+json"
JSONLD_CONTEXT: Final = "https://ref.gs1.org/standards/resolver/linkset-context"
#: linkType values that ask for the linkset itself (``all``: deprecated by GS1 in 2024).
LINKSET_REQUESTS: Final = frozenset({"linkset", "all"})
_CURIE: Final = re.compile(r"^(?:gs1:|https?://(?:www\.|ref\.)?gs1\.org/voc/)([A-Za-z]+)$")
_COMPRESSED: Final = re.compile(r"^[A-Za-z0-9_-]{8,}$")


@dataclass(frozen=True, slots=True)
class Link:
    """One target of a link type."""

    rel: str  # a GS1 link type's short name: defaultLink, verificationService, pip, ...
    href: str
    title: str
    type: str | None = None
    hreflang: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"href": self.href, "title": self.title}
        if self.rel != "defaultLink":  # the default link carries a title only (GS1)
            if self.type:
                out["type"] = self.type
            if self.hreflang:
                out["hreflang"] = list(self.hreflang)
        return out


def wanted_link_type(value: str | None) -> str | None:
    """The GS1 link type's short name from a ``linkType`` value (``gs1:pip``, a full
    ``https://gs1.org/voc/pip`` URI, ``linkset``/``all``), else ``None``; an unknown form
    is returned as given (a type this resolver has not: 404)."""
    if value is None:
        return None
    value = value.strip()
    if value in LINKSET_REQUESTS:
        return "linkset"
    found = _CURIE.match(value)
    return found.group(1) if found else value


def linkset(anchor: str, links: Sequence[Link], description: str | None) -> dict[str, Any]:
    """The RFC 9264 linkset (JSON) of one identifier, as the GS1 linkset schema has it."""
    item: dict[str, Any] = {"anchor": anchor}
    if description:
        item["itemDescription"] = description
    for link in links:
        item.setdefault(GS1_VOC + link.rel, []).append(link.as_json())
    return {"linkset": [item]}


def _quoted(uri: str) -> str:
    return quote(uri, safe=":/?&=%#[]@!$'()*+,;~-._")


def link_header(anchor: str, *, same_as: str | None = None, context: bool = False) -> str:
    """``Link``: the linkset of ``anchor`` (and ``owl:sameAs`` the uncompressed URI, the
    JSON-LD context of a linkset answer)."""
    parts = [f'<{_quoted(anchor)}?linkType=linkset>; rel="linkset"; type="{LINKSET_TYPE}"']
    if same_as is not None:
        parts.append(f'<{_quoted(same_as)}>; rel="owl:sameAs"')
    if context:
        parts.append(
            f'<{JSONLD_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context";'
            ' type="application/ld+json"'
        )
    return ", ".join(parts)


def decompress(base: str, segment: str) -> str | None:
    """The uncompressed Digital Link URI of ``base/segment``, or ``None`` when the segment
    is not a compressed GS1 Digital Link."""
    if not _COMPRESSED.fullmatch(segment):
        return None
    from gs1.decompress.core_functions import decompress_gs1_digital_link

    # The library prints tracebacks of what it cannot decode; those are not our news.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            uri = decompress_gs1_digital_link(f"{base}/{segment}", False)
        except Exception as exc:
            _logger.debug("not a compressed Digital Link (%s): %s", segment, exc)
            return None
    return uri if isinstance(uri, str) and uri.startswith(base + "/") else None


def description(root: str, name: str) -> dict[str, Any]:
    """The resolver description file (``/.well-known/gs1resolver``)."""
    return {
        "name": name,
        "resolverRoot": root,
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:"}],
        "linkTypeDefaultCanBeLinkset": False,
    }
