"""The consumer pages' message catalogs: every message of the templates and code is
translated, the shipped .mo is compiled from the .po, and the pages use no message the
catalog lacks."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from cloud.provenance.i18n import LOCALE_DIR, TEMPLATE_DIR, translations

ROOT = Path(__file__).resolve().parents[3]
PO = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"
MO = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.mo"


def _po() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f)


def _extracted(tmp_path: Path) -> set[str]:
    out = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
         "cloud/provenance/babel.cfg", "-k", "N_", "--no-location", "--omit-header",
         "-o", str(out), "cloud/provenance"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with out.open("rb") as f:
        return {m.id for m in read_po(f) if m.id}


def test_the_catalog_holds_every_message_of_the_sources(tmp_path: Path) -> None:
    catalog = {m.id for m in _po() if m.id}
    extracted = _extracted(tmp_path)
    assert extracted, "nothing extracted: the extraction command is broken"
    assert extracted - catalog == set(), "run pybabel update (docs/provenance.md)"
    assert catalog - extracted == set(), "obsolete messages: run pybabel update"


def test_every_message_is_translated_and_none_is_fuzzy() -> None:
    catalog = _po()
    assert not catalog.fuzzy
    for message in catalog:
        if not message.id:
            continue
        assert message.string, f"untranslated: {message.id!r}"
        assert "fuzzy" not in message.flags, f"fuzzy: {message.id!r}"
        # placeholders survive translation
        wanted = set(re.findall(r"%\((\w+)\)s", str(message.id)))
        assert set(re.findall(r"%\((\w+)\)s", str(message.string))) == wanted, message.id


def test_the_shipped_mo_is_compiled_from_the_po() -> None:
    po = {m.id: m.string for m in _po() if m.id}
    mo = {m.id: m.string for m in read_mo(io.BytesIO(MO.read_bytes())) if m.id}
    assert mo == po, "run pybabel compile -d cloud/provenance/locale -D messages"


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATE_DIR.glob("*.html")))
def test_templates_translate_in_chinese(template: str) -> None:
    from cloud.provenance.i18n import environment

    env = environment("zh")
    assert env.loader is not None
    source = env.loader.get_source(env, template)[0]
    assert '_("' not in source  # every literal message was replaced by its translation
    assert translations("zh").gettext("Genuine product") == "正品"
