from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.digital_link import DigitalLink, SsccLink, encode_ai_value, parse_link
from wire.errors import IdentifierError
from wire.gs1 import CSET82, Sscc

cset82 = st.text(alphabet=sorted(CSET82), min_size=1, max_size=20)


def test_build_and_parse() -> None:
    link = DigitalLink.build("ID.Brand.example", "9506000134352", lot="L1", serial="S/1")
    assert link.uri == "https://id.brand.example/01/09506000134352/10/L1/21/S%2F1"
    assert DigitalLink.parse(link.uri) == link


@given(lot=cset82, serial=cset82)
def test_round_trip_over_character_set_82(lot: str, serial: str) -> None:
    link = DigitalLink.build("id.example.com", "10614141073464", lot=lot, serial=serial)
    assert DigitalLink.parse(link.uri) == link


def test_parse_normalises_encoding_variants_and_prefix() -> None:
    variants = [
        "https://example.com/01/09506000134352/10/AB%2f1/21/x%21",
        "https://example.com/01/09506000134352/10/AB%2F1/21/x!",
        "https://EXAMPLE.com/01/9506000134352/10/AB%2F1/21/%78%21",
    ]
    uris = {DigitalLink.parse(v).uri for v in variants}
    assert uris == {"https://example.com/01/09506000134352/10/AB%2F1/21/x%21"}
    prefixed = DigitalLink.parse(
        "https://example.com/products/x/01/09506000134352/21/7?linkType=all"
    )
    assert prefixed.path_prefix == "/products/x"
    assert prefixed.uri == "https://example.com/products/x/01/09506000134352/21/7"


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("ftp://example.com/01/09506000134352", "https or http"),
        ("https:///01/09506000134352", "resolver host"),
        ("https://example.com/02/09506000134352", "no /01/"),
        ("https://example.com/01/09506000134353/21/1", "check digit"),
        ("https://example.com/01/09506000134352/21/1/10/2", "out of order"),
        ("https://example.com/01/09506000134352/17/250101", "unsupported qualifier"),
        ("https://example.com/01/09506000134352/21", "pairs"),
        ("https://example.com/01/09506000134352/21/a%20b", "set 82"),
        ("https://example.com/01/09506000134352/21/a%zzb", "not a valid URI path segment"),
        ("https://example.com/01/09506000134352/21/" + "1" * 21, "at most 20"),
        ("https://example.com/00/106141412345678908/21/1", "no qualifiers"),
    ],
)
def test_parse_errors_name_the_problem(uri: str, fragment: str) -> None:
    with pytest.raises(IdentifierError, match=fragment):
        parse_link(uri)


def test_sscc_link() -> None:
    link = parse_link("https://id.example.com/00/106141412345678908")
    assert link == SsccLink("id.example.com", Sscc("106141412345678908"))
    with pytest.raises(IdentifierError, match="expected a GTIN"):
        DigitalLink.parse(link.uri)


def test_encode_keeps_unreserved_only() -> None:
    assert encode_ai_value("A-b.c_d") == "A-b.c_d"
    assert encode_ai_value("!\"%&'()*+,/:;<=>?") == (
        "%21%22%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3C%3D%3E%3F"
    )


def test_value_object_validates_on_construction() -> None:
    gtin = DigitalLink.build("a.example", "9506000134352").gtin
    with pytest.raises(IdentifierError, match="set 82"):
        DigitalLink("a.example", gtin, serial="é")
    with pytest.raises(IdentifierError, match="host name"):
        DigitalLink("a example", gtin)
