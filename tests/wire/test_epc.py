from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.digital_link import DigitalLink, SsccLink
from wire.epc import (
    canonical_epc,
    company_prefix_digits,
    epc_from_urn,
    lgtin_urn,
    sgtin_urn,
    sscc_urn,
)
from wire.errors import IdentifierError
from wire.gs1 import CSET82, Gtin, Sscc


def test_tds_sgtin_example() -> None:
    # GS1 EPC TDS: GTIN 80614141123458, company prefix length 7, serial 6789.
    gtin = Gtin("80614141123458")
    assert sgtin_urn(gtin, "6789", 7) == "urn:epc:id:sgtin:0614141.812345.6789"
    link = epc_from_urn("urn:epc:id:sgtin:0614141.812345.6789")
    assert link == DigitalLink("id.gs1.org", gtin, serial="6789")


def test_tds_sscc_example() -> None:
    sscc = Sscc("106141412345678908")
    assert sscc_urn(sscc, 7) == "urn:epc:id:sscc:0614141.1234567890"
    assert epc_from_urn("urn:epc:id:sscc:0614141.1234567890") == SsccLink("id.gs1.org", sscc)


def test_lgtin_class() -> None:
    gtin = Gtin("04012345123456")
    assert lgtin_urn(gtin, "998877", 7) == "urn:epc:class:lgtin:4012345.012345.998877"
    assert canonical_epc("urn:epc:class:lgtin:4012345.012345.998877") == (
        "https://id.gs1.org/01/04012345123456/10/998877"
    )


def test_serial_escaping_in_urns() -> None:
    gtin = Gtin("80614141123458")
    urn = sgtin_urn(gtin, 'a/b"%?', 7)
    assert urn == "urn:epc:id:sgtin:0614141.812345.a%2Fb%22%25%3F"
    link = epc_from_urn(urn)
    assert isinstance(link, DigitalLink)
    assert link.serial == 'a/b"%?'


@given(
    prefix_length=st.integers(6, 12),
    body=st.text(alphabet="0123456789", min_size=13, max_size=13),
    serial=st.text(alphabet=sorted(CSET82), min_size=1, max_size=20),
)
def test_urn_and_digital_link_round_trip(prefix_length: int, body: str, serial: str) -> None:
    gtin = Gtin.from_parts(body[0], body[1 : 1 + prefix_length], body[1 + prefix_length :])
    urn = sgtin_urn(gtin, serial, prefix_length)
    link = epc_from_urn(urn)
    assert link == DigitalLink("id.gs1.org", gtin, serial=serial)
    assert canonical_epc(urn) == canonical_epc(DigitalLink("x.example", gtin, serial=serial).uri)


def test_canonical_epc_leaves_other_identifiers_alone() -> None:
    for epc in (
        "urn:epc:id:sgln:0614141.00777.0",
        "urn:epc:idpat:sgtin:4012345.098765.*",
        "https://id.example.com/414/4012345000054",
    ):
        assert canonical_epc(epc) == epc


@pytest.mark.parametrize(
    ("urn", "fragment"),
    [
        ("urn:epc:id:sgtin:0614141.81234.6789", "13 digits"),
        ("urn:epc:id:sgtin:0614141.812345.ab cd", "not allowed in an EPC URN"),
        ("urn:epc:id:sscc:0614141.123456789", "17 digits"),
        ("urn:epc:id:grai:0614141.12345.1", "not an sgtin"),
    ],
)
def test_bad_urns(urn: str, fragment: str) -> None:
    with pytest.raises(IdentifierError, match=fragment):
        epc_from_urn(urn)


def test_bad_check_digit_in_a_digital_link_epc_is_an_error() -> None:
    with pytest.raises(IdentifierError, match="check digit"):
        canonical_epc("https://id.gs1.org/01/09506000134353/21/1")


def test_a_trace_code_with_a_lot_is_the_same_object_as_its_sgtin() -> None:
    printed = "https://id.brand.example/01/09506000134352/10/L2025-05/21/ABC123"
    assert canonical_epc(printed) == canonical_epc("urn:epc:id:sgtin:9506000.013435.ABC123")
    assert canonical_epc(printed) == "https://id.gs1.org/01/09506000134352/21/ABC123"


@pytest.mark.parametrize(
    ("identifier", "digits"),
    [
        ("urn:epc:id:sgtin:0614141.812345.6789", "061414112345"),
        ("https://id.gs1.org/01/09506000134352/21/1", "950600013435"),
        ("https://brand.example/p/01/09506000134352/10/L1/21/1", "950600013435"),
        ("https://id.gs1.org/01/09506000134352", "950600013435"),
        ("urn:epc:class:lgtin:9506000.013435.L1", "950600013435"),
        ("urn:epc:id:sscc:9506000.0000000001", "9506000000000001"),
        ("urn:epc:id:sgln:9506000.00010.0", "950600000010"),
        ("urn:epc:id:grai:4012345.55555.987", "401234555555"),
        ("urn:epc:id:giai:9506000.ABC12", "9506000"),
        ("urn:epc:idpat:sgtin:4012345.098765.*", "401234598765"),
        ("https://example.com/414/9506000000105", "9506000000105"),
        ("https://id.gs1.org/8003/09506000000102X", "9506000000102"),
        ("urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", None),
        ("urn:epc:id:gid:95100000.12345.400", None),
        ("https://example.com/private/42", None),
    ],
)
def test_company_prefix_digits_of_any_gs1_key(identifier: str, digits: str | None) -> None:
    assert company_prefix_digits(identifier) == digits


def test_company_prefix_digits_of_a_malformed_key_is_an_error() -> None:
    with pytest.raises(IdentifierError, match="check digit"):
        company_prefix_digits("https://id.gs1.org/01/09506000134353/21/1")
