"""Where a point is, offline: GPS coordinates → province, city and district (GB/T 2260).

Backed by the ``geotool-cn`` package (``GeoToolCN``): boundary polygons of China's 34
provinces, 363 cities and 2,874 districts with a precomputed grid index, memory-mapped
from one 6 MB file, pure standard library, no network. Chosen over nearest-city lookups
(``reverse_geocoder`` and the like) because a point near a provincial border belongs to
the polygon it is in, not to whichever city centre is closest; over the GeoJSON-plus-
shapely packages because it needs no geometry engine and loads in milliseconds. Its codes
are the six-digit administrative codes of GB/T 2260 (as published by the Ministry of Civil
Affairs), so a place compares directly with a distributor's authorised regions
(:func:`cloud.channel.regions.covers`).

Licence (docs/channel-setup.md): the package's code is MIT; its boundaries are DataV
GeoAtlas data from the Amap open platform, converted to WGS-84, whose provider says
"for learning and exchange only". A brand that needs licensed boundaries can point
``CT_GEOCODER_DATA`` (a ``.gtc`` file built by the package's pipeline from its own data)
at them; nothing else changes.

Inputs are WGS-84 (what a phone's browser reports). The lookup costs microseconds
(``bench/geocode.py``); one :class:`Geocoder` is shared per process and is thread-safe.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cloud.channel.errors import GeocoderUnavailable, RegionCodeError
from cloud.channel.regions import MUNICIPALITIES, Level, RegionCode, parse_region

__all__ = ["AUTHORISABLE", "Geocoder", "Place", "RegionInfo", "default_geocoder"]

_logger = logging.getLogger(__name__)

AUTHORISABLE: Final = frozenset({Level.PROVINCE, Level.CITY})


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """A known region: its GB/T 2260 code, Chinese name and level (as the data has it)."""

    code: str
    name: str
    level: Level
    parent: str | None = None  # the province's name for a city or district


@dataclass(frozen=True, slots=True)
class Place:
    """Where a point is. ``code`` is the finest code known (district, else city, else
    province): the one to test against authorised regions."""

    province: RegionInfo
    city: RegionInfo | None
    district: RegionInfo | None

    @property
    def code(self) -> str:
        return (self.district or self.city or self.province).code

    @property
    def label(self) -> str:
        names = [self.province.name]
        for part in (self.city, self.district):
            if part is not None and part.name not in names:
                names.append(part.name)
        return " ".join(names)


class Geocoder:
    """Reverse geocoding and region names from one boundary data file."""

    def __init__(self, data_path: str | Path | None = None) -> None:
        try:
            from GeoToolCN import GeoTool, GTCFormatError
        except ImportError as exc:  # pragma: no cover - a broken install
            raise GeocoderUnavailable(
                "the geotool-cn package is not installed: pip install 'channeltrace[cloud]'"
            ) from exc
        try:
            self._tool: Any = GeoTool(None if data_path is None else str(data_path))
        except (OSError, GTCFormatError) as exc:
            raise GeocoderUnavailable(
                f"cannot load the boundary data {data_path or '(bundled)'}: {exc}"
            ) from exc
        self.data_path = data_path
        self._warm = False

    def warm(self) -> None:
        """Decode every region's boundaries now (once; about a second of CPU and 20 MB for
        the bundled data) rather than at the first point that falls near each border:
        before, a fresh resolver spent a tenth of a scan's time decoding polygons.

        Reaches geotool-cn's reader (``record_count``, ``geometry``: its lazy decoder, see
        :meth:`boundary_reader`); without them the lookups decode lazily as before."""
        if self._warm:
            return
        self._warm = True
        reader = self.boundary_reader()
        count, decode = getattr(reader, "record_count", None), getattr(reader, "geometry", None)
        if not isinstance(count, int) or not callable(decode):
            _logger.warning("geotool-cn has no record_count/geometry: boundaries decode lazily")
            return
        for index in range(count):
            decode(index)

    def boundary_reader(self) -> Any:
        """geotool-cn's reader of its boundary data file, for drawing outlines.

        geotool-cn has no public call for its polygons; this is its internal ``_data``
        (pyproject pins the minor version it was tested with; callers guard its use)."""
        return self._tool._data  # noqa: SLF001 (geotool-cn internal, see above)

    def locate(self, lat: float, lon: float) -> Place | None:
        """The place of a WGS-84 point; ``None`` outside China's boundaries (or not finite)."""
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return None
        found = self._tool.reverse(lat, lon)
        if found.province is None:
            return None
        province = _info(found.province, None)
        city = None
        if found.city is not None and found.city.code != found.province.code:
            city = _info(found.city, province.name)
        district = None
        if found.district is not None and found.district.code not in (
            found.province.code,
            None if city is None else city.code,
        ):
            district = _info(found.district, province.name)
        return Place(province, city, district)

    def region(self, code: str | RegionCode) -> RegionInfo | None:
        """The region of a code (``None`` if the data has no such region).

        The data gives municipalities no city level; GB/T 2260's ``XX0100`` ("市辖区") and
        Chongqing's ``500200`` ("县") are answered as cities of the municipality."""
        try:
            parsed = code if isinstance(code, RegionCode) else parse_region(code)
        except RegionCodeError:
            return None
        found = self._tool.get_region(parsed.code)
        province = self._tool.get_region(parsed.code[:2] + "0000")
        parent = None if province is None or parsed.level is Level.PROVINCE else province.name
        if found is not None:
            return _info(found, parent)
        if parsed.code[:2] in MUNICIPALITIES and parsed.code[2:] in ("0100", "0200"):
            if province is None:
                return None
            part = "市辖区" if parsed.code[2:] == "0100" else "县"
            return RegionInfo(parsed.code, f"{province.name}{part}", Level.CITY, province.name)
        return None

    def authorisable(self, code: str) -> RegionInfo:
        """The region of an authorised sales region code: a province or a city that exists.

        Raises :class:`RegionCodeError` saying what was expected and what was got."""
        info = self.region(code)
        if info is None:
            parse_region(code)  # a malformed code says why
            raise RegionCodeError(
                f"expected a GB/T 2260 province or city code that exists, got {code!r} "
                "(no such region in the administrative division data)"
            )
        if info.level not in AUTHORISABLE:
            raise RegionCodeError(
                f"expected a province or city code, got {code!r}: {info.name} is a "
                f"{info.level.value}; authorise its city ({code[:4]}00) instead"
            )
        return info

    def regions(self, level: Level) -> list[RegionInfo]:
        """Every region of a level, by code."""
        return [_info(r, None) for r in self._tool.list_regions(level.value)]


def _info(region: Any, parent: str | None) -> RegionInfo:
    return RegionInfo(str(region.code), str(region.name), Level(region.level), parent)


@functools.lru_cache(maxsize=2)
def default_geocoder(data_path: str | None = None) -> Geocoder:
    """The process's geocoder for ``data_path`` (loaded once, ~30 ms; thread-safe to share)."""
    geocoder = Geocoder(data_path)
    _logger.info("offline geocoder loaded (%s)", data_path or "bundled boundaries")
    return geocoder
