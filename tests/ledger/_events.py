"""EPCIS 2.0-shaped custody events for the ledger tests."""

from __future__ import annotations

from typing import Any


def custody_event(n: int, *, step: str = "shipping") -> dict[str, Any]:
    """A small, distinct EPCIS ObjectEvent; ``n`` makes it unique."""
    return {
        "type": "ObjectEvent",
        "eventTime": f"2025-03-01T08:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "bizStep": step,
        "epcList": [f"https://id.gs1.org/01/09521234543213/21/{n:08d}"],
        "readPoint": {"id": "urn:epc:id:sgln:9521234.54321.0"},
        "eventID": f"ni:///sha-256;{n:064x}?ver=CBV2.0",
    }
