"""cloud.ingest.brokers: one stable MQTT session per broker."""

from __future__ import annotations

from cloud.ingest.brokers import broker_client_id


def test_one_broker_keeps_the_client_id() -> None:
    assert broker_client_id("ingest-1", "mqtt://b1:1883", 1) == "ingest-1"


def test_several_brokers_get_one_stable_id_each_whatever_their_order() -> None:
    first = broker_client_id("ingest-1", "mqtts://svc:pw@b1.example:8883", 2)
    second = broker_client_id("ingest-1", "mqtt://10.0.0.2:1883", 2)
    assert first == "ingest-1@b1.example-8883"
    assert second == "ingest-1@10.0.0.2-1883"
    assert "pw" not in first  # never the password
    assert broker_client_id("ingest-1", "mqtt://[::1]:1883", 3) == "ingest-1@--1-1883"
