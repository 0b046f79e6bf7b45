"""A warehouse for the alert tests: one device, a chilled product it holds, simulated
climate written through the real ingest store, and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

from cloud.ingest.store import write_batch
from cloud.migrate import migrate
from cloud.registry import register_device
from cloud.settings import Settings
from cloud.storage.products import Product, save_product
from firmware_sim.devices.climate import ClimateSensor
from tests.cloud._messages import GTIN, Device
from wire import Kind, Reading, StockBatch, StockCount, TelemetryBatch

__all__ = ["GTIN", "SETTINGS", "Warehouse", "WebhookReceiver", "receiver"]

SIM_T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
# A chilled product: 2..6 degC, as the simulator's dairy room.
SETTINGS = Settings(
    alerts_excursion_min_duration=timedelta(minutes=15),
    alerts_excursion_merge_within=timedelta(minutes=10),
    alerts_excursion_hysteresis_c=0.5,
    alerts_webhook_backoff_base=timedelta(seconds=1),
)


@dataclass
class Warehouse:
    url: str
    device: Device = field(default_factory=Device)
    seq: int = 0

    @classmethod
    def create(cls, url: str, *, start: datetime) -> Warehouse:
        migrate(url)
        w = cls(url)
        with psycopg.connect(url, autocommit=True) as conn:
            register_device(conn, w.device.registration)
            save_product(conn, Product(w.device.tenant, GTIN, "Milk 1 l", 2.0, 6.0))
        counts = [StockCount(ts=start, gtin=GTIN, quantity=400, location="A-01", method="rfid")]
        w.send(Kind.STOCK, StockBatch(sent_at=start, counts=counts), start)
        return w

    @property
    def tenant(self) -> str:
        return self.device.tenant

    def send(self, kind: Kind, payload: Any, received_at: datetime) -> None:
        self.seq += 1
        accepted = self.device.accept(
            self.device.inbound(kind, self.seq, payload, received_at=received_at)
        )
        with psycopg.connect(self.url) as conn:
            write_batch(conn, [accepted], [])

    def climate(self, sensor: ClimateSensor, start: datetime, end: datetime) -> Iterator[datetime]:
        """Sample ``sensor`` every 10 s from ``start`` to ``end``, one batch per minute;
        yields the time after each batch is stored (so callers can evaluate as it runs)."""
        t = start
        while t < end:
            readings: list[Reading] = []
            for i in range(6):
                at = t + timedelta(seconds=10 * i)
                # The room follows the outside air's daily cycle: simulate a fixed morning
                # so the readings do not depend on when the test runs, stamped with `at`.
                sampled = sensor.sample(SIM_T0 + (at - start))
                readings.extend(r.model_copy(update={"ts": at}) for r in sampled)
            t += timedelta(minutes=1)
            self.send(Kind.TELEMETRY, TelemetryBatch(sent_at=t, readings=readings), t)
            yield t


@dataclass
class WebhookReceiver:
    """A real HTTP endpoint that fails its first ``fail_first`` requests with 503."""

    url: str
    server: ThreadingHTTPServer
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def successes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["status"] == 200]


def receiver(fail_first: int = 0) -> Iterator[WebhookReceiver]:
    holder: list[WebhookReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hook = holder[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with hook.lock:
                status = 503 if len(hook.requests) < hook.fail_first else 200
                hook.requests.append(
                    {
                        "status": status,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "json": json.loads(body),
                    }
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook = WebhookReceiver(f"http://127.0.0.1:{server.server_address[1]}/hook", server, fail_first)
    holder.append(hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
