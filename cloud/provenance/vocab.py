"""GS1 Core Business Vocabulary (CBV 2.0) terms in their three spellings, mapped to one.

EPCIS 2.0 JSON uses bare words (``shipping``); EPCIS 1.x and XML use URNs
(``urn:epcglobal:cbv:bizstep:shipping``); the GS1 Web Vocabulary uses
``https://ref.gs1.org/cbv/BizStep-shipping`` (older drafts: ``https://ns.gs1.org/cbv/...``,
``http://`` too). All three normalise to the bare word; anything that is not a CBV term
(a private URI such as ``http://epcis.example.org/hc/bizstep/x``) is returned unchanged.
"""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = [
    "BIZ_STEPS",
    "DISPOSITIONS",
    "SOURCE_DEST_TYPES",
    "normalise_biz_step",
    "normalise_disposition",
    "normalise_source_dest_type",
]

_logger = logging.getLogger(__name__)

BIZ_STEPS: Final = frozenset(
    [
        "accepting",
        "arriving",
        "assembling",
        "collecting",
        "commissioning",
        "consigning",
        "creating_class_instance",
        "cycle_counting",
        "decommissioning",
        "departing",
        "destroying",
        "disassembling",
        "dispensing",
        "encoding",
        "entering_exiting",
        "holding",
        "inspecting",
        "installing",
        "killing",
        "loading",
        "other",
        "packing",
        "picking",
        "receiving",
        "removing",
        "repackaging",
        "repairing",
        "replacing",
        "reserving",
        "retail_selling",
        "shipping",
        "staging_outbound",
        "stock_taking",
        "stocking",
        "storing",
        "transporting",
        "unloading",
        "unpacking",
        "void_shipping",
        "sensor_reporting",
        "sampling",
    ]
)
DISPOSITIONS: Final = frozenset(
    [
        "active",
        "container_closed",
        "damaged",
        "destroyed",
        "dispensed",
        "disposed",
        "encoded",
        "expired",
        "in_progress",
        "in_transit",
        "inactive",
        "no_pedigree_match",
        "non_sellable_other",
        "partially_dispensed",
        "recalled",
        "reserved",
        "retail_sold",
        "returned",
        "sellable_accessible",
        "sellable_not_accessible",
        "stolen",
        "unknown",
        "available",
        "completeness_verified",
        "completeness_inferred",
        "conformant",
        "container_open",
        "mismatch_instance",
        "mismatch_class",
        "mismatch_quantity",
        "needs_replacement",
        "non_conformant",
        "unavailable",
    ]
)
SOURCE_DEST_TYPES: Final = frozenset({"owning_party", "possessing_party", "location"})


def _pattern(urn_kind: str, web_kind: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?:urn:epcglobal:cbv:{urn_kind}:|https?://(?:ref|ns)\.gs1\.org/cbv/{web_kind}-)"
        r"([A-Za-z_]+)"
    )


_BIZ_STEP = _pattern("bizstep", "BizStep")
_DISP = _pattern("disp", "Disp")
_SDT = _pattern("sdt", "SDT")


def _normalise(value: str, pattern: re.Pattern[str], terms: frozenset[str]) -> str:
    if value in terms:
        return value
    match = pattern.fullmatch(value)
    if match and match.group(1) in terms:
        return match.group(1)
    return value


def normalise_biz_step(value: str) -> str:
    """``shipping`` for any spelling of the CBV business step; other URIs unchanged."""
    return _normalise(value, _BIZ_STEP, BIZ_STEPS)


def normalise_disposition(value: str) -> str:
    return _normalise(value, _DISP, DISPOSITIONS)


def normalise_source_dest_type(value: str) -> str:
    return _normalise(value, _SDT, SOURCE_DEST_TYPES)
