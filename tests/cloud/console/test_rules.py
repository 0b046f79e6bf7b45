"""Pure rules of the console: site status, CSRF tokens, search parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.auth.csrf import csrf_token, valid_csrf
from cloud.console.lookup import BadLookup, Lookup, parse_lookup
from cloud.console.status import SiteStatus, site_status

GTIN = "09506000134352"


@pytest.mark.parametrize(
    ("states", "alerts", "expected"),
    [
        (["online"], 1, SiteStatus.ALERT),
        (["online", "offline"], 0, SiteStatus.OFFLINE),
        (["online", "stale"], 0, SiteStatus.STALE),
        (["never_seen"], 0, SiteStatus.STALE),
        (["online", "retired"], 0, SiteStatus.OK),
        (["retired"], 0, SiteStatus.UNMONITORED),
        ([], 0, SiteStatus.UNMONITORED),
        ([], 2, SiteStatus.ALERT),
    ],
)
def test_site_status(states: list[str], alerts: int, expected: SiteStatus) -> None:
    assert site_status(states, alerts) is expected


def test_csrf_token_is_bound_to_the_session() -> None:
    token = csrf_token("session-a")
    assert valid_csrf("session-a", token)
    assert not valid_csrf("session-b", token)
    assert not valid_csrf("session-a", None)
    assert not valid_csrf("session-a", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"https://trace.acme.example/01/{GTIN}/10/L1/21/ABC?s=x",
         Lookup(epc=f"https://id.gs1.org/01/{GTIN}/21/ABC")),
        (f" {GTIN} ABC ", Lookup(epc=f"https://id.gs1.org/01/{GTIN}/21/ABC")),
        (f"{GTIN}/ABC", Lookup(epc=f"https://id.gs1.org/01/{GTIN}/21/ABC")),
        ("urn:epc:id:sgtin:9506000.013435.ABC", Lookup(epc=f"https://id.gs1.org/01/{GTIN}/21/ABC")),
        (f"https://id.gs1.org/01/{GTIN}/10/L1", Lookup(gtin=GTIN, lot="L1")),
        ("urn:epc:class:lgtin:9506000.013435.L1", Lookup(gtin=GTIN, lot="L1")),
        (GTIN, Lookup(gtin=GTIN)),
        ("L2026-11", Lookup(lot="L2026-11")),
        ("12345678901234", Lookup(lot="12345678901234")),  # digits with a bad check digit
        ("urn:epc:id:sscc:9506000.0000000001",
         Lookup(epc="https://id.gs1.org/00/095060000000000015")),
    ],
)  # fmt: skip
def test_lookup_forms(text: str, expected: Lookup) -> None:
    assert parse_lookup(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "https://x.example/01/123/21/1", "a" * 30])
def test_lookup_refusals_say_why(text: str) -> None:
    with pytest.raises(BadLookup):
        parse_lookup(text)


@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        found = parse_lookup(text)
    except BadLookup as exc:
        found, message = None, str(exc)
    else:
        message = ""
    if found is None:
        assert message  # a refusal always says why
    else:
        assert found.epc is not None or found.gtin is not None or found.lot is not None
