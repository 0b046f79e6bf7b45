"""Started plainly, every deployable is in production: development secrets are refused."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from cloud.auth.errors import AuthConfigError
from cloud.auth.tokens import DEV_TOKEN_SECRET, token_secret
from cloud.settings import Settings
from ledger.errors import KeyConfigError
from ledger.service.keys import DEV_LOG_KEY, load_anchor_private_key, load_log_key
from ledger.service.settings import get_ledger_section
from tests.plugins.environment import TEST_ENVIRONMENT


@pytest.fixture
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CT_ENVIRONMENT, as on a server where nobody set it."""
    monkeypatch.delenv("CT_ENVIRONMENT", raising=False)
    for name in ("CT_AUTH_TOKEN_SECRET", "CT_LEDGER_KEY", "CT_LEDGER_KEY_FILE",
                 "CT_LEDGER_ANCHOR_KEY", "CT_LEDGER_ANCHOR_KEY_FILE",
                 "CT_ALERTS_WEBHOOK_ALLOW_PRIVATE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("plain_environment")
def test_the_settings_default_to_production() -> None:
    assert Settings().environment == "production"
    get_ledger_section.cache_clear()  # the ledger service's own reader, when run alone
    try:
        assert get_ledger_section().environment == "production"
    finally:
        get_ledger_section.cache_clear()


@pytest.mark.usefixtures("plain_environment")
def test_development_secrets_are_refused_by_default() -> None:
    from cloud.app import create_app

    with pytest.raises(AuthConfigError, match="CT_AUTH_TOKEN_SECRET is required in production"):
        create_app(Settings())
    with pytest.raises(AuthConfigError, match="refused in production"):
        token_secret(Settings(auth_token_secret=SecretStr(DEV_TOKEN_SECRET)))
    with pytest.raises(KeyConfigError, match="required in production"):
        load_log_key(Settings())
    with pytest.raises(KeyConfigError):
        load_log_key(Settings(ledger_key=SecretStr(DEV_LOG_KEY.to_skey())))
    with pytest.raises(KeyConfigError, match="required in production"):
        load_anchor_private_key(Settings())
    assert not Settings().private_webhooks_allowed


def test_the_tests_say_development_explicitly() -> None:
    assert TEST_ENVIRONMENT == "development"
    assert Settings().environment == "development"
