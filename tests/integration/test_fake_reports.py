"""Acceptance: a shopper reports a suspected fake from the verdict page; the brand sees it
in its alert inbox and on its scan map. The form is anonymous, so it is tied to the scan:
refused from another site, from another network, without the page's token, and limited
per client."""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg
import pytest

from cloud.alerts import AlertKind
from cloud.alerts.evaluate import default_rules, evaluate
from cloud.provenance.audit import scan_points
from cloud.provenance.codes import sign_link
from cloud.settings import Settings

from .test_resolver_scenarios import HOST, NOW, World
from .test_resolver_scenarios import world as scenario_world

pytestmark = pytest.mark.integration

# The scenarios' world (a channel, real signed codes, custody captured) as this module's.
world = scenario_world

PHONE = {"X-Forwarded-For": "198.51.100.23", "Accept-Language": "en"}


def _page_token(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found is not None, "the page has no report form"
    return found.group(1)


def _report(world: World, token: str, headers: dict[str, str], **fields: str) -> int:
    data = {"token": token, "lang": "en", "reason": "seal_broken", "seller": "Shop 12",
            "note": "the cork was loose", **fields}  # fmt: skip
    return world.client.post("/report", data=data, headers=headers).status_code


def test_a_report_reaches_the_brand(world: World, database_url: str) -> None:
    # a code signed with a key the brand never had: the page says so and offers the form
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    fake = sign_link(world.codes[2].link, Ed25519PrivateKey.generate()).uri
    page = world.scan(fake.removeprefix(f"https://{HOST}") + "&lat=30.66&lon=104.06",
                      json=False, headers=PHONE)  # fmt: skip
    assert "Report a suspected fake" in page
    assert "<details open>" in page  # open on a worrying verdict
    assert "Reserve Red 750 ml" in page  # what the code claims to be
    token = _page_token(page)
    assert _report(world, token, {**PHONE, "Origin": "https://evil.example"}) == 403
    assert _report(world, token, {**PHONE, "Sec-Fetch-Site": "cross-site"}) == 403
    assert _report(world, token, {**PHONE, "X-Forwarded-For": "203.0.113.99"}) == 400
    assert _report(world, "made.up", PHONE) == 400
    assert _report(world, token, PHONE, reason="spam") == 422
    assert _report(world, token, {**PHONE, "Origin": f"http://{HOST}"}) == 200
    assert _report(world, token, PHONE) == 200  # the same scan again: kept once
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT tenant_id, gtin, serial, verdict, reason, seller, note, region, client"
            " FROM fake_reports"
        ).fetchall()
    assert len(rows) == 1
    tenant, gtin, serial, verdict, reason, seller, _note, region, client = rows[0]
    assert (tenant, verdict, reason, seller) == ("acme", "counterfeit", "seal_broken", "Shop 12")
    assert (gtin, serial) == (world.codes[2].link.gtin.value, world.codes[2].link.serial)
    assert str(region).startswith("5101")  # a district of Chengdu, from the scan's point
    # ... and never an address
    assert client is not None
    assert "198.51" not in client

    # the brand's alert inbox
    settings = Settings()
    rules = [r for r in default_rules(settings, anchor_interval=None) if r.name == "fake_report"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        evaluate(conn, rules, now=NOW + timedelta(minutes=5))
        alerts = conn.execute(
            "SELECT kind, severity, summary FROM alerts WHERE tenant_id = 'acme'"
        ).fetchall()
        points = scan_points(conn, "acme", NOW - timedelta(days=1), NOW + timedelta(days=1),
                             100)  # fmt: skip
    assert [(a[0], a[1]) for a in alerts] == [(AlertKind.FAKE_REPORT.value, "critical")]
    assert "seal broken" in alerts[0][2]
    assert "reported" in {p["verdict"] for p in points}  # on the scan map


def test_reports_are_limited_per_client(world: World) -> None:
    tokens = []
    for _ in range(11):
        page = world.scan(world.codes[3].code.uri.removeprefix(f"https://{HOST}"),
                          json=False, headers=PHONE)  # fmt: skip
        tokens.append(_page_token(page))
    statuses = [_report(world, t, PHONE) for t in tokens]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429  # CT_PUBLIC_REPORT_RATE_LIMIT, 10/hour by default
