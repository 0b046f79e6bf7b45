"""Scanned-line parsing: GS1 element strings, Digital Link, EPC (check digits: tests/wire)."""

from __future__ import annotations

import pytest

from edge.drivers.codes import MAX_CODE_LEN, CodeError, parse_code
from edge.drivers.epc import EpcError, decode_epc96

GS = "\x1d"


def test_sgtin96_decodes_per_the_tag_data_standard_example() -> None:
    epc = decode_epc96("3074257BF7194E4000001A85")
    assert epc.uri == "urn:epc:id:sgtin:0614141.812345.6789"
    assert epc.gtin == "80614141123458"


def test_other_epc_schemes_keep_their_hex() -> None:
    parsed = parse_code("3114257bf7194e4000001a85")  # SSCC-96 header
    assert (parsed.kind, parsed.code, parsed.gtin) == ("epc", "3114257BF7194E4000001A85", None)


def test_sgtin96_with_an_invalid_partition_is_refused() -> None:
    bits = int("3074257BF7194E4000001A85", 16) | (0b111 << 82)
    with pytest.raises(EpcError, match="partition 7"):
        decode_epc96(f"{bits:024X}")
    with pytest.raises(CodeError):
        parse_code(f"{bits:024X}")


@pytest.mark.parametrize(
    ("line", "kind", "gtin"),
    [
        ("]C101095060001343521012345" + GS + "21ABC", "element_string", "09506000134352"),
        ("]d2" + "17250101" + "0109506000134352" + "10LOT7", "element_string", "09506000134352"),
        ("]C1" + "10LOT7" + GS + "0109506000134352", "element_string", "09506000134352"),
        ("]C100095060000000000012", "element_string", None),  # SSCC only
        ("(01)09506000134352(10)ABC(21)42", "element_string", "09506000134352"),
        ("0109506000134352211234", "element_string", "09506000134352"),
        ("https://id.example.com/01/09506000134352/10/L1/21/S9?sig=abc", "digital_link",
         "09506000134352"),
        ("https://brand.example/trace/01/4006381333931", "digital_link", "04006381333931"),
        ("https://id.example.com/00/095060000000000012", "digital_link", None),
        ("]E04006381333931", "plain", "04006381333931"),
        ("4006381333931\r\n", "plain", "04006381333931"),
        ("4006381333932", "plain", None),  # bad check digit: kept, but no GTIN
        ("PALLET-0042", "plain", None),
    ],
)  # fmt: skip
def test_code_kinds(line: str, kind: str, gtin: str | None) -> None:
    parsed = parse_code(line)
    assert (parsed.kind, parsed.gtin) == (kind, gtin)
    assert not parsed.code.startswith("]")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty"),
        ("   \r\n", "empty"),
        ("abc\x00def", "control"),
        ("\x1b[A", "control"),
        ("x" * (MAX_CODE_LEN + 1), "at most"),
        ("(01)09506000134353", "check digit"),
        ("]C10109506000134353", "check digit"),
        ("]C1010950600013", "cut short"),
        ("]C1AB1234", "application identifier"),
        ("(01)09506000134352 trailing(", "pairs"),
        ("https://id.example.com/01/12345", "expects a GTIN"),
        ("https://id.example.com/01/09506000134353", "check digit"),
    ],
)
def test_unusable_lines_are_refused(line: str, reason: str) -> None:
    with pytest.raises(CodeError, match=reason):
        parse_code(line)
