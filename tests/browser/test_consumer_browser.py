"""The consumer pages in real headless Chromium, as a shopper's phone shows them: every
verdict (genuine, seen before, suspected clone, suspected diversion, counterfeit,
recalled, inconsistent custody) and the public proof page, in Chinese and English, at 320
and 390 px. Each page: fits the width without sideways scroll, draws Chinese glyphs (no
tofu boxes), shows only translated words, and is kept as a screenshot
(``CT_SCREENSHOT_DIR``, else the test's temporary directory)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.provenance.codes import sign_link
from tests.plugins.anvil import Anvil

from .consumer_world import (
    BEIJING,
    BRAND,
    CHENGDU,
    CLONED,
    DIVERTED,
    FORGED,
    GENUINE,
    GUANGZHOU,
    LOT,
    NEVER_SHIPPED,
    RECALLED,
    SHANGHAI,
    SITE_NAMES,
    ConsumerWorld,
    build_consumer_world,
)

pytestmark = pytest.mark.integration

LANGS = {"zh": "zh-CN,zh;q=0.9", "en": "en-GB,en;q=0.9"}
# Latin words a Chinese page may show: the brand's name, the batch code, the toggle to
# English, units, and what a proof is made of (hashes, the command to check it).
_LATIN_OK = {
    "Acme", "Wines", "English", "SHA", "JSON", "RPC", "Anchored", "channeltrace", "ledger",
    "verify", "proof", "json", "rpc", "log", "key", "vkey", "contract", "IP",
}  # fmt: skip
_CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CT_SCREENSHOT_DIR") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def consumer(
    database_url: str,
    serve: Callable[[str], str],
    anvil: Anvil,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[ConsumerWorld, str]:
    monkeypatch.setenv("CT_CHAIN_EXPLORER_TX_URL", "https://explorer.example/tx/{tx}")
    base = serve(database_url)
    world = build_consumer_world(database_url, base.removeprefix("http://"), tmp_path, anvil)
    return world, base


@pytest.fixture
def phone(browser: Any) -> Iterator[Callable[[str, int], Any]]:
    contexts: list[Any] = []

    def open_page(lang: str, width: int) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": 780}, device_scale_factor=2, is_mobile=True,
            has_touch=True, locale="zh-CN" if lang == "zh" else "en-GB",
            extra_http_headers={"Accept-Language": LANGS[lang]},
        )  # fmt: skip
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


_GLYPHS_JS = """
(chars) => {
  const canvas = document.createElement('canvas');
  canvas.width = 48; canvas.height = 48;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const family = getComputedStyle(document.body).fontFamily;
  const ink = (ch) => {
    ctx.clearRect(0, 0, 48, 48);
    ctx.font = '36px ' + family;
    ctx.fillText(ch, 4, 38);
    return Array.from(ctx.getImageData(0, 0, 48, 48).data).join(',');
  };
  const tofu = ink(String.fromCodePoint(0x10FFFD));  // a code point no font has
  const drawn = chars.map(ink);
  return {tofu: chars.filter((c, i) => drawn[i] === tofu),
          distinct: new Set(drawn).size, count: chars.length};
}
"""


def _check(page: Any, name: str, lang: str, width: int, shots: Path) -> str:
    """The page as a shopper sees it; returns its visible text."""
    page.screenshot(path=str(shots / f"{name}-{lang}-{width}.png"), full_page=True)
    sideways = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert sideways <= 0, f"{name} {lang} at {width} px scrolls sideways by {sideways} px"
    text: str = page.evaluate("document.body.innerText")  # what is visible, nothing hidden
    if lang == "zh":
        chars = sorted(set(_CJK.findall(text)))[:40]
        assert chars, f"{name}: no Chinese on the Chinese page"
        glyphs = page.evaluate(_GLYPHS_JS, chars)
        assert glyphs["tofu"] == [], f"{name}: drawn as boxes (no CJK font?): {glyphs['tofu']}"
        assert glyphs["distinct"] == glyphs["count"]  # each character its own glyph
        prose = text  # hashes, transaction ids and the command line are not words to translate
        for literal in page.evaluate(
            "Array.from(document.querySelectorAll('.hash, code')).map(e => e.innerText)"
        ):
            prose = prose.replace(literal, " ")
        words = set(re.findall(r"[A-Za-z]{2,}", prose)) - _LATIN_OK - set(BRAND.split())
        words -= set(re.findall(r"[A-Za-z]{2,}", LOT))
        assert words == set(), f"{name}: untranslated words on the Chinese page: {words}"
    else:
        allowed = "".join(SITE_NAMES) + "中文华南酒业"
        foreign = {c for c in _CJK.findall(text) if c not in allowed}
        assert foreign == set(), f"{name}: Chinese on the English page: {foreign}"
    return text


def _scan(page: Any, base: str, path: str) -> str:
    response = page.goto(base + path)
    assert response is not None, path
    assert response.status == 200, path
    return str(page.url)


def _both(page: Any, name: str, first: str, shots: Path) -> dict[str, str]:
    """One scan's page in its language, then the other one through the page's own toggle
    (a fragment: no second scan), each at 390 and 320 px; the visible text per language."""
    texts = {}
    other = "en" if first == "zh" else "zh"
    for lang in (first, other):
        if lang == other:
            page.click(f"nav >> text={'English' if other == 'en' else '中文'}")
            assert page.url.endswith(f"#{other}")
        for width in (390, 320):
            page.set_viewport_size({"width": width, "height": 780})
            texts[lang] = _check(page, name, lang, width, shots)
    return texts


def test_every_verdict_in_both_languages_on_a_phone(
    consumer: tuple[ConsumerWorld, str], phone: Callable[[str, int], Any], shots: Path
) -> None:
    world, base = consumer
    forged = sign_link(world.codes[FORGED].link, _stranger()).uri.split(world.host, 1)[1]
    with httpx.Client(base_url=base) as http:  # the copy of the code, scanned in Beijing
        assert http.get(world.path(CLONED, BEIJING)).status_code == 200
    pages = [
        ("genuine", "zh", world.path(GENUINE, GUANGZHOU),
         {"en": "Genuine product", "zh": "正品"}),
        ("seen-before", "en", world.path(GENUINE, GUANGZHOU),
         {"en": "checked 1 time(s) before", "zh": "此前已被查验1次"}),
        ("clone", "zh", world.path(CLONED, SHANGHAI),
         {"en": "already scanned in Beijing", "zh": "北京市被扫描过"}),
        ("diversion", "en", world.path(DIVERTED, GUANGZHOU),
         {"en": "sold in Hangzhou, Zhejiang", "zh": "在浙江省杭州市售出"}),
        ("counterfeit", "zh", forged + f"&lat={CHENGDU[0]}&lon={CHENGDU[1]}",
         {"en": "did not issue this code", "zh": "此码不是品牌方发放的"}),
        ("recalled", "en", world.path(RECALLED, GUANGZHOU),
         {"en": "Recalled: do not use this product", "zh": "已召回"}),
        ("custody", "zh", world.path(NEVER_SHIPPED, CHENGDU),
         {"en": "has not left the brand's warehouse", "zh": "尚未离开品牌方的仓库"}),
    ]  # fmt: skip
    for name, first, path, expected in pages:
        page = phone(first, 390)
        _scan(page, base, path)
        texts = _both(page, name, first, shots)
        for lang in ("zh", "en"):
            assert expected[lang] in texts[lang], (name, lang, texts[lang][:600])
        if name == "counterfeit":  # still says what the code claims to be, and what to do
            assert "Reserve Red 750 ml" in texts["en"]
            assert "Report a suspected fake" in texts["en"]
            assert "http" not in texts["en"]
            assert "key " not in texts["en"]
        if name == "genuine":
            assert "Storage conditions" in texts["en"]
            assert "广州配送中心" in texts["zh"]  # places by name, not codes
        if name == "clone":  # still at the Guangzhou DC, which had a warm afternoon
            assert "too warm for 2 hours (up to 24.0 °C)" in texts["en"]
            assert "过热2小时" in texts["zh"]


def test_the_public_proof_page_in_both_languages(
    consumer: tuple[ConsumerWorld, str], phone: Callable[[str, int], Any], shots: Path
) -> None:
    world, base = consumer
    page = phone("zh", 390)
    _scan(page, base, world.path(GENUINE, GUANGZHOU))
    page.click("section >> text=如何证明 >> nth=-1")  # the latest step's proof
    assert "/proof/" in page.url
    for lang in ("zh", "en"):
        for width in (390, 320):
            proof = phone(lang, width)
            response = proof.goto(page.url)
            assert response is not None
            assert response.status == 200
            text = _check(proof, "proof", lang, width, shots)
            sealed = {"zh": "此环节已封存在公共区块链上", "en": "sealed on a public blockchain"}
            assert sealed[lang] in text
            assert "channeltrace ledger verify" in text
            link = proof.locator("a[href^='https://explorer.example/tx/0x']:visible")
            assert link.count() == 1
            assert "urn:epc" not in text
            assert "sgln" not in text


def _stranger() -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()
