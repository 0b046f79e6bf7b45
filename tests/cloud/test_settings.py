"""One settings class: every documented ``CT_*`` variable is one of its fields, declared once."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from cloud.settings import (
    AlertSection,
    ApiSection,
    IngestSection,
    LedgerSection,
    ProvenanceJobSection,
    SchedulerSection,
    Settings,
    settings_problems,
)
from common.settings import CommonSection
from ledger.service.settings import get_ledger_section

ROOT = Path(__file__).resolve().parents[2]
_TABLE_ROW = re.compile(r"^\s*\|.*$", re.MULTILINE)
_VARIABLE = re.compile(r"\bCT_[A-Z0-9_]*[A-Z0-9]\b")
# CLI options that take their default from a variable (typer's envvar=), not settings.
_OPTION_ENVVAR = re.compile(r'envvar="(CT_[A-Z0-9_]+)"')


def _documented_in_tables() -> dict[str, set[str]]:
    """``CT_*`` names in the Markdown tables of README.md and docs/, with their files."""
    found: dict[str, set[str]] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for row in _TABLE_ROW.findall(path.read_text(encoding="utf-8")):
            for name in _VARIABLE.findall(row):
                found.setdefault(name, set()).add(path.name)
    return found


def _option_envvars() -> set[str]:
    return {
        name
        for package in ("cloud", "ledger", "channeltrace")
        for path in (ROOT / package).rglob("*.py")
        for name in _OPTION_ENVVAR.findall(path.read_text(encoding="utf-8"))
    }


def _declaring(field: str) -> list[type]:
    """The classes of Settings' hierarchy that declare ``field`` themselves."""
    return [c for c in Settings.__mro__ if field in inspect.get_annotations(c)]


def _settings_variables() -> set[str]:
    return {f"CT_{name.upper()}" for name in Settings.model_fields}


def test_the_tables_are_found() -> None:
    documented = _documented_in_tables()
    assert "README.md" in documented["CT_DATABASE_URL"]
    assert "CT_ALERTS_HEARTBEAT_TIMEOUT" in documented  # docs/alerts.md, docs/operations.md
    assert len(documented) > 30


def test_every_documented_variable_is_a_field_of_settings() -> None:
    fields, options = _settings_variables(), _option_envvars()
    unknown = {
        name: sorted(files)
        for name, files in _documented_in_tables().items()
        if name not in fields and name not in options
    }
    assert unknown == {}


@pytest.mark.parametrize("name", ["CT_DATABASE_URL", "CT_ENVIRONMENT", "CT_ETH_RPC_URL"])
def test_a_formerly_repeated_variable_is_declared_once(name: str) -> None:
    field = name.removeprefix("CT_").lower()
    assert len(_declaring(field)) == 1, _declaring(field)
    assert field in Settings.model_fields


def test_every_field_is_declared_in_exactly_one_section() -> None:
    for field in Settings.model_fields:
        assert len(_declaring(field)) == 1, (field, _declaring(field))
    assert "environment" in CommonSection.__annotations__
    assert "database_url" in CommonSection.__annotations__


def test_settings_is_each_of_its_sections() -> None:
    settings = Settings(environment="development")
    for section in (ApiSection, IngestSection, SchedulerSection, ProvenanceJobSection,
                    AlertSection, LedgerSection, CommonSection):  # fmt: skip
        assert isinstance(settings, section)
    assert settings.private_webhooks_allowed  # the alert section sees the common environment


def test_variables_keep_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"CT_ALERTS_GAP_GRACE": "PT2M", "CT_PROVENANCE_INBOX_BATCH": "7",
                        "CT_LEDGER_CONTRACT": "0xabc", "CT_SCHEDULER_LEADER_RETRY_S": "2",
                        "CT_INGEST_MQTT_URLS": "mqtt://a:1883, mqtt://b:1883",
                        "CT_API_PORT": "8123"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.alerts_gap_grace.total_seconds() == 120
    assert settings.provenance_inbox_batch == 7
    assert settings.ledger_contract == "0xabc"
    assert settings.scheduler_leader_retry_s == 2
    assert settings.ingest_mqtt_urls == ("mqtt://a:1883", "mqtt://b:1883")
    assert settings.api_port == 8123


def test_the_ledger_reads_its_section_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CT_LEDGER_CONTRACT", "0xdef")
    monkeypatch.setenv("CT_DATABASE_URL", "postgresql://ledger@db:5432/ct")
    get_ledger_section.cache_clear()
    try:
        ledger = get_ledger_section()
    finally:
        get_ledger_section.cache_clear()
    assert type(ledger).__mro__[1] is LedgerSection
    assert ledger.ledger_contract == "0xdef"
    assert ledger.database_url == "postgresql://ledger@db:5432/ct"
    assert set(type(ledger).model_fields) == set(LedgerSection.model_fields)


def test_bad_variables_are_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CT_API_PORT", "eighty")
    monkeypatch.setenv("CT_ALERTS_GAP_GRACE", "soon")
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = settings_problems(caught.value)
    assert "\n" not in line
    assert "CT_API_PORT: " in line
    assert "CT_ALERTS_GAP_GRACE: " in line
