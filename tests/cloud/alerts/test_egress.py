"""Webhook destinations: private networks refused unless allowed."""

from __future__ import annotations

import pytest

from cloud.alerts.egress import public_address, refused_destination
from cloud.settings import Settings


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


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 (RFC 6052) of 127.0.0.1
        "64:ff9b::10.1.2.3",  # ... of a private network
        "64:ff9b::a9fe:a9fe",  # ... of the cloud metadata service 169.254.169.254
        "64:ff9b::e000:1",  # ... of a multicast group
        "64:ff9b:1::808:808",  # local-use NAT64 (RFC 8215): the operator's own network
        "64:ff9b:1::a00:1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:c0a8:a::1",  # 6to4 of 192.168.0.10
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:0:a00:1",  # IPv4-translated (SIIT) of 10.0.0.1
        "::127.0.0.1",  # IPv4-compatible (deprecated): refused whatever it embeds
        "::8.8.8.8",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "fd00::1",  # unique local
        "fe80::1%eth0",  # link-local with a zone
    ],
)
def test_ipv6_forms_of_private_addresses_are_not_public(address: str) -> None:
    assert not public_address(address)


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2001:4860:4860::8888"],
)
def test_ipv6_forms_of_public_addresses_stay_public(address: str) -> None:
    assert public_address(address)


@pytest.mark.parametrize(
    "url", ["http://[64:ff9b::7f00:1]:8080/hook", "https://[2002:a00:1::1]/x"]
)
def test_urls_naming_a_translated_private_address_are_refused(url: str) -> None:
    reason = refused_destination(url)
    assert reason is not None
    assert "non-public" in reason


def test_private_webhooks_allowed_in_development_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CT_ALERTS_WEBHOOK_ALLOW_PRIVATE", raising=False)
    monkeypatch.setenv("CT_ENVIRONMENT", "production")
    assert not Settings().private_webhooks_allowed
    monkeypatch.setenv("CT_ALERTS_WEBHOOK_ALLOW_PRIVATE", "true")
    assert Settings().private_webhooks_allowed
    monkeypatch.delenv("CT_ALERTS_WEBHOOK_ALLOW_PRIVATE")
    monkeypatch.setenv("CT_ENVIRONMENT", "development")
    assert Settings().private_webhooks_allowed
