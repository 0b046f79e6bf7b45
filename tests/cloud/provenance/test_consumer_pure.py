"""Pure parts of the consumer resolver: passports' JSON, GS1 resolver vocabulary, the
report token, plain-words reasons, place names, combined exposure."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from cloud.provenance import gs1resolver as gs1
from cloud.provenance.clone import Scan, TravelEvidence
from cloud.provenance.codes import CodeCheck, CodeStatus
from cloud.provenance.coldchain import Exposure, Reading, StorageProfile, combine, exposure
from cloud.provenance.custody import CustodyInterval
from cloud.provenance.geo import AuthorisedArea, Circle, GeoPoint
from cloud.provenance.i18n import Formatter, preferred_language
from cloud.provenance.passport import Passport, Stay, Step
from cloud.provenance.placenames import place_name
from cloud.provenance.reports import ReportToken, make_token, read_token
from cloud.provenance.verdicts import (
    Finding,
    Sale,
    Shipment,
    UnitRecord,
    Verdict,
    VerdictKind,
    Whereabouts,
)
from cloud.provenance.wording import explain

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
EPC = "https://id.gs1.org/01/09506000134352/21/ABC"


def _passport() -> Passport:
    x = Exposure(T0, T0 + timedelta(days=2), 2880.0, 2800.0, 0.0, 120.0, 13.5, 24.0, 14.1, 14.4)
    unit = UnitRecord(
        EPC,
        shipment=Shipment(
            "dist-gd", AuthorisedArea(("440000",), (Circle(GeoPoint(23.1, 113.3), 50.0),))
        ),
        sale=Sale(T0 + timedelta(days=3), GeoPoint(22.5, 114.0, 0.5), "440300"),
        whereabouts=Whereabouts("sold", "urn:epc:id:sgln:1", "Shop", GeoPoint(22.5, 114.0),
                                "440300", False),
        proof_url="/proof/7",
    )
    return Passport(
        "acme", EPC, "09506000134352", "L1", "ABC", unit, status="sold", brand="Acme",
        product_en="Reserve Red", product_zh="珍藏红", profile=StorageProfile(10.0, 18.0),
        steps=(Step(7, "e7", T0, "ObjectEvent", "receiving", "OBSERVE", "urn:epc:id:sgln:1",
                    "Shop", "440300", None),),
        stays=(Stay(T0, None, "urn:epc:id:sgln:1", "Shop", "440300", x),), exposure=x,
        computed_at=T0, exposure_through=T0, shipped_to_name="South",
        html=(("presentation", "p"), ("en", "<p>x</p>")),
    )  # fmt: skip


def test_a_passport_round_trips_through_json() -> None:
    passport = _passport()
    assert Passport.from_json(passport.to_json()) == passport
    assert passport.proof_url == "/proof/7"
    assert passport.open_interval
    with pytest.raises(ValueError, match="format"):
        Passport.from_json({**passport.to_json(), "format": 0})


def test_combined_exposure_equals_the_exposure_over_all_stays() -> None:
    profile = StorageProfile(10.0, 18.0)
    a = CustodyInterval("a", T0, T0 + timedelta(hours=6))
    b = CustodyInterval("b", T0 + timedelta(hours=8), T0 + timedelta(hours=20))
    gap = CustodyInterval(None, T0 + timedelta(hours=6), T0 + timedelta(hours=8))
    series = {
        "a": [Reading(T0 + timedelta(minutes=10 * i), 14.0 + (i % 5)) for i in range(36)],
        "b": [Reading(T0 + timedelta(hours=8, minutes=10 * i), 20.0 - (i % 7)) for i in range(72)],
    }
    end = T0 + timedelta(days=1)
    whole = exposure([a, gap, b], series, profile, until=end)
    parts = [exposure([i], series, profile, until=end) for i in (a, gap, b)]
    combined = combine(parts)
    assert combined is not None
    for name in ("total_minutes", "covered_minutes", "minutes_below", "minutes_above",
                 "min_celsius", "max_celsius", "mean_celsius", "mkt_celsius"):  # fmt: skip
        assert math.isclose(getattr(combined, name), getattr(whole, name), rel_tol=1e-9), name


def test_link_types_and_linksets() -> None:
    assert gs1.wanted_link_type("all") == gs1.wanted_link_type("linkset") == "linkset"
    assert gs1.wanted_link_type("gs1:pip") == "pip"
    assert gs1.wanted_link_type("https://gs1.org/voc/pip") == "pip"
    assert gs1.wanted_link_type("https://ref.gs1.org/voc/traceability") == "traceability"
    assert gs1.wanted_link_type("other:thing") == "other:thing"
    links = [gs1.Link("defaultLink", "https://x/01/1", "Check", "text/html", ("en",)),
             gs1.Link("pip", "https://x/01/1", "Info", "text/html", ("en", "zh-CN"))]  # fmt: skip
    body = gs1.linkset("https://x/01/1", links, "Wine")
    item = body["linkset"][0]
    assert item["anchor"] == "https://x/01/1"
    assert item["itemDescription"] == "Wine"
    assert item[gs1.GS1_VOC + "defaultLink"] == [{"href": "https://x/01/1", "title": "Check"}]
    assert item[gs1.GS1_VOC + "pip"][0]["hreflang"] == ["en", "zh-CN"]
    header = gs1.link_header("https://x/01/1", same_as="https://x/01/2", context=True)
    assert '<https://x/01/1?linkType=linkset>; rel="linkset"' in header
    assert '<https://x/01/2>; rel="owl:sameAs"' in header
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in header


def test_compressed_digital_links_decompress() -> None:
    from gs1.compress.core_functions import compress_gs1_digital_link

    uri = "https://id.example/01/09506000134352/10/L1/21/ABC?k=2cecbeee&s=abc_-DEF"
    compressed = compress_gs1_digital_link(uri, False, True)
    segment = compressed.rsplit("/", 1)[1]
    assert gs1.decompress("https://id.example", segment) == uri
    assert gs1.decompress("https://id.example", "favicon.ico") is None
    assert gs1.decompress("https://id.example", "console") is None


def test_report_tokens_are_bound_to_their_key() -> None:
    token = ReportToken(True, 42, "acme", "09506000134352", "L1", "ABC", "0123456789abcdef",
                        "genuine", int(T0.timestamp()), "440300", (22.5, 114.0, 0.8))  # fmt: skip
    text = make_token(b"k" * 32, token)
    assert read_token(b"k" * 32, text) == token
    assert read_token(b"x" * 32, text) is None
    assert read_token(b"k" * 32, text[:-2] + ("A" if text[-2] != "A" else "B") + text[-1]) is None
    assert read_token(b"k" * 32, "garbage") is None
    assert token.fresh(T0 + timedelta(hours=23))
    assert not token.fresh(T0 + timedelta(days=2))


def test_place_names_are_cities_in_both_languages() -> None:
    assert place_name("510104", "zh") == "四川省成都市"
    assert place_name("510104", "en") == "Chengdu, Sichuan"
    assert place_name("110105", "en") == "Beijing"  # a municipality's district
    assert place_name("440000", "zh") == "广东省"
    assert place_name("CN", "zh") == "中国"
    assert place_name("US-CA", "en") == "US-CA"
    assert place_name(None, "en") is None


def test_a_clone_is_told_as_where_and_how_long_ago() -> None:
    chengdu = Scan(T0, GeoPoint(30.66, 104.06, 0.8), "510104", client="a")
    here = Scan(T0 + timedelta(minutes=40), GeoPoint(31.23, 121.47, 0.8), "310101", client="b")
    travel = TravelEvidence(chengdu, here, 1660.0, 40 / 60, 2490.0, True)
    verdict = Verdict(
        VerdictKind.SUSPECTED_CLONE, "…",
        (Finding(VerdictKind.SUSPECTED_CLONE, "impossible_travel", "…", travel),), T0, 1,
    )  # fmt: skip
    now = T0 + timedelta(minutes=40)
    en = explain(verdict, "en", Formatter.of("en"), now=now)
    assert en.tone == "warn"
    assert "already scanned in Chengdu, Sichuan 40 minutes ago" in en.what[0]
    assert "km/h" not in en.what[0]
    assert any("seal" in line for line in en.todo)
    zh = explain(verdict, "zh", Formatter.of("zh"), now=now)
    assert "四川省成都市" in zh.what[0]
    assert "40分钟" in zh.what[0]


def test_a_counterfeit_is_told_without_key_ids() -> None:
    check = CodeCheck(CodeStatus.BAD_SIGNATURE, "signature does not match ... key 2cecbeee")
    finding = Finding(VerdictKind.COUNTERFEIT, "bad_signature", check.reason, check)
    verdict = Verdict(VerdictKind.COUNTERFEIT, check.reason, (finding,), None, 0)
    words = explain(verdict, "en", Formatter.of("en"), now=T0, brand="Acme Wines")
    text = " ".join((words.headline, *words.what, *words.todo))
    assert "Acme Wines has no record of issuing this code" in text
    assert "2cecbeee" not in text
    assert "report it to the brand" in text


@pytest.mark.parametrize(
    ("header", "lang"),
    [(None, "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-GB,zh;q=0.5", "en"),
     ("fr, zh-TW;q=0.3", "zh"), ("zh;q=0, en", "en")],
)  # fmt: skip
def test_the_page_language_follows_accept_language(header: str | None, lang: str) -> None:
    assert preferred_language(header) == lang


def test_dates_are_in_china_standard_time_and_numbers_localised() -> None:
    fmt = Formatter.of("zh")
    assert fmt.date_time(datetime(2026, 11, 1, 20, 30, tzinfo=UTC)) == "2026-11-02 04:30"
    assert fmt.number(12345.0) == "12,345"
    assert "中国" in fmt.zone_name()
    assert Formatter.of("en").duration(timedelta(minutes=40)) == "40 minutes"
