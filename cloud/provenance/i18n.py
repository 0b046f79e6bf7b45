"""Languages of the consumer pages: Jinja2 templates with Babel message catalogs.

Source strings are English; ``locale/zh_CN/LC_MESSAGES/messages.po`` translates every one
of them into Simplified Chinese (``messages.mo`` is compiled from it and shipped; a test
checks both are complete and in step with the sources, ``docs/provenance.md`` gives the
``pybabel`` commands). Dates and times are shown in China Standard Time unless the page
is told another zone, numbers with the locale's separators, durations in words
("40 minutes" / "40分钟"), all by Babel's CLDR data.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta, get_timezone_name
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

__all__ = [
    "DEFAULT_TIMEZONE",
    "LANGUAGES",
    "LOCALE_DIR",
    "Formatter",
    "environment",
    "preferred_language",
    "translations",
]

_logger = logging.getLogger(__name__)

#: Page language -> Babel locale (catalog directory).
LANGUAGES: Final = {"en": "en", "zh": "zh_CN"}
HTML_LANG: Final = {"en": "en", "zh": "zh-CN"}
LOCALE_DIR: Final = Path(__file__).with_name("locale")
TEMPLATE_DIR: Final = Path(__file__).with_name("templates")
DEFAULT_TIMEZONE: Final = "Asia/Shanghai"
_MAX_REMEMBERED: Final = 16_384


def preferred_language(accept_language: str | None) -> str:
    """``zh`` or ``en``: the first of them by q-value in ``Accept-Language`` (default en)."""
    if accept_language is not None and len(accept_language) <= 128:
        return _preferred_remembered(accept_language)  # phones send a handful of values
    return _preferred(accept_language)


@functools.lru_cache(maxsize=1_024)
def _preferred_remembered(accept_language: str) -> str:
    return _preferred(accept_language)


def _preferred(accept_language: str | None) -> str:
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in LANGUAGES and q > 0 and (best is None or (q, -position) > best[:2]):
            best = (q, -position, lang)
    return "en" if best is None else best[2]


@functools.lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> Translations:
    """The compiled catalog of ``lang`` (English: the source strings themselves)."""
    locale = LANGUAGES[lang]
    found = Translations.load(str(LOCALE_DIR), [locale], domain="messages")
    if not isinstance(found, Translations) and lang != "en":
        _logger.error("no compiled message catalog for %s in %s", locale, LOCALE_DIR)
    return found  # type: ignore[return-value]


def _remember(memo: dict[Any, str], key: Any, text: str) -> None:
    if len(memo) >= _MAX_REMEMBERED:
        memo.clear()
    memo[key] = text


class Formatter:
    """Dates, times, numbers and durations for one page language and time zone (get one
    with :meth:`of`: they are shared, and remember what they formatted)."""

    def __init__(self, lang: str, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.lang = lang
        self.locale = Locale.parse(LANGUAGES[lang])
        self.tz = ZoneInfo(timezone)
        self._zone_name: str | None = None
        # What pages show again and again (custody events across units, a code's first
        # scan on each later scan, small counts): Babel takes tens of µs per call.
        self._dates: dict[datetime, str] = {}
        self._date_times: dict[datetime, str] = {}
        self._numbers: dict[tuple[float, int], str] = {}

    @classmethod
    @functools.lru_cache(maxsize=64)
    def of(cls, lang: str, timezone: str = DEFAULT_TIMEZONE) -> Formatter:
        return cls(lang, timezone)

    def date_time(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        found = self._date_times.get(value)
        if found is None:
            found = format_datetime(value, "yyyy-MM-dd HH:mm", tzinfo=self.tz, locale=self.locale)
            _remember(self._date_times, value, found)
        return found

    def date(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        found = self._dates.get(value)
        if found is None:
            found = format_date(value.astimezone(self.tz), "medium", locale=self.locale)
            _remember(self._dates, value, found)
        return found

    def number(self, value: float, digits: int = 0) -> str:
        key = (value, digits)
        found = self._numbers.get(key)
        if found is None:
            found = format_decimal(
                round(value, digits), format=f"#,##0.{'0' * digits}" if digits else "#,##0",
                locale=self.locale,
            )  # fmt: skip
            _remember(self._numbers, key, found)
        return found

    def percent(self, value: float) -> str:
        return format_percent(value, locale=self.locale)

    def duration(self, value: timedelta) -> str:
        """``40 minutes``, ``3 hours``, ``2 days`` (at least a minute)."""
        return format_timedelta(
            max(value, timedelta(minutes=1)), threshold=1.5, locale=self.locale
        )

    def zone_name(self) -> str:
        if self._zone_name is None:
            self._zone_name = get_timezone_name(self.tz, width="long", locale=self.locale)
        return self._zone_name


_LITERAL: Final = re.compile(r'_\("((?:[^"\\]|\\.)*)"\)')


class _TranslatingLoader(jinja2.FileSystemLoader):
    """Templates of one language with every ``_("literal")`` already translated: a page
    then costs no catalog lookup per message (``pybabel extract`` reads the sources as
    they are; messages with values keep ``|format``)."""

    def __init__(self, lang: str) -> None:
        super().__init__(str(TEMPLATE_DIR))
        self._translations = translations(lang)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)

        def translated(match: re.Match[str]) -> str:
            text = self._translations.gettext(match.group(1).replace('\\"', '"'))
            return json.dumps(text, ensure_ascii=False)  # a Jinja string literal

        return _LITERAL.sub(translated, source), filename, uptodate


@functools.lru_cache(maxsize=len(LANGUAGES))
def environment(lang: str) -> jinja2.Environment:
    """The template environment of one language (its catalog installed)."""
    env = jinja2.Environment(
        loader=_TranslatingLoader(lang),
        autoescape=True,
        auto_reload=False,  # templates ship with the package: no stat() per page
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    # Old-style gettext: a plain string the autoescape escapes once, values given with
    # ``|format`` (escaped with it), an order of magnitude cheaper per message than the
    # new style's Markup formatting.
    env.install_gettext_translations(translations(lang), newstyle=False)  # type: ignore[attr-defined]
    env.globals["html_lang"] = HTML_LANG[lang]
    return env


@functools.lru_cache(maxsize=64)
def _template(template: str, lang: str) -> jinja2.Template:
    return environment(lang).get_template(template)


def render(template: str, lang: str, **context: Any) -> str:
    return _template(template, lang).render(lang=lang, **context)
