"""Webhook destinations: private networks refused unless allowed."""

from __future__ import annotations

import pytest

from cloud.alerts import AlertSettings
from cloud.alerts.egress import refused_destination


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/",
        "https://192.168.0.10/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/",
        "http://localhost/",
    ],
)
def test_private_destinations_are_refused(url: str) -> None:
    assert refused_destination(url) is not None


def test_public_address_passes() -> None:
    assert refused_destination("https://93.184.216.34/hook") is None


def test_private_webhooks_allowed_in_development_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CT_ALERTS_WEBHOOK_ALLOW_PRIVATE", raising=False)
    monkeypatch.setenv("CT_ENVIRONMENT", "production")
    assert not AlertSettings().private_webhooks_allowed
    monkeypatch.setenv("CT_ALERTS_WEBHOOK_ALLOW_PRIVATE", "true")
    assert AlertSettings().private_webhooks_allowed
    monkeypatch.delenv("CT_ALERTS_WEBHOOK_ALLOW_PRIVATE")
    monkeypatch.setenv("CT_ENVIRONMENT", "development")
    assert AlertSettings().private_webhooks_allowed
