"""The demo's alert section: a cold room whose compressor failed raises one excursion
alert, and its webhook reaches a (local) receiver, signed, in one call.

Forty minutes of the room's simulated climate are sealed by its gateway's key and stored
by the real ingest path (prepare + write_batch), back-dated so the demo does not wait;
then the scheduler's two alert jobs run once each.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from channeltrace.demo_fleet import TENANT

__all__ = ["run_alerts"]

Say = Callable[[str], None]
Section = tuple[str, list[str]]
_SITE = "cold-room-demo"
_DEVICE = "gw-cold-01"
_GTIN_BODY = "0950600013440"
_SIM_T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # a fixed morning: same readings every run


@contextmanager
def _receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(
                {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _store_climate(database_url: str, gtin: str, now: datetime) -> float:
    """Register the cold room and its gateway, store 40 min of climate; returns the peak."""
    import psycopg

    from cloud.ingest.prepare import Accepted, Inbound, prepare
    from cloud.ingest.store import write_batch
    from cloud.registry import DeviceIdentity, DeviceRegistration, register_device
    from firmware_sim.devices.climate import ClimateSensor, Scenario
    from wire import (
        Kind,
        Reading,
        StockBatch,
        StockCount,
        TelemetryBatch,
        Topic,
        format_public_key,
        generate_private_key,
        seal_payload,
    )

    key = generate_private_key()
    identity = DeviceIdentity(_DEVICE, TENANT, _SITE, (key.public_key(),))
    registration = DeviceRegistration(
        device_id=_DEVICE, tenant=TENANT, site=_SITE, public_key=format_public_key(key),
    )  # fmt: skip  (the site and its milk come from the demo's channel.csv)
    start = now - timedelta(minutes=40)
    batches: list[tuple[Kind, Any, datetime]] = [
        (Kind.STOCK, StockBatch(sent_at=start, counts=[
            StockCount(ts=start, gtin=gtin, quantity=240, location="C-01", method="rfid")
        ]), start),
    ]  # fmt: skip
    sensor = ClimateSensor(
        "probe-1", profile="dairy", seed=7,
        scenario=Scenario(doors_per_h=0, hvac_failure_after_s=0, hvac_failure_s=4 * 3600),
    )  # fmt: skip
    peak = float("-inf")
    for minute in range(40):
        t = start + timedelta(minutes=minute)
        readings: list[Reading] = []
        for i in range(6):
            at = t + timedelta(seconds=10 * i)
            readings += [
                r.model_copy(update={"ts": at}) for r in sensor.sample(_SIM_T0 + (at - start))
            ]
        peak = max(
            [peak]
            + [r.value for r in readings if r.metric == "temperature_c" and r.value is not None]
        )
        batches.append((Kind.TELEMETRY, TelemetryBatch(sent_at=t, readings=readings), t))
    accepted: list[Accepted] = []
    for seq, (kind, payload, at) in enumerate(batches, start=1):
        topic = Topic(TENANT, _SITE, _DEVICE, kind)
        inbound = Inbound(str(topic), seal_payload(topic, seq, payload, key), at)
        result = prepare(inbound, lambda _d: identity, skew_flag_seconds=60)
        assert isinstance(result, Accepted), result
        accepted.append(result)
    with psycopg.connect(database_url, autocommit=True) as conn:
        register_device(conn, registration)
    with psycopg.connect(database_url) as conn:
        write_batch(conn, accepted, [])
    return peak


def run_alerts(database_url: str, say: Say) -> list[Section]:
    import httpx
    import psycopg

    from cloud.alerts import (
        AlertKind,
        create_subscription,
        default_rules,
        deliver_due,
        evaluate,
    )
    from cloud.alerts.signing import ID_HEADER, SIGNATURE_HEADER, verify
    from cloud.jobs.alerts import delivery_policy
    from cloud.settings import get_settings
    from wire.gs1 import check_digit

    say("alerts: a cold room's compressor fails; evaluating the rules ...")
    gtin = _GTIN_BODY + str(check_digit(_GTIN_BODY))
    now = datetime.now(UTC)
    peak = _store_climate(database_url, gtin, now)
    lines = [f"{_SITE}: compressor failed 40 min ago, peak {peak:.1f} °C (milk: 2–6 °C)"]
    # Development, said explicitly: the demo's webhook receiver is on 127.0.0.1, which
    # production refuses (cloud.alerts.egress).
    settings = get_settings().model_copy(update={"environment": "development"})
    rules = default_rules(settings, anchor_interval=None)
    with _receiver() as (url, received), psycopg.connect(database_url, autocommit=True) as conn:
        hook = create_subscription(conn, TENANT, url, kinds=[AlertKind.EXCURSION])
        opened = evaluate(conn, rules)[AlertKind.EXCURSION].opened
        again = evaluate(conn, rules)[AlertKind.EXCURSION].opened  # idempotent: nothing new
        row = conn.execute(
            "SELECT id, summary, severity FROM alerts WHERE kind = 'excursion' AND site_id = %s",
            (_SITE,),
        ).fetchone()
        with httpx.Client() as client:
            stats = deliver_due(conn, client, delivery_policy(settings))
    if row is None or not opened:
        return [("Alerts", [*lines, "no excursion alert was opened (unexpected)"])]
    lines.append(f"excursion alert opened (#{row[0]}, {row[2]}): {row[1]}")
    lines.append(f"evaluated again: {len(again)} new alert(s) (one unresolved alert per key)")
    calls = [r for r in received if SIGNATURE_HEADER.lower() in r["headers"]]
    if stats.delivered == 1 and len(calls) == 1:
        call = calls[0]
        valid = verify(hook["secret"], call["body"], call["headers"])
        event = json.loads(call["body"])["event"]
        idempotency = call["headers"][ID_HEADER]
        lines.append(
            f"webhook delivered (1 call, {event}) to {url}, HMAC signature "
            f"{'valid' if valid else 'INVALID'} (Standard Webhooks), webhook-id {idempotency}"
        )
    else:
        lines.append(f"webhook: {stats.delivered} delivered, {len(calls)} call(s) received")
    return [("Alerts", lines)]
