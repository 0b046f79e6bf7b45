"""Many simulated warehouses against one broker: real edge agents, or a light generator.

``agents`` mode provisions one gateway per warehouse into a directory (key, config with a
simulated probe and dock scanner, registration), registers them when given a database, and
runs each as a real ``channeltrace edge run`` process: the full product path, outbox and
all. ``light`` mode runs the same simulated rooms and stock flows in this process and
publishes signed batches directly (through `firmware_sim.tools.loadgen.Publisher`, which bounds
the in-flight window): hundreds of warehouses from one process, for load tests.
``swarm`` mode holds one MQTT session per warehouse (birth, heartbeats, last will) on one
event loop (:mod:`firmware_sim.tools.swarm`): tens of thousands of connections from one process.
SIGUSR1 drops ``drop_count`` of them at once (sockets closed, no DISCONNECT) and SIGUSR2
brings them back.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firmware_sim.devices.climate import PROFILES, ClimateSensor
from firmware_sim.devices.stock import SimScanner
from firmware_sim.tools.loadgen import LoadDevice, Publisher, register_fleet
from wire import (
    CustodyEventBatch,
    Kind,
    ScanEvent,
    StockBatch,
    StockCount,
    TelemetryBatch,
    seal_payload,
)

__all__ = ["FleetResult", "Warehouse", "plan_fleet", "run_agents", "run_light", "run_swarm"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Warehouse:
    device: str
    tenant: str
    site: str
    profile: str
    seed: int


@dataclass(frozen=True, slots=True)
class FleetResult:
    warehouses: int
    readings: int
    stock_items: int
    custody_events: int
    messages: int
    seconds: float


def plan_fleet(count: int, *, tenant: str = "acme", seed: int = 0) -> list[Warehouse]:
    """``count`` warehouses, cycling through the storage profiles; reproducible by seed."""
    profiles = sorted(PROFILES)
    return [
        Warehouse(
            f"gw-{n:04d}",
            tenant,
            f"wh-{n:04d}",
            profiles[(n + seed) % len(profiles)],
            seed * 100_003 + n,
        )
        for n in range(count)
    ]


def _scanner_toml(w: Warehouse, scans_per_min: float) -> str:
    return (
        f'\n[[sim_scanners]]\nid = "dock-1"\nprofile = "{_stock_profile(w.profile)}"\n'
        f"seed = {w.seed}\nscans_per_min = {scans_per_min}\ncount_interval_s = 3600\n"
    )


def _stock_profile(profile: str) -> str:
    from firmware_sim.devices.stock import CATALOGUE

    return profile if profile in CATALOGUE else "ambient"


def _threshold_toml(w: Warehouse) -> str:
    p = PROFILES[w.profile]
    return f"\n[thresholds.temperature_c]\nmin = {p.min_c}\nmax = {p.max_c}\n"


def run_agents(
    fleet: Sequence[Warehouse],
    directory: Path,
    broker_url: str,
    *,
    stop: threading.Event,
    interval_s: float,
    scans_per_min: float,
    duration_s: float | None,
    database_url: str | None = None,
    cloud_public_key: str | None = None,
) -> list[dict[str, Any]]:
    """Provision (once) and run one real agent process per warehouse until stopped."""
    from edge.provision import SensorChoice, provision

    configs: list[Path] = []
    registrations: list[Path] = []
    for w in fleet:
        target = directory / w.device
        config = target / "agent.toml"
        if not config.exists():
            prov = provision(
                target,
                device=w.device,
                tenant=w.tenant,
                site=w.site,
                broker_url=broker_url,
                sensor=SensorChoice.simulated(w.profile),
            )
            text = prov.config_path.read_text(encoding="utf-8")
            text = text.replace("interval_s = 1.0", f"interval_s = {interval_s}")
            text += _threshold_toml(w) + _scanner_toml(w, scans_per_min)
            if cloud_public_key:
                text += f'\n[cloud]\nconfig_public_key = "{cloud_public_key}"\n'
            prov.config_path.write_text(text, encoding="utf-8")
        configs.append(config)
        registrations.append(target / "registration.json")
    if database_url is not None:
        _register(database_url, registrations)
    args = [] if duration_s is None else ["--duration", str(duration_s)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "channeltrace", "edge", "run", "--config", str(c), *args],
            stdout=subprocess.PIPE,
            stderr=(c.parent / "agent.log").open("ab"),
            text=True,
        )
        for c in configs
    ]
    _logger.info("%d agents running", len(processes))
    try:
        while not stop.is_set() and any(p.poll() is None for p in processes):
            stop.wait(0.5)
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        summaries = []
        for p in processes:
            out, _ = p.communicate(timeout=60)
            lines = out.strip().splitlines()
            summaries.append({"exit": p.returncode, "summary": lines[-1] if lines else ""})
    return summaries


def _register(database_url: str, registrations: Sequence[Path]) -> None:
    import psycopg

    from cloud.registry import DeviceRegistration, register_device

    with psycopg.connect(database_url) as conn:
        for path in registrations:
            register_device(conn, DeviceRegistration.model_validate_json(path.read_bytes()))


class _LightWarehouse:
    def __init__(self, w: Warehouse, scans_per_min: float) -> None:
        self.device = LoadDevice(w.device, w.tenant, w.site)
        self.sensors = [
            ClimateSensor(f"probe-{i}", profile=w.profile, seed=w.seed * 7 + i) for i in range(2)
        ]
        self.scanner = SimScanner(
            "dock-1",
            profile=_stock_profile(w.profile),
            seed=w.seed,
            scans_per_min=scans_per_min,
            site=w.site,
        )

    def seal(self, kind: Kind, payload: Any) -> tuple[str, bytes]:
        topic = self.device.telemetry_topic.with_kind(kind)
        seq = self.device.next_seq
        self.device.next_seq += 1
        return str(topic), seal_payload(topic, seq, payload, self.device.key)


def run_light(
    fleet: Sequence[Warehouse],
    broker_url: str,
    *,
    stop: threading.Event,
    interval_s: float,
    scans_per_min: float,
    duration_s: float | None,
    database_url: str | None = None,
) -> FleetResult:
    """Simulate every warehouse in this process; one signed batch per kind per tick."""
    houses = [_LightWarehouse(w, scans_per_min) for w in fleet]
    if database_url is not None:
        import psycopg

        with psycopg.connect(database_url) as conn:
            register_fleet(conn, [h.device for h in houses])
    publisher = Publisher(broker_url, window=1_000)
    readings = stock_items = events = messages = 0
    began = time.monotonic()
    try:
        while not stop.is_set() and (duration_s is None or time.monotonic() - began < duration_s):
            tick = time.monotonic()
            now = datetime.now(UTC)
            for house in houses:
                batch = [r for s in house.sensors for r in s.sample(now)]
                out: list[tuple[str, bytes]] = []
                if batch:
                    out.append(
                        house.seal(Kind.TELEMETRY, TelemetryBatch(sent_at=now, readings=batch))
                    )
                items = house.scanner.poll(now)
                scans = [i for i in items if isinstance(i, ScanEvent)]
                counts = [i for i in items if isinstance(i, StockCount)]
                custody = [i for i in items if isinstance(i, dict)]
                if scans or counts:
                    out.append(
                        house.seal(Kind.STOCK, StockBatch(sent_at=now, scans=scans, counts=counts))
                    )
                if custody:
                    out.append(
                        house.seal(Kind.EVENTS, CustodyEventBatch(sent_at=now, events=custody))
                    )
                for topic, data in out:
                    publisher.publish(topic, data)
                readings += len(batch)
                stock_items += len(scans) + len(counts)
                events += len(custody)
                messages += len(out)
            stop.wait(max(0.0, interval_s - (time.monotonic() - tick)))
        publisher.flush()
    finally:
        publisher.close()
    return FleetResult(
        len(houses), readings, stock_items, events, messages, time.monotonic() - began
    )


def run_swarm(
    fleet: Sequence[Warehouse],
    broker_url: str,
    *,
    stop: threading.Event,
    heartbeat_s: float,
    duration_s: float | None,
    database_url: str | None = None,
    drop_count: int = 0,
    seed: int = 0,
    report: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Hold one session per warehouse until stopped; prints JSON progress lines."""
    from firmware_sim.tools.registration import register_bulk
    from firmware_sim.tools.swarm import Swarm, pick_drop, raise_fd_limit

    raise_fd_limit(len(fleet))
    began = time.monotonic()
    devices = [LoadDevice(w.device, w.tenant, w.site) for w in fleet]
    if database_url is not None:
        import psycopg

        with psycopg.connect(database_url) as conn:
            register_bulk(conn, devices)
        report(json.dumps({"swarm": "registered", "devices": len(devices),
                           "seconds": round(time.monotonic() - began, 3)}))  # fmt: skip
    swarm = Swarm(devices, broker_url, heartbeat_s=heartbeat_s, seed=seed)
    victims = pick_drop(len(devices), drop_count, seed)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, lambda *_: swarm.request("drop", victims))
        signal.signal(signal.SIGUSR2, lambda *_: swarm.request("return", victims))
    held = False
    last = (-1, -1)

    def tick(s: Swarm) -> None:
        nonlocal held, last
        now = (s.stats.connected, s.stats.heartbeats)
        if now != last:
            last = now
            line = {
                "swarm": "progress",
                "connected": s.stats.connected,
                "heartbeats": s.stats.heartbeats,
                "dropped": s.stats.dropped,
                "lost": s.stats.lost,
                "seconds": round(time.monotonic() - began, 1),
            }
            report(json.dumps(line))
        if not held and s.settled and s.stats.connected == len(devices):
            held = True
            report(json.dumps({"swarm": "held", "connected": s.stats.connected,
                               "seconds": round(time.monotonic() - began, 3)}))  # fmt: skip

    swarm.connect_all()
    started = time.monotonic()
    stats = swarm.run(
        until=lambda: (
            stop.is_set() or (duration_s is not None and time.monotonic() - started >= duration_s)
        ),
        tick=tick,
    )
    return {"warehouses": len(devices), "connects": stats.connects, "births": stats.births,
            "heartbeats": stats.heartbeats, "dropped": stats.dropped, "lost": stats.lost,
            "refused": stats.refused, "publish_errors": stats.publish_errors,
            "seconds": round(time.monotonic() - began, 3)}  # fmt: skip
