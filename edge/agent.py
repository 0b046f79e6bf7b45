"""The edge agent: sample sensors into the durable outbox, seal batches, publish.

A reading counts as taken once the outbox has committed it; from then on it
survives broker outages, network loss, ``kill -9`` and power cuts, and is
published with its original sequence number until the cloud's signed storage receipt
covers it (or, for an agent without the cloud key, until the broker acknowledges it).
The cloud may ask for seqs again (a backfill request); the agent answers with what it
still holds, what it evicted and what it no longer has.

The main loop reads its intervals from the current `Settings` each iteration, so a remote
config (verified and persisted by `edge.remote_config`) takes effect without a restart.
Local alarms and the config acknowledgement are ``state`` messages in the outbox: they are
never evicted and go out first after an outage.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from edge.alarms import AlarmMonitor
from edge.clock import ClockStatus, read_clock_status
from edge.cloud_messages import open_backfill
from edge.config import AgentConfig
from edge.drivers import Sensor, build_scanner, build_sensor
from edge.ed25519 import load_signing_key, parse_verify_key
from edge.errors import EdgeError
from edge.health import CpuMeter, collect_health
from edge.outbox import ArmedWill, Outbox
from edge.outbox import Kind as OutboxKind
from edge.publisher import Publisher
from edge.remote_config import RemoteConfig, Settings
from edge.status import write_link
from wire import (
    BackfillAnswer,
    CustodyEventBatch,
    Kind,
    Reading,
    ScanEvent,
    StateMessage,
    StockBatch,
    StockCount,
    TelemetryBatch,
    Topic,
    WireError,
    seal_payload,
    to_ranges,
)
from wire.envelope import Signer

__all__ = ["AGENT_VERSION", "Agent", "AgentSummary", "StockSource", "link_path", "state_paths"]

_logger = logging.getLogger(__name__)
AGENT_VERSION = "0.3.0"
_CLOCK_REFRESH_S = 10.0
_LINK_WRITE_S = 1.0  # how often link.json (what `edge status` shows of the connection) is
_ANSWER_RANGES = 1_000  # ranges per list of a backfill answer (wire.models.MAX_ANSWER_RANGES)


class StockSource(Protocol):
    """A scanner or stock flow: scans and counts (stock), EPCIS event dicts (custody)."""

    def poll(self, now: datetime) -> Sequence[ScanEvent | StockCount | dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class AgentSummary:
    samples: int
    readings: int
    messages_acked: int
    pending_items: int
    pending_messages: int
    evicted_items: int
    accepted: dict[str, int]  # items ever committed to the outbox, per kind (durable)
    config_revision: int | None


def state_paths(config: AgentConfig) -> tuple[Path, Path]:
    """Where the applied remote config and the active alarms are kept (beside the outbox)."""
    data_dir = config.resolve(config.outbox.path).parent
    return data_dir / "remote_config.json", data_dir / "alarms.json"


def link_path(config: AgentConfig) -> Path:
    """Where the running agent says how its broker connection is (beside the outbox)."""
    return config.resolve(config.outbox.path).parent / "link.json"


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        *,
        key: Signer | None = None,
        sensors: Sequence[Sensor] | None = None,
        stock_sources: Sequence[StockSource] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        # Signing through the system's libcrypto, not `cryptography`: ~8 MB less memory.
        self._key = key or load_signing_key(config.resolve(config.device.key_file))
        self._sensors = (
            list(sensors) if sensors is not None else [build_sensor(s) for s in config.sensors]
        )
        self._scanners = [build_scanner(s) for s in config.scanners]
        simulated = list(stock_sources) if stock_sources is not None else _sim_scanners(config)
        self._stock: list[StockSource] = [*simulated, *self._scanners]
        self._clock = clock
        self._topic = Topic(config.device.tenant, config.device.site, config.device.id,
                            Kind.TELEMETRY)  # fmt: skip
        self.outbox = Outbox(
            config.resolve(config.outbox.path),
            budget_bytes=int(config.outbox.budget_mb * 1024 * 1024),
        )
        config_path, alarms_path = state_paths(config)
        self._link_path = link_path(config)
        public_key = config.cloud.config_public_key
        # One cloud key signs what the cloud sends this device: config, storage receipts
        # and backfill requests (each bound to its own topic by the signature).
        self._cloud_key = parse_verify_key(public_key) if public_key else None
        self.remote = RemoteConfig(
            self._topic.with_kind(Kind.CONFIG),
            self._cloud_key,
            Settings(
                sample_interval_s=config.sampling.interval_s,
                batch_max_readings=config.sampling.batch_max_readings,
                flush_interval_s=config.sampling.flush_interval_s,
                thresholds=dict(config.thresholds),
            ),
            config_path,
        )
        self.alarms = AlarmMonitor(self.remote.settings.thresholds, alarms_path)
        self._cpu = CpuMeter()
        self._clock_status: ClockStatus = read_clock_status()
        self._clock_checked = time.monotonic()
        self._birth_due = threading.Event()
        self._configs: queue.Queue[bytes] = queue.Queue(maxsize=16)
        self._backfills: queue.Queue[bytes] = queue.Queue(maxsize=16)
        self._last_backfill: tuple[bytes, float] | None = None
        self._link_written = 0.0
        self._link_failed = False
        self.publisher = Publisher(
            self.outbox,
            self._topic,
            config.broker.all_urls,
            keepalive_s=config.broker.keepalive_s,
            failover_after=config.broker.failover_after,
            failback_s=config.broker.failback_s,
            max_inflight=config.sampling.max_inflight,
            arm_will=self._arm_will,
            on_connected=self._birth_due.set,
            on_config=self._receive_config,
            receipt_key=self._cloud_key,
            on_backfill=self._receive_backfill,
        )
        if self._cloud_key is None:
            _logger.warning(
                "no cloud key ([cloud] config_public_key): the outbox frees messages on the"
                " broker's PUBACK, without the cloud's storage receipts; remote config and"
                " backfill requests are refused"
            )
        self.samples = 0
        self.readings = 0

    @property
    def settings(self) -> Settings:
        return self.remote.settings

    # --- sealing ---------------------------------------------------------------------

    def _seal(self, kind: OutboxKind, seq: int, items: list[dict[str, Any]]) -> bytes:
        now = self._clock()
        synced = self._clock_status.synced
        topic = self._topic.with_kind(Kind(kind.value))
        payload: TelemetryBatch | StockBatch | CustodyEventBatch
        if kind is OutboxKind.TELEMETRY:
            payload = TelemetryBatch(
                sent_at=now,
                clock_synced=synced,
                readings=[Reading.model_validate(i, strict=False) for i in items],
            )
        elif kind is OutboxKind.STOCK:
            payload = StockBatch.model_validate(
                {
                    "sent_at": now,
                    "clock_synced": synced,
                    "counts": [i for i in items if "quantity" in i],
                    "scans": [i for i in items if "direction" in i],
                },
                strict=False,
            )
        elif kind is OutboxKind.EVENTS:
            payload = CustodyEventBatch(sent_at=now, clock_synced=synced, events=items)
        else:
            raise ValueError(f"state messages are sealed directly, not batched: {kind}")
        return seal_payload(topic, seq, payload, self._key)

    def _state(self, status: str, seq: int, **fields: Any) -> bytes:
        message = StateMessage.model_validate(
            {"status": status, "ts": self._clock(), "agent_version": AGENT_VERSION, **fields},
            strict=False,
        )
        return seal_payload(self._topic.with_kind(Kind.STATE), seq, message, self._key)

    def _arm_will(self) -> ArmedWill:
        return self.outbox.arm_will(
            lambda seq: self._state("offline", seq, reason="connection lost")
        )

    def _publish_state(self, status: str, **fields: Any) -> None:
        seq = self.outbox.reserve_seq()
        self.outbox.put_message(OutboxKind.STATE, seq, self._state(status, seq, **fields))

    def _health(self) -> Mapping[str, Any]:
        health = collect_health(
            self.outbox.stats(),
            self.outbox.recent_evicted_seqs(),
            self._cpu,
            self.config.resolve(self.config.outbox.path).parent,
            self._refresh_clock(force=True),
            delivery=self.publisher.counts,
            receipts=self.publisher.delivery.receipts,
        )
        return {"health": health, "config": self.remote.status}

    def _refresh_clock(self, *, force: bool = False) -> ClockStatus:
        now = time.monotonic()
        if force or now - self._clock_checked >= _CLOCK_REFRESH_S:
            previous, self._clock_status = self._clock_status, read_clock_status()
            self._clock_checked = now
            if previous.synced != self._clock_status.synced:
                _logger.warning("clock synchronised: %s", self._clock_status.synced)
        return self._clock_status

    # --- remote config ---------------------------------------------------------------

    def _receive_config(self, data: bytes) -> None:
        """paho's network thread: hand over to the main loop, which applies it."""
        try:
            self._configs.put_nowait(data)
        except queue.Full:
            _logger.warning("config messages arriving faster than applied; dropping one")

    def apply_pending_config(self) -> None:
        while True:
            try:
                data = self._configs.get_nowait()
            except queue.Empty:
                return
            outcome = self.remote.handle(data)
            if outcome is None:
                continue
            if outcome.changed:
                self.alarms.set_thresholds(self.remote.settings.thresholds)
            # The acknowledgement (or the reason for refusing) as an immediate heartbeat.
            self._publish_state("heartbeat", **self._health())

    # --- backfill requests -------------------------------------------------------------

    def _receive_backfill(self, data: bytes) -> None:
        """paho's network thread: hand over to the main loop."""
        try:
            self._backfills.put_nowait(data)
        except queue.Full:
            _logger.warning("backfill requests arriving faster than answered; dropping one")

    def apply_pending_backfill(self) -> None:
        """Answer backfill requests: publish again what the outbox holds, say what it does
        not (a heartbeat whose ``backfill`` field lists resent, evicted and not held seqs)."""
        while True:
            try:
                data = self._backfills.get_nowait()
            except queue.Empty:
                return
            now = time.monotonic()
            if self._last_backfill is not None and self._last_backfill[0] == data and (
                now - self._last_backfill[1] < 60.0
            ):
                continue  # the same request again (a replay, or the cloud repeating itself)
            if self._cloud_key is None:  # pragma: no cover - not subscribed without a key
                continue
            try:
                seq, request = open_backfill(
                    self._topic.with_kind(Kind.BACKFILL), data, [self._cloud_key.verify]
                )
            except WireError as exc:
                _logger.warning("backfill request refused (%s): %s", exc.reason, exc.message)
                continue
            self._last_backfill = (data, now)
            split = self.outbox.split_backfill(request.ranges)
            self.publisher.delivery.resend(split.held)
            answer = BackfillAnswer(
                request=seq,
                resent=to_ranges(split.held)[:_ANSWER_RANGES],
                evicted=to_ranges(split.evicted)[:_ANSWER_RANGES],
                not_held=to_ranges(split.not_held)[:_ANSWER_RANGES],
            )
            _logger.info(
                "backfill request %d: %d held (publishing again), %d evicted, %d not held,"
                " %d not answerable yet",
                seq, len(split.held), len(split.evicted), len(split.not_held), len(split.unknown),
            )  # fmt: skip
            self._publish_state("heartbeat", backfill=answer, **self._health())

    def write_link(self, *, force: bool = False) -> None:
        """Say how the broker connection is, for ``edge status`` (advisory; no fsync)."""
        now = time.monotonic()
        if not force and now - self._link_written < _LINK_WRITE_S:
            return
        self._link_written = now
        try:
            write_link(self._link_path, self.publisher.link_state())
        except EdgeError as exc:  # advisory: a full disk must not stop the agent
            if not self._link_failed:
                _logger.warning("%s; edge status will not show the connection", exc)
            self._link_failed = True
        else:
            self._link_failed = False

    # --- main loop -------------------------------------------------------------------

    def sample_once(self) -> int:
        now = self._clock()
        readings = [r for sensor in self._sensors for r in sensor.sample(now)]
        if readings:
            self.outbox.add(
                OutboxKind.TELEMETRY,
                [r.model_dump(mode="json", exclude_none=True) for r in readings],
            )
        for event in self.alarms.observe(readings):
            self._publish_state("alarm", alarm=event)
        self._poll_stock(now)
        self.samples += 1
        self.readings += len(readings)
        return len(readings)

    def seal_pending(self) -> int:
        """Seal what the outbox holds into signed messages; returns how many."""
        return self.outbox.seal(self._seal, max_items=self.settings.batch_max_readings)

    def _poll_stock(self, now: datetime) -> None:
        stock: list[dict[str, Any]] = []
        custody: list[dict[str, Any]] = []
        for source in self._stock:
            for item in source.poll(now):
                if isinstance(item, ScanEvent | StockCount):
                    stock.append(item.model_dump(mode="json", exclude_none=True))
                else:
                    custody.append(item)
        if stock:
            self.outbox.add(OutboxKind.STOCK, stock)
        if custody:
            self.outbox.add(OutboxKind.EVENTS, custody)

    def run(
        self,
        stop: threading.Event,
        *,
        max_samples: int | None = None,
        duration_s: float | None = None,
        drain_s: float = 0.0,
    ) -> AgentSummary:
        """Sample until ``stop`` (or a bound), then deliver for up to ``drain_s`` more.

        Draining waits for the broker too, so a bounded run that ended during an outage
        still delivers its backlog; whatever is left stays in the outbox for the next run.
        """
        heartbeat_s = self.config.sampling.heartbeat_interval_s
        self.publisher.start()
        started = time.monotonic()
        next_sample = next_flush = started
        next_heartbeat = started + heartbeat_s
        try:
            while not stop.is_set():
                settings = self.settings  # re-read each pass: remote config applies live
                now = time.monotonic()
                done = (max_samples is not None and self.samples >= max_samples) or (
                    duration_s is not None and now - started >= duration_s
                )
                if done:
                    break
                self.apply_pending_config()
                self.apply_pending_backfill()
                # A shorter interval from a new config takes effect now, not after the old wait.
                next_sample = min(next_sample, now + settings.sample_interval_s)
                if now >= next_sample:
                    self.sample_once()
                    next_sample += settings.sample_interval_s
                    if next_sample < now:  # fell behind (slow disk, suspended VM): skip ahead
                        next_sample = now + settings.sample_interval_s
                if now >= next_flush:
                    self._refresh_clock()
                    self.seal_pending()
                    next_flush = now + settings.flush_interval_s
                if self._birth_due.is_set() and self.publisher.will is not None:
                    self._birth_due.clear()
                    self._publish_state("online", will_seq=self.publisher.will[0])
                if now >= next_heartbeat and self.publisher.connected.is_set():
                    self._publish_state("heartbeat", **self._health())
                    next_heartbeat = now + heartbeat_s
                # Scans are polled on every pass (≤ 50 ms), not only when sampling.
                self._poll_stock(self._clock())
                self.publisher.pump()
                self.write_link()
                wake = min(next_sample, next_flush) - time.monotonic()
                stop.wait(max(0.0, min(wake, 0.05)))
            self.seal_pending()
            self._drain(stop, drain_s)
        finally:
            self.publisher.stop()
            self.write_link(force=True)
            for scanner in self._scanners:
                scanner.close()
            summary = self.summary()
            self.outbox.close()
        return summary

    def _drain(self, stop: threading.Event, drain_s: float) -> None:
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and not stop.is_set():
            self._poll_stock(self._clock())
            self.apply_pending_backfill()
            self.seal_pending()
            self.publisher.pump()
            self.write_link()
            stats = self.outbox.stats()
            if stats.pending_items == 0 and stats.pending_messages == 0:
                return
            stop.wait(0.05)

    def summary(self) -> AgentSummary:
        stats = self.outbox.stats()
        return AgentSummary(
            samples=self.samples,
            readings=self.readings,
            messages_acked=self.publisher.acked,
            pending_items=stats.pending_items,
            pending_messages=stats.pending_messages,
            evicted_items=stats.evicted_items,
            accepted={k.value: n for k, n in self.outbox.added_counts().items()},
            config_revision=self.settings.revision,
        )


def _sim_scanners(config: AgentConfig) -> list[StockSource]:
    if not config.sim_scanners:
        return []
    from firmware_sim.devices.stock import SimScanner

    return [
        SimScanner(
            s.id,
            profile=s.profile,
            seed=s.seed,
            scans_per_min=s.scans_per_min,
            count_interval_s=s.count_interval_s,
            custody_events=s.custody_events,
            site=config.device.site,
        )
        for s in config.sim_scanners
    ]
