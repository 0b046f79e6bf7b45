"""The agent's sealing path: sampled readings come out of the outbox as signed batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.agent import Agent
from edge.config import AgentConfig, load_config, render_config
from edge.drivers import Sensor, build_sensor
from edge.outbox import Kind as OutboxKind
from edge.outbox import OutboxMessage
from edge.provision import SensorChoice
from wire import (
    Kind,
    Reading,
    SignatureError,
    TelemetryBatch,
    Topic,
    generate_private_key,
    open_message,
    write_private_key,
)

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


class StepClock:
    """Device clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Recording:
    """Wraps a sensor and keeps every reading it produced."""

    def __init__(self, inner: Sensor) -> None:
        self.inner = inner
        self.sensor_id = inner.sensor_id
        self.readings: list[Reading] = []

    def sample(self, now: datetime) -> Sequence[Reading]:
        readings = list(self.inner.sample(now))
        self.readings.extend(readings)
        return readings


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return generate_private_key()


@pytest.fixture
def config(tmp_path: Path, key: Ed25519PrivateKey) -> AgentConfig:
    write_private_key(key, tmp_path / "device.pem")
    sensor = SensorChoice.simulated("dairy").table("gw-0001")
    text = render_config("gw-0001", "acme", "wh-sh-01", "mqtt://127.0.0.1:1", sensor=sensor)
    (tmp_path / "agent.toml").write_text(text, encoding="utf-8")
    return load_config(tmp_path / "agent.toml")


@pytest.fixture
def agent(config: AgentConfig) -> Iterator[tuple[Agent, Recording]]:
    sensor = Recording(build_sensor(config.sensors[0]))
    agent = Agent(config, sensors=[sensor], clock=StepClock())
    yield agent, sensor
    agent.outbox.close()


def sealed(agent: Agent) -> list[OutboxMessage]:
    return agent.outbox.pending_messages(1_000_000)


def open_all(
    messages: list[OutboxMessage], key: Ed25519PrivateKey
) -> list[tuple[int, TelemetryBatch]]:
    topic = str(Topic("acme", "wh-sh-01", "gw-0001", Kind.TELEMETRY))
    opened = []
    for message in messages:
        result = open_message(topic, message.data, lambda _d: [key.public_key()])
        assert result.envelope.seq == message.seq
        assert isinstance(result.payload, TelemetryBatch)
        opened.append((message.seq, result.payload))
    return opened


def test_sealed_batches_carry_exactly_the_sampled_readings(
    agent: tuple[Agent, Recording], key: Ed25519PrivateKey
) -> None:
    a, sensor = agent
    for _ in range(10):
        assert a.sample_once() == 2  # temperature and humidity
    assert a.outbox.seal(a._seal, max_items=500) == 1

    [(_, batch)] = open_all(sealed(a), key)
    assert batch.readings == sensor.readings
    assert len(batch.readings) == 20
    assert batch.sent_at > batch.readings[-1].ts  # sealed after the last sample, same clock
    assert (a.samples, a.readings) == (10, 20)


def test_batches_respect_max_items_and_seqs_increase(
    agent: tuple[Agent, Recording], key: Ed25519PrivateKey
) -> None:
    a, sensor = agent
    for _ in range(7):
        a.sample_once()
    assert a.outbox.seal(a._seal, max_items=3) == 5  # 14 readings: 3+3+3+3+2

    opened = open_all(sealed(a), key)
    seqs = [seq for seq, _ in opened]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert [len(b.readings) for _, b in opened] == [3, 3, 3, 3, 2]
    assert [r for _, b in opened for r in b.readings] == sensor.readings


def test_seqs_keep_increasing_across_seals(
    agent: tuple[Agent, Recording], key: Ed25519PrivateKey
) -> None:
    a, sensor = agent
    a.sample_once()
    a.outbox.seal(a._seal, max_items=1)
    first = [m.seq for m in sealed(a)]
    for m in sealed(a):
        a.outbox.ack(m.seq)
    a.sample_once()
    a.sample_once()
    a.outbox.seal(a._seal, max_items=10)

    opened = open_all(sealed(a), key)
    assert min(seq for seq, _ in opened) > max(first)
    assert [r for _, b in opened for r in b.readings] == sensor.readings[2:]


def test_nothing_to_seal_gives_no_message(agent: tuple[Agent, Recording]) -> None:
    a, _ = agent
    assert a.outbox.seal(a._seal, max_items=10) == 0
    assert sealed(a) == []


def test_sealed_message_is_signed_for_its_topic_only(
    agent: tuple[Agent, Recording], key: Ed25519PrivateKey
) -> None:
    a, _ = agent
    a.sample_once()
    a.outbox.seal(a._seal, max_items=10)
    [message] = sealed(a)
    assert message.kind is OutboxKind.TELEMETRY
    assert message.item_count == 2
    wrong_kind = str(Topic("acme", "wh-sh-01", "gw-0001", Kind.STOCK))
    with pytest.raises(SignatureError):
        open_message(wrong_kind, message.data, lambda _d: [key.public_key()])
    other_key = generate_private_key()
    topic = str(Topic("acme", "wh-sh-01", "gw-0001", Kind.TELEMETRY))
    with pytest.raises(SignatureError):
        open_message(topic, message.data, lambda _d: [other_key.public_key()])


def test_agent_loads_the_key_named_in_the_config(
    config: AgentConfig, key: Ed25519PrivateKey
) -> None:
    agent = Agent(config, clock=StepClock())  # sensors from the config, key from device.pem
    try:
        agent.sample_once()
        agent.outbox.seal(agent._seal, max_items=100)
        [(_, batch)] = open_all(sealed(agent), key)
        assert {r.sensor for r in batch.readings} == {"probe-1"}
        assert all(0 <= r.value <= 100 for r in batch.readings if r.value is not None)
    finally:
        agent.outbox.close()
    assert (config.base_dir / "outbox.db").exists()
