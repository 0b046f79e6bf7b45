"""Offline reverse geocoding: city centres, points near provincial borders, points abroad.

Ground truth is independent of the data: the province and city every Chinese reader knows
each landmark belongs to. Border points are towns that sit on a provincial border (each
test also shows, from the same data, that another province starts within 5 km of it).
"""

from __future__ import annotations

import math

import pytest

from cloud.channel.errors import GeocoderUnavailable, RegionCodeError
from cloud.channel.geocode import Geocoder, default_geocoder
from cloud.channel.regions import Level, covers


@pytest.fixture(scope="module")
def geocoder() -> Geocoder:
    return default_geocoder()


# (place, lat, lon, GB/T 2260 code of its city; the province for a municipality or SAR)
CITY_CENTRES = [
    ("Beijing, Tiananmen", 39.9042, 116.4074, "110000"),
    ("Shanghai, People's Square", 31.2304, 121.4737, "310000"),
    ("Tianjin", 39.1252, 117.1909, "120000"),
    ("Chongqing, Jiefangbei", 29.5630, 106.5516, "500000"),
    ("Guangzhou", 23.1291, 113.2644, "440100"),
    ("Shenzhen", 22.5431, 114.0579, "440300"),
    ("Dongguan", 23.0205, 113.7518, "441900"),
    ("Foshan", 23.0215, 113.1214, "440600"),
    ("Chengdu", 30.5728, 104.0668, "510100"),
    ("Hangzhou", 30.2741, 120.1551, "330100"),
    ("Ningbo", 29.8683, 121.5440, "330200"),
    ("Nanjing", 32.0603, 118.7969, "320100"),
    ("Suzhou", 31.2990, 120.5853, "320500"),
    ("Wuhan", 30.5928, 114.3055, "420100"),
    ("Xi'an", 34.3416, 108.9398, "610100"),
    ("Zhengzhou", 34.7466, 113.6254, "410100"),
    ("Changsha", 28.2282, 112.9388, "430100"),
    ("Shenyang", 41.8057, 123.4315, "210100"),
    ("Dalian", 38.9140, 121.6147, "210200"),
    ("Harbin", 45.8038, 126.5350, "230100"),
    ("Changchun", 43.8171, 125.3235, "220100"),
    ("Jinan", 36.6512, 117.1201, "370100"),
    ("Qingdao", 36.0671, 120.3826, "370200"),
    ("Fuzhou", 26.0745, 119.2965, "350100"),
    ("Xiamen", 24.4798, 118.0894, "350200"),
    ("Kunming", 25.0389, 102.7183, "530100"),
    ("Guiyang", 26.6470, 106.6302, "520100"),
    ("Nanning", 22.8170, 108.3665, "450100"),
    ("Haikou", 20.0440, 110.1999, "460100"),
    ("Sanya", 18.2528, 109.5119, "460200"),
    ("Lanzhou", 36.0611, 103.8343, "620100"),
    ("Xining", 36.6171, 101.7782, "630100"),
    ("Yinchuan", 38.4872, 106.2309, "640100"),
    ("Hohhot", 40.8414, 111.7519, "150100"),
    ("Urumqi", 43.8256, 87.6168, "650100"),
    ("Kashgar", 39.4704, 75.9898, "653100"),
    ("Lhasa", 29.6520, 91.1721, "540100"),
    ("Taiyuan", 37.8706, 112.5489, "140100"),
    ("Shijiazhuang", 38.0428, 114.5149, "130100"),
    ("Hefei", 31.8206, 117.2272, "340100"),
    ("Nanchang", 28.6820, 115.8579, "360100"),
    ("Hong Kong, Tsim Sha Tsui", 22.2988, 114.1722, "810000"),
    ("Macao, Senado Square", 22.1937, 113.5401, "820000"),
]


@pytest.mark.parametrize(
    ("name", "lat", "lon", "city"), CITY_CENTRES, ids=[c[0] for c in CITY_CENTRES]
)
def test_city_centres(geocoder: Geocoder, name: str, lat: float, lon: float, city: str) -> None:
    place = geocoder.locate(lat, lon)
    assert place is not None, name
    found = place.city.code if place.city is not None else place.province.code
    assert found == city, (name, place.label)
    assert place.province.code == city[:2] + "0000"
    assert covers(city, place.code)  # the finest code is inside its city


# (town, lat, lon, its province, the province across the border)
BORDER_TOWNS = [
    ("Luohu port, Shenzhen", 22.5405, 114.1180, "440000", "810000"),
    ("Sheung Shui, Hong Kong", 22.5016, 114.1278, "810000", "440000"),
    ("Gongbei port, Zhuhai", 22.2220, 113.5520, "440000", "820000"),
    ("Senado Square, Macao", 22.1937, 113.5401, "820000", "440000"),
    ("Huaqiao, Kunshan", 31.3015, 121.0960, "320000", "310000"),
    ("Anting, Jiading", 31.2925, 121.1645, "310000", "320000"),
    ("Liuhe, Taicang", 31.5100, 121.2900, "320000", "310000"),
    ("Zhouzhuang, Kunshan", 31.1160, 120.8460, "320000", "310000"),
    ("Zhujiajiao, Qingpu", 31.1100, 121.0500, "310000", "320000"),
    ("Fengjing, Jinshan", 30.8880, 121.0150, "310000", "330000"),
    ("Jiujiang on the Yangtze", 29.7300, 115.9950, "360000", "420000"),
    ("Xiaochi, Huangmei", 29.7700, 115.9650, "420000", "360000"),
    ("Shanhaiguan, Qinhuangdao", 40.0097, 119.7536, "130000", "210000"),
    ("Yanjiao, Sanhe", 39.9450, 116.8250, "130000", "110000"),
    ("Songzhuang, Tongzhou", 39.9300, 116.7300, "110000", "130000"),
]


def _nearest_other_province(
    geocoder: Geocoder, lat: float, lon: float, province: str
) -> tuple[float, str] | None:
    """The closest point (rings of 250 m up to 5 km, every 5°) in another province."""
    for step in range(1, 21):
        km = step * 0.25
        for k in range(72):
            a = math.radians(k * 5)
            q_lat = lat + km / 111.2 * math.cos(a)
            q_lon = lon + km / (111.2 * math.cos(math.radians(lat))) * math.sin(a)
            place = geocoder.locate(q_lat, q_lon)
            if place is not None and place.province.code != province:
                return km, place.province.code
    return None


@pytest.mark.parametrize(
    ("name", "lat", "lon", "province", "across"), BORDER_TOWNS, ids=[b[0] for b in BORDER_TOWNS]
)
def test_towns_within_5_km_of_a_provincial_border(
    geocoder: Geocoder, name: str, lat: float, lon: float, province: str, across: str
) -> None:
    place = geocoder.locate(lat, lon)
    assert place is not None, name
    assert place.province.code == province, (name, place.label)
    nearest = _nearest_other_province(geocoder, lat, lon, province)
    assert nearest is not None, f"{name}: no other province within 5 km"
    assert nearest[1] == across, (name, nearest)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(37.5665, 126.9780), (21.0285, 105.8542), (35.6762, 139.6503), (30.0, 125.0), (0.0, 0.0)],
    ids=["Seoul", "Hanoi", "Tokyo", "East China Sea", "Null Island"],
)
def test_points_outside_china_have_no_place(geocoder: Geocoder, lat: float, lon: float) -> None:
    assert geocoder.locate(lat, lon) is None


@pytest.mark.parametrize(("lat", "lon"), [(math.nan, 0.0), (math.inf, 1.0), (91.0, 0.0)])
def test_impossible_points_have_no_place(geocoder: Geocoder, lat: float, lon: float) -> None:
    assert geocoder.locate(lat, lon) is None


def test_place_labels_and_codes(geocoder: Geocoder) -> None:
    place = geocoder.locate(22.5431, 114.0579)
    assert place is not None
    assert place.label == "广东省 深圳市 福田区"
    assert place.code == "440304"
    assert place.district is not None
    beijing = geocoder.locate(39.9042, 116.4074)
    assert beijing is not None
    assert beijing.city is None
    assert beijing.label == "北京市 东城区"
    assert beijing.code == "110101"


def test_region_names_and_authorisable_levels(geocoder: Geocoder) -> None:
    info = geocoder.region("440300")
    assert info is not None
    assert (info.name, info.level, info.parent) == (
        "深圳市",
        Level.CITY,
        "广东省",
    )
    assert geocoder.authorisable("CN-GD").code == "440000"
    assert geocoder.authorisable("110100").name == "北京市市辖区"  # GB/T 2260 only
    assert geocoder.authorisable("429004").name == "仙桃市"  # a province-administered city
    with pytest.raises(RegionCodeError, match=r"expected a province or city code, got '440304'"):
        geocoder.authorisable("440304")
    with pytest.raises(RegionCodeError, match="that exists, got '449900'"):
        geocoder.authorisable("449900")
    with pytest.raises(RegionCodeError, match="6 digits"):
        geocoder.authorisable("44")
    assert len(geocoder.regions(Level.PROVINCE)) == 34


def test_a_missing_data_file_is_reported(tmp_path: object) -> None:
    with pytest.raises(GeocoderUnavailable, match="cannot load the boundary data"):
        Geocoder(f"{tmp_path}/nowhere.gtc")


def test_warmed_boundaries_place_points_as_lazily_decoded_ones() -> None:
    border_towns = [(lat, lon) for _, lat, lon, _, _ in BORDER_TOWNS]
    lazy = Geocoder()
    expected = [lazy.locate(lat, lon) for lat, lon in border_towns]
    warmed = Geocoder()
    warmed.warm()
    warmed.warm()  # once is enough: the second call returns at once
    reader = warmed.boundary_reader()
    assert len(reader._geometry_cache) == reader.record_count  # every region decoded
    assert [warmed.locate(lat, lon) for lat, lon in border_towns] == expected
