"""Alert acceptance with the simulator: climate from firmware_sim goes through the real
ingest store into PostgreSQL, the rules run as the scheduler job runs them, and webhooks
go to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from cloud.alerts import (
    AlertKind,
    DeliveryPolicy,
    SyncResult,
    create_subscription,
    default_rules,
    deliver_due,
    evaluate,
)
from cloud.alerts.rules.coldchain import Limits, Sample, excursions
from firmware_sim.devices.climate import PROFILES, ClimateProfile, ClimateSensor, Scenario
from tests.cloud.alerts._world import SETTINGS, Warehouse, WebhookReceiver, receiver

pytestmark = pytest.mark.integration

RULES = default_rules(SETTINGS, anchor_interval=None)
# The receiver is on 127.0.0.1: private destinations allowed (as in development).
POLICY = DeliveryPolicy(backoff_base=timedelta(seconds=1), timeout_s=5.0, allow_private=True)
# A Standard Webhooks secret: receivers verify with the stock library, not ours.
SECRET = "whsec_" + base64.b64encode(b"webhook-secret-for-tests-0123456").decode()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    yield from receiver()


@pytest.fixture
def flaky_hook() -> Iterator[WebhookReceiver]:
    yield from receiver(fail_first=2)


def _start() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=70)


def _world(url: str, hook: WebhookReceiver) -> Warehouse:
    w = Warehouse.create(url, start=_start() - timedelta(minutes=1))
    with psycopg.connect(url, autocommit=True) as conn:
        create_subscription(conn, w.tenant, hook.url, secret=SECRET)
    return w


def _count(url: str, sql: str, *args: Any) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


def _run(w: Warehouse, sensor: ClimateSensor, minutes: int, every: int = 5) -> None:
    """Feed ``minutes`` of climate, evaluating every ``every`` simulated minutes and
    delivering webhooks after each evaluation, as the scheduler would."""
    start = _start()
    with (
        psycopg.connect(w.url, autocommit=True) as conn,
        httpx.Client() as client,
    ):
        for i, t in enumerate(w.climate(sensor, start, start + timedelta(minutes=minutes))):
            if (i + 1) % every == 0:
                evaluate(conn, RULES, now=t)
                deliver_due(conn, client, POLICY)


def _excursion_alerts(url: str) -> int:
    return _count(url, "SELECT count(*) FROM alerts WHERE kind = 'excursion'")


def test_excursion_shorter_than_minimum_raises_nothing(
    database_url: str, hook: WebhookReceiver
) -> None:
    w = _world(database_url, hook)
    # The compressor fails for 25 minutes: about 11 minutes above 6 degC, then recovers.
    scenario = Scenario(doors_per_h=0, hvac_failure_after_s=600, hvac_failure_s=25 * 60)
    _run(w, ClimateSensor("probe-1", profile="dairy", seed=1, scenario=scenario), 60)
    peak = _count(database_url, "SELECT max(value) * 1000 FROM readings")
    assert peak > 6_500  # it really went out of range
    assert _excursion_alerts(database_url) == 0
    assert hook.requests == []


def test_real_excursion_raises_one_alert_and_one_webhook(
    database_url: str, hook: WebhookReceiver
) -> None:
    w = _world(database_url, hook)
    scenario = Scenario(doors_per_h=0, hvac_failure_after_s=600, hvac_failure_s=2 * 3600)
    _run(w, ClimateSensor("probe-1", profile="dairy", seed=1, scenario=scenario), 60)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT kind, site_id, dedupe_key, state, details->>'bound' FROM alerts"
        ).fetchall()
    assert rows == [("excursion", w.device.site, f"{w.device.site}:temperature_c", "open", "max")]
    (call,) = hook.requests
    assert call["status"] == 200
    assert call["json"]["event"] == "alert.opened"
    assert call["json"]["alert"]["kind"] == "excursion"
    assert Webhook(SECRET).verify(call["body"], call["headers"]) == call["json"]
    assert call["headers"]["idempotency-key"] == call["headers"]["webhook-id"]


def test_flapping_around_the_limit_raises_one_alert(
    database_url: str, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cold room set to the product's upper limit: its compressor saw-tooth crosses 6 degC
    # every few minutes for the whole hour.
    monkeypatch.setitem(
        PROFILES,
        "at_limit",
        ClimateProfile("at_limit", 6.0, 0.3, 85.0, 2.0, 6.0, refrigerated=True, band_c=0.6),
    )
    w = _world(database_url, hook)
    sensor = ClimateSensor("probe-1", profile="at_limit", seed=1, scenario=Scenario(doors_per_h=0))
    _run(w, sensor, 60, every=2)
    with psycopg.connect(database_url) as conn:
        samples = [
            Sample(t, v)
            for t, v in conn.execute(
                "SELECT time, value FROM readings WHERE metric = 'temperature_c' ORDER BY time"
            )
        ]
    crossings = excursions(samples, Limits(2.0, 6.0), hysteresis=0, min_duration=timedelta(0))
    assert len(crossings) > 5  # without hysteresis: many short excursions (none 15 min long)
    assert _excursion_alerts(database_url) == 1
    assert len(hook.requests) == 1


def test_webhook_failing_twice_is_delivered_once_after_three_attempts(
    database_url: str, flaky_hook: WebhookReceiver
) -> None:
    w = _world(database_url, flaky_hook)
    scenario = Scenario(doors_per_h=0, hvac_failure_after_s=0, hvac_failure_s=2 * 3600)
    start = _start()
    sensor = ClimateSensor("probe-1", profile="dairy", seed=1, scenario=scenario)
    for _ in w.climate(sensor, start, start + timedelta(minutes=45)):
        pass
    with psycopg.connect(database_url, autocommit=True) as conn, httpx.Client() as client:
        assert evaluate(conn, RULES)[AlertKind.EXCURSION].opened
        now = datetime.now(UTC)  # the notification is due from now on
        first = deliver_due(conn, client, POLICY, now=now)
        # Back-off 1 s doubling, plus up to 1 s of jitter: retry 1 is due 1-2 s after the first
        # attempt, retry 2 is due 2-3 s after retry 1.
        early = deliver_due(conn, client, POLICY, now=now + timedelta(seconds=0.5))
        second = deliver_due(conn, client, POLICY, now=now + timedelta(seconds=2))
        third = deliver_due(conn, client, POLICY, now=now + timedelta(seconds=5))
        after = deliver_due(conn, client, POLICY, now=now + timedelta(hours=1))
        attempts = conn.execute(
            "SELECT attempt, status_code FROM alert_notification_attempts ORDER BY attempt"
        ).fetchall()
        status = conn.execute("SELECT status, attempts FROM alert_notifications").fetchall()
    assert (first.retried, early.attempts, second.retried, third.delivered, after.attempts) == (
        1, 0, 1, 1, 0,
    )  # fmt: skip
    assert attempts == [(1, 503), (2, 503), (3, 200)]
    assert status == [("delivered", 3)]
    assert [r["status"] for r in flaky_hook.requests] == [503, 503, 200]
    assert len(flaky_hook.successes) == 1
    keys = {r["headers"]["webhook-id"] for r in flaky_hook.requests}
    assert len(keys) == 1  # every retry carries the same idempotency key


def test_concurrent_evaluators_and_deliverers_make_one_alert_and_one_call(
    database_url: str, hook: WebhookReceiver
) -> None:
    w = _world(database_url, hook)
    scenario = Scenario(doors_per_h=0, hvac_failure_after_s=0, hvac_failure_s=2 * 3600)
    start = _start()
    sensor = ClimateSensor("probe-1", profile="dairy", seed=1, scenario=scenario)
    for _ in w.climate(sensor, start, start + timedelta(minutes=45)):
        pass
    now = datetime.now(UTC)
    rounds = 5
    barrier = threading.Barrier(2)
    results: list[SyncResult] = []
    errors: list[BaseException] = []

    def evaluator() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn, httpx.Client() as client:
                for i in range(rounds):
                    barrier.wait()
                    results.append(
                        evaluate(conn, RULES, now=now + timedelta(seconds=i))[AlertKind.EXCURSION]
                    )
                    barrier.wait()
                    deliver_due(conn, client, POLICY)
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=evaluator) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(len(r.opened) for r in results) == 1
    assert _excursion_alerts(database_url) == 1
    assert _count(database_url, "SELECT count(*) FROM alert_notifications") == 1
    assert len(hook.requests) == 1


def test_scheduler_jobs_run_on_the_leader(
    database_url: str, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cloud.jobs.alerts import alerts_jobs
    from cloud.scheduler import Scheduler
    from cloud.settings import Settings

    monkeypatch.delenv("CT_ETH_RPC_URL", raising=False)
    w = _world(database_url, hook)
    scenario = Scenario(doors_per_h=0, hvac_failure_after_s=0, hvac_failure_s=2 * 3600)
    start = _start()
    sensor = ClimateSensor("probe-1", profile="dairy", seed=1, scenario=scenario)
    for _ in w.climate(sensor, start, start + timedelta(minutes=45)):
        pass
    jobs = alerts_jobs(Settings(database_url=database_url))
    assert [j.name for j in jobs] == ["alerts.evaluate", "alerts.deliver", "alerts.ledger_audit"]
    scheduler = Scheduler(database_url, jobs, leader_retry_s=0.2)
    scheduler.start()
    try:
        assert scheduler.is_leader
        for name in ("alerts.evaluate", "alerts.deliver", "alerts.ledger_audit"):
            assert scheduler.run_now(name)
            assert scheduler.stats[name].failures == 0, name
    finally:
        scheduler.stop()
    assert _excursion_alerts(database_url) == 1
    assert len(hook.successes) == 1
    assert _count(database_url, "SELECT count(*) FROM ledger_audit_runs WHERE ok") == 1


def test_private_destination_refused_when_not_allowed(
    database_url: str, hook: WebhookReceiver
) -> None:
    w = _world(database_url, hook)
    scenario = Scenario(doors_per_h=0, hvac_failure_after_s=0, hvac_failure_s=2 * 3600)
    start = _start()
    sensor = ClimateSensor("probe-1", profile="dairy", seed=1, scenario=scenario)
    for _ in w.climate(sensor, start, start + timedelta(minutes=45)):
        pass
    strict = DeliveryPolicy(max_attempts=1)  # production default: no private destinations
    with psycopg.connect(database_url, autocommit=True) as conn, httpx.Client() as client:
        evaluate(conn, RULES)
        stats = deliver_due(conn, client, strict)
        (error,) = conn.execute("SELECT error FROM alert_notification_attempts").fetchone() or ()
    assert stats.failed == 1
    assert error.startswith("refused: 127.0.0.1 resolves to non-public")
    assert hook.requests == []
