"""The edge agent: sample sensors into the durable outbox, seal batches, publish.

A reading counts as taken once the outbox has committed it; from then on it
survives broker outages, network loss, ``kill -9`` and power cuts, and is
published with its original sequence number until the broker acknowledges it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.config import AgentConfig
from edge.drivers import Sensor, build_sensor
from edge.health import CpuMeter, collect_health
from edge.outbox import Kind as OutboxKind
from edge.outbox import Outbox
from edge.publisher import Publisher
from wire import (
    CustodyEventBatch,
    Kind,
    Reading,
    StateMessage,
    StockBatch,
    TelemetryBatch,
    Topic,
    load_private_key,
    seal_payload,
)

__all__ = ["AGENT_VERSION", "Agent", "AgentSummary"]

_logger = logging.getLogger(__name__)
AGENT_VERSION = "0.1.0"


@dataclass(frozen=True, slots=True)
class AgentSummary:
    samples: int
    readings: int
    messages_acked: int
    pending_items: int
    pending_messages: int
    evicted_items: int


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        *,
        key: Ed25519PrivateKey | None = None,
        sensors: Sequence[Sensor] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self._key = key or load_private_key(config.resolve(config.device.key_file))
        self._sensors = (
            list(sensors) if sensors is not None else [build_sensor(s) for s in config.sensors]
        )
        self._clock = clock
        self._topic = Topic(config.device.tenant, config.device.site, config.device.id,
                            Kind.TELEMETRY)  # fmt: skip
        self.outbox = Outbox(
            config.resolve(config.outbox.path),
            budget_bytes=int(config.outbox.budget_mb * 1024 * 1024),
        )
        self._cpu = CpuMeter()
        self._birth_due = threading.Event()
        self.publisher = Publisher(
            self.outbox,
            self._topic,
            config.broker.url,
            keepalive_s=config.broker.keepalive_s,
            max_inflight=config.sampling.max_inflight,
            arm_will=self._arm_will,
            on_connected=self._birth_due.set,
        )
        self.samples = 0
        self.readings = 0

    # --- sealing ---------------------------------------------------------------------

    def _seal(self, kind: OutboxKind, seq: int, items: list[dict[str, Any]]) -> bytes:
        now = self._clock()
        topic = self._topic.with_kind(Kind(kind.value))
        payload: TelemetryBatch | StockBatch | CustodyEventBatch
        if kind is OutboxKind.TELEMETRY:
            payload = TelemetryBatch(
                sent_at=now, readings=[Reading.model_validate(i, strict=False) for i in items]
            )
        elif kind is OutboxKind.STOCK:
            payload = StockBatch.model_validate(
                {
                    "sent_at": now,
                    "counts": [i for i in items if "quantity" in i],
                    "scans": [i for i in items if "direction" in i],
                },
                strict=False,
            )
        elif kind is OutboxKind.EVENTS:
            payload = CustodyEventBatch(sent_at=now, events=items)
        else:
            raise ValueError(f"state messages are sealed directly, not batched: {kind}")
        return seal_payload(topic, seq, payload, self._key)

    def _state(self, status: str, seq: int, **fields: Any) -> bytes:
        message = StateMessage.model_validate(
            {"status": status, "ts": self._clock(), "agent_version": AGENT_VERSION, **fields},
            strict=False,
        )
        return seal_payload(self._topic.with_kind(Kind.STATE), seq, message, self._key)

    def _arm_will(self) -> tuple[int, bytes]:
        seq = self.outbox.reserve_seq()
        return seq, self._state("offline", seq, reason="connection lost")

    def _publish_state(self, status: str, **fields: Any) -> None:
        seq = self.outbox.reserve_seq()
        self.outbox.put_message(OutboxKind.STATE, seq, self._state(status, seq, **fields))

    def _health(self) -> Mapping[str, Any]:
        health = collect_health(
            self.outbox.stats(),
            self.outbox.recent_evicted_seqs(),
            self._cpu,
            self.config.resolve(self.config.outbox.path).parent,
        )
        return {"health": health}

    # --- main loop -------------------------------------------------------------------

    def sample_once(self) -> int:
        now = self._clock()
        readings = [r for sensor in self._sensors for r in sensor.sample(now)]
        if readings:
            self.outbox.add(
                OutboxKind.TELEMETRY,
                [r.model_dump(mode="json", exclude_none=True) for r in readings],
            )
        self.samples += 1
        self.readings += len(readings)
        return len(readings)

    def run(
        self,
        stop: threading.Event,
        *,
        max_samples: int | None = None,
        duration_s: float | None = None,
    ) -> AgentSummary:
        sampling = self.config.sampling
        self.publisher.start()
        started = time.monotonic()
        next_sample = next_flush = started
        next_heartbeat = started + sampling.heartbeat_interval_s
        try:
            while not stop.is_set():
                now = time.monotonic()
                done = (max_samples is not None and self.samples >= max_samples) or (
                    duration_s is not None and now - started >= duration_s
                )
                if done:
                    break
                if now >= next_sample:
                    self.sample_once()
                    next_sample += sampling.interval_s
                    if (
                        next_sample < now
                    ):  # fell behind (slow disk, suspended VM): skip, don't burst
                        next_sample = now + sampling.interval_s
                if now >= next_flush:
                    self.outbox.seal(self._seal, max_items=sampling.batch_max_readings)
                    next_flush = now + sampling.flush_interval_s
                if self._birth_due.is_set() and self.publisher.will is not None:
                    self._birth_due.clear()
                    self._publish_state("online", will_seq=self.publisher.will[0])
                if now >= next_heartbeat and self.publisher.connected.is_set():
                    self._publish_state("heartbeat", **self._health())
                    next_heartbeat = now + sampling.heartbeat_interval_s
                self.publisher.pump()
                wake = min(next_sample, next_flush) - time.monotonic()
                stop.wait(max(0.0, min(wake, 0.05)))
            self.outbox.seal(self._seal, max_items=sampling.batch_max_readings)
        finally:
            self.publisher.stop()
            summary = self.summary()
            self.outbox.close()
        return summary

    def summary(self) -> AgentSummary:
        stats = self.outbox.stats()
        return AgentSummary(
            samples=self.samples,
            readings=self.readings,
            messages_acked=self.publisher.acked,
            pending_items=stats.pending_items,
            pending_messages=stats.pending_messages,
            evicted_items=stats.evicted_items,
        )
