"""Broker URLs: credentials and the TLS CA file option."""

from __future__ import annotations

import pytest

from wire.broker import BrokerAddress, parse_mqtt_url


def test_credentials_and_ca_file() -> None:
    assert parse_mqtt_url("mqtts://gw-1:p%40ss@mq.example?cafile=/etc/ct/ca.pem") == BrokerAddress(
        "mq.example", 8883, True, "gw-1", "p@ss", "/etc/ct/ca.pem"
    )
    assert parse_mqtt_url("mqtt://127.0.0.1:1884") == BrokerAddress("127.0.0.1", 1884, False)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("mqtt://h?cafile=/ca.pem", "needs mqtts"),
        ("mqtts://h?capath=/etc", "unknown options"),
        ("http://h", "must start with"),
    ],
)
def test_refused(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_mqtt_url(url)
