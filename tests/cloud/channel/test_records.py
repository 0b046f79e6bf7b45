"""Raw values → channel records, every problem with what was expected and got (pure), and
spreadsheets → rows (CSV in UTF-8 and GB18030, XLSX, a kind per row or per sheet)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook

from cloud.channel.errors import ImportRefused, InvalidRecord
from cloud.channel.geocode import default_geocoder
from cloud.channel.records import Distributor, Kind, Product, Site, parse_record
from cloud.channel.sheets import read_sheets


def parse(kind: Kind, **raw: Any) -> Any:
    return parse_record(kind, raw, default_geocoder())


def problems(kind: Kind, **raw: Any) -> list[str]:
    with pytest.raises(InvalidRecord) as caught:
        parse(kind, **raw)
    return [str(p) for p in caught.value.problems]


def test_a_distributor_from_csv_cells() -> None:
    d = parse(Kind.DISTRIBUTOR, id="east", name="华东酒业", parent_id="",
              regions="310000; CN-JS 330100", contact_phone="+86 21 5555 0100",
              contact_email="li@east.example")  # fmt: skip
    assert d == Distributor("east", "华东酒业", None, ("310000", "320000", "330100"), None,
                            "+86 21 5555 0100", "li@east.example")  # fmt: skip


def test_every_problem_of_a_distributor_at_once() -> None:
    found = problems(Kind.DISTRIBUTOR, id="east side", name="", regions="440304;99;310000",
                     contact_email="nobody", colour="red")  # fmt: skip
    assert found == [
        "colour: expected one of the distributor fields id, name, parent_id, regions, "
        "contact_name, contact_phone, contact_email, got an unknown field",
        "id: expected an id of 1–64 letters, digits, '_', '.' or '-' starting with a letter or "
        "digit, got 'east side'",
        "name: expected a value, got nothing",
        "regions: expected a province or city code, got '440304'",
        "regions: expected a GB/T 2260 code of 6 digits (e.g. 440000 or 440300), got '99'",
        "contact_email: expected an e-mail address like name@example.com, got 'nobody'",
    ]


def test_a_site_gets_its_region_from_its_coordinates() -> None:
    s = parse(Kind.SITE, id="wh-sz", name="Shenzhen DC", latitude="22.5431", longitude="114.0579")
    assert s == Site("wh-sz", "Shenzhen DC", None, 22.5431, 114.0579, "440300", None)
    assert parse(Kind.SITE, id="x", name="X", latitude=22.5431, longitude=114.0579,
                 region="CN-GD").region == "440000"  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ({"latitude": "114.0579", "longitude": "22.5431"},
         "latitude: expected a number from -90 to 90 (degrees north, WGS-84), got '114.0579'"),
        ({"latitude": "22.5431", "longitude": "14.0579"},
         "latitude: expected a point in China (WGS-84 degrees), got 22.5431, 14.0579"),
        ({"latitude": "22.5431"},
         "longitude: expected both latitude and longitude, or neither, got only one of them"),
        ({"latitude": "22.5431", "longitude": "114.0579", "region": "310000"},
         "region: expected the region of the coordinates (广东省 深圳市 福田区, 440304) or one "
         "containing it, got '310000'"),
        ({"latitude": "north", "longitude": "114"},
         "latitude: expected a number (degrees north, WGS-84), got 'north'"),
        ({"region": "449999"}, "region: expected a GB/T 2260 code that exists, got '449999'"),
    ],
)  # fmt: skip
def test_site_problems(raw: dict[str, str], said: str) -> None:
    assert said in problems(Kind.SITE, id="wh", name="WH", **raw)


def test_swapped_coordinates_are_named() -> None:
    found = problems(Kind.SITE, id="wh", name="WH", latitude="31.23", longitude="-121.47")
    assert found == ["latitude: expected a point in China (WGS-84 degrees), got 31.23, -121.47"]
    found = problems(Kind.SITE, id="wh", name="WH", latitude="39.9", longitude="16.4")
    assert "expected a point in China" in found[0]


def test_products() -> None:
    p = parse(Kind.PRODUCT, gtin="6901234567892", name_zh="干红 750ml", temp_min_c="10",
              temp_max_c="18", humidity_min_pct="50", humidity_max_pct="75")  # fmt: skip
    assert p == Product("06901234567892", None, "干红 750ml", 10.0, 18.0, 50.0, 75.0)
    assert p.name == "干红 750ml"
    assert problems(Kind.PRODUCT, gtin="6901234567891", name_en="Red") == [
        "gtin: expected check digit 2 (GS1 mod 10), got 6901234567891 ending in 1"]  # fmt: skip
    assert problems(Kind.PRODUCT, gtin="09506000134352", temp_min_c="18", temp_max_c="10",
                    humidity_max_pct="120") == [
        "name_en: expected a name in English or Chinese (name_en or name_zh), got nothing",
        "humidity_max_pct: expected a number from 0 to 100 (% relative humidity), got '120'",
        "temp_max_c: expected at least temp_min_c (18), got 10.0",
    ]


def test_mappings() -> None:
    assert parse(Kind.LOCATION, location="urn:epc:id:sgln:9506000.00020.0", site_id="wh")
    assert parse(Kind.LOCATION, location="https://id.gs1.org/414/9506000000206", site_id="wh")
    assert problems(Kind.LOCATION, location="urn:epc:id:sgln:9506000.0002.0", site_id="wh") == [
        "location: expected an SGLN whose company prefix and location reference have 12 "
        "digits together, got 'urn:epc:id:sgln:9506000.0002.0'"]  # fmt: skip
    assert parse(Kind.PARTY, party="urn:epc:id:pgln:9506000.00001", distributor_id="east")
    assert "expected a PGLN URN" in problems(Kind.PARTY, party="east", distributor_id="e")[0]


# ----------------------------------------------------------------------------- sheets


def test_csv_in_gb18030_with_a_kind_per_row() -> None:
    text = (
        "kind,id,name,regions,gtin,name_zh\r\n经销商,east,华东,310000,,\r\n"
        "product,,,,09506000134352,红\r\n"
    )
    (sheet,) = read_sheets(text.encode("gb18030"), "channel.csv")
    assert [(r.number, r.kind) for r in sheet.rows] == [(2, Kind.DISTRIBUTOR), (3, Kind.PRODUCT)]
    assert sheet.rows[0].cells["name"] == "华东"


def test_csv_kind_from_the_file_name_or_its_columns() -> None:
    (by_name,) = read_sheets(b"id,name\nwh,WH\n", "sites.csv")
    assert by_name.kind is Kind.SITE
    (by_columns,) = read_sheets(b"\xef\xbb\xbfGTIN;Name EN\n09506000134352;Red\n", "upload.csv")
    assert by_columns.kind is Kind.PRODUCT
    assert by_columns.rows[0].cells == {"gtin": "09506000134352", "name_en": "Red"}


def test_xlsx_one_kind_per_sheet() -> None:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "Distributors"
    ws.append(["id", "name", "regions"])
    ws.append(["east", "East", 310000])  # a number cell, as Excel keeps it
    sites = book.create_sheet("Sites")
    sites.append(["id", "name", "lat", "lng"])
    sites.append(["wh", "WH", 31.23, 121.47])
    book.create_sheet("Notes")  # empty sheets are ignored
    buffer = io.BytesIO()
    book.save(buffer)
    sheets = read_sheets(buffer.getvalue(), "channel.xlsx")
    assert [(s.name, s.kind) for s in sheets] == [
        ("Distributors", Kind.DISTRIBUTOR), ("Sites", Kind.SITE)]  # fmt: skip
    assert sheets[0].rows[0].cells["regions"] == "310000"
    assert sheets[1].rows[0].cells == {"id": "wh", "name": "WH", "latitude": "31.23",
                                       "longitude": "121.47"}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"", "got an empty one"),
        (b"PK\x03\x04garbage", "expected an Excel workbook"),
        (b"\xff\xfe\x00\x00bad", "expected text in UTF-8 or GB18030"),
        (b"id,,name\nx,y,z\n", "empty one in column 2"),
    ],
)
def test_unreadable_files_are_refused(data: bytes, said: str) -> None:
    with pytest.raises(ImportRefused, match=said):
        read_sheets(data, "f.csv")
