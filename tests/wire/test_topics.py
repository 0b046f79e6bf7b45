from __future__ import annotations

import pytest

from wire import Kind, Topic, TopicError, subscription


def test_topic_round_trip() -> None:
    topic = Topic("acme", "wh-sh-01", "gw-0001", Kind.STOCK)
    assert str(topic) == "ct/v1/acme/wh-sh-01/gw-0001/stock"
    assert Topic.parse(str(topic)) == topic
    assert topic.with_kind(Kind.STATE).kind is Kind.STATE


@pytest.mark.parametrize(
    "bad",
    [
        "ct/v1/acme/site/dev",  # too short
        "ct/v1/acme/site/dev/telemetry/extra",
        "ct/v2/acme/site/dev/telemetry",
        "xx/v1/acme/site/dev/telemetry",
        "ct/v1/acme/site/dev/weather",  # unknown kind
        "ct/v1/+/site/dev/telemetry",  # wildcard
        "ct/v1/acme/#/dev/telemetry",
        "ct/v1/acme/site//telemetry",
        "ct/v1/$SYS/site/dev/telemetry",
        "ct/v1/acme/site/" + "d" * 65 + "/telemetry",
    ],
)
def test_parse_rejects_bad_topics(bad: str) -> None:
    with pytest.raises(TopicError):
        Topic.parse(bad)


def test_segments_validated_on_construction() -> None:
    with pytest.raises(TopicError, match="device"):
        Topic("acme", "site", "dev/1", Kind.TELEMETRY)


def test_subscriptions() -> None:
    assert subscription() == "ct/v1/+/+/+/+"
    assert subscription(Kind.TELEMETRY, tenant="acme") == "ct/v1/acme/+/+/telemetry"
    assert subscription(share_group="ingest") == "$share/ingest/ct/v1/+/+/+/+"
    with pytest.raises(TopicError):
        subscription(share_group="a/b")
