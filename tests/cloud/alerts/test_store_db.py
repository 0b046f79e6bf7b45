"""The alert store, workflow, sources and row-level security against real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from cloud.alerts import (
    AlertKind,
    AlertNotFound,
    AlertStateError,
    Condition,
    Severity,
    WebhookError,
    acknowledge,
    create_subscription,
    delete_subscription,
    enqueue,
    evaluate,
    list_alerts,
    list_subscriptions,
    resolve,
    sync,
)
from cloud.alerts import default_rules as rules_for
from cloud.alerts.ledger_audit import record_audit
from cloud.channel.bulk import ensure_tenants
from cloud.channel.changes import Actor
from cloud.channel.records import Distributor, Site
from cloud.channel.store import save_record
from cloud.migrate import migrate
from cloud.settings import Settings
from ledger.audit import AuditReport, Finding
from tests.cloud._messages import GTIN, Device, state
from tests.cloud.alerts._world import Warehouse
from wire import Kind, StockBatch, StockCount

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _now_when_the_test_starts() -> None:
    """The suite runs for many minutes after this module is imported; "now" is per test."""
    global NOW  # noqa: PLW0603 - module constant the helpers and tests read
    NOW = datetime.now(UTC).replace(microsecond=0)
KIND = AlertKind.DEVICE_OFFLINE


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as c:
        actor = Actor("test:operator", "operator")  # the channel, through its store
        ensure_tenants(c, [("acme", "Acme"), ("other", "Other")], actor)
        for tenant, record in (
            ("acme", Distributor("d1", "D1")),
            ("acme", Distributor("d2", "D2")),
            ("acme", Site("wh-1", "WH1", distributor_id="d1")),
            ("acme", Site("wh-2", "WH2", distributor_id="d2")),
            ("other", Site("wh-9", "WH9")),
        ):
            save_record(c, tenant, record, actor)
        yield c


def cond(key: str = "gw-1", since: datetime | None = None, **kw: Any) -> Condition:
    options: dict[str, Any] = {"site_id": "wh-1", "tenant_id": "acme"}
    options.update(kw)
    return Condition(KIND, key=key, severity=Severity.WARNING, since=since or NOW, **options)


def states(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT dedupe_key, state, resolution FROM alerts ORDER BY id").fetchall()


DELAY = timedelta(minutes=2)


def test_sync_opens_updates_clears_and_resolves_after_the_delay(
    conn: psycopg.Connection[Any],
) -> None:
    first = sync(conn, KIND, [cond()], now=NOW, resolve_after=DELAY)
    assert len(first.opened) == 1
    again = sync(conn, KIND, [cond()], now=NOW + timedelta(minutes=1), resolve_after=DELAY)
    assert (again.opened, again.updated) == ([], 1)
    # Absent for one minute, back, absent again: the delay restarts; then it resolves.
    t = NOW + timedelta(minutes=2)
    assert sync(conn, KIND, [], now=t, resolve_after=DELAY).resolved == []
    sync(conn, KIND, [cond()], now=t + timedelta(minutes=1), resolve_after=DELAY)
    sync(conn, KIND, [], now=t + timedelta(minutes=2), resolve_after=DELAY)
    assert sync(conn, KIND, [], now=t + timedelta(minutes=3), resolve_after=DELAY).resolved == []
    done = sync(conn, KIND, [], now=t + timedelta(minutes=4), resolve_after=DELAY)
    assert done.resolved == first.opened
    assert states(conn) == [("gw-1", "resolved", "auto")]
    # A new episode later is a new alert.
    later = sync(conn, KIND, [cond(since=t + timedelta(minutes=10))], now=t + timedelta(minutes=10),
                 resolve_after=DELAY)  # fmt: skip
    assert len(later.opened) == 1


def test_a_past_episode_opens_and_resolves_once(conn: psycopg.Connection[Any]) -> None:
    past = cond(since=NOW - timedelta(hours=2), cleared_at=NOW - timedelta(hours=1))
    first = sync(conn, KIND, [past], now=NOW, resolve_after=DELAY)
    assert first.opened == first.resolved
    assert len(first.opened) == 1
    assert (
        sync(conn, KIND, [past], now=NOW + timedelta(minutes=1), resolve_after=DELAY).opened == []
    )


def test_person_resolving_a_lasting_condition_is_not_reopened(
    conn: psycopg.Connection[Any],
) -> None:
    (alert_id,) = sync(conn, KIND, [cond()], now=NOW, resolve_after=None).opened
    ack = acknowledge(conn, "acme", alert_id, by="alice")
    assert ack["state"] == "acknowledged"
    assert ack["acknowledged_by"] == "alice"
    with pytest.raises(AlertStateError, match="acknowledged"):
        acknowledge(conn, "acme", alert_id, by="bob")
    done = resolve(conn, "acme", alert_id, by="bob")
    assert (done["state"], done["resolved_by"], done["resolution"]) == ("resolved", "bob", "manual")
    assert (
        sync(conn, KIND, [cond()], now=NOW + timedelta(minutes=5), resolve_after=None).opened == []
    )
    with pytest.raises(AlertStateError):
        resolve(conn, "acme", alert_id, by="bob")
    with pytest.raises(AlertNotFound):
        acknowledge(conn, "other", alert_id, by="mallory")  # another tenant's id


def test_the_database_refuses_a_second_unresolved_alert(conn: psycopg.Connection[Any]) -> None:
    sync(conn, KIND, [cond()], now=NOW, resolve_after=DELAY)
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO alerts (tenant_id, kind, dedupe_key, severity, condition_since,"
            " last_seen_at) VALUES ('acme', %s, 'gw-1', 'info', now(), now())",
            (KIND.value,),
        )


def test_list_filters_and_subscriptions_scope_notifications(conn: psycopg.Connection[Any]) -> None:
    tenant_hook = create_subscription(conn, "acme", "http://127.0.0.1:9/all")
    d2_hook = create_subscription(conn, "acme", "http://127.0.0.1:9/d2", distributor_id="d2")
    critical = create_subscription(
        conn, "acme", "http://127.0.0.1:9/crit", min_severity=Severity.CRITICAL
    )
    assert len(tenant_hook["secret"]) >= 16
    assert "secret" not in list_subscriptions(conn, "acme")[0]
    sync(conn, KIND, [cond("gw-1"), cond("gw-2", site_id="wh-2")], now=NOW, resolve_after=DELAY)
    assert enqueue(conn, since=NOW - timedelta(days=1)) == 3
    assert enqueue(conn, since=NOW - timedelta(days=1)) == 0
    rows = conn.execute(
        "SELECT a.dedupe_key, n.subscription_id FROM alert_notifications n"
        " JOIN alerts a ON a.id = n.alert_id ORDER BY 1, 2"
    ).fetchall()
    assert rows == [("gw-1", tenant_hook["id"]), ("gw-2", tenant_hook["id"]),
                    ("gw-2", d2_hook["id"])]  # fmt: skip
    assert critical["id"] not in {r[1] for r in rows}
    assert [a["dedupe_key"] for a in list_alerts(conn, "acme", site_id="wh-2")] == ["gw-2"]
    assert list_alerts(conn, "other") == []
    delete_subscription(conn, "acme", critical["id"])
    with pytest.raises(AlertNotFound):
        delete_subscription(conn, "acme", critical["id"])
    with pytest.raises(WebhookError):
        create_subscription(conn, "acme", "ftp://example.com/")


def test_row_level_security_scopes_tenants_and_distributors(
    conn: psycopg.Connection[Any],
) -> None:
    sync(conn, KIND, [cond("gw-1"), cond("gw-2", site_id="wh-2"),
                      cond("gw-9", tenant_id="other", site_id="wh-9")],
         now=NOW, resolve_after=DELAY)  # fmt: skip

    def visible(tenant: str, distributor: str | None) -> list[str]:
        with conn.transaction():
            conn.execute("SET LOCAL ROLE ct_app")
            conn.execute("SELECT set_config('ct.tenant_id', %s, true)", (tenant,))
            conn.execute("SELECT set_config('ct.distributor_id', %s, true)", (distributor or "",))
            return [r[0] for r in conn.execute("SELECT dedupe_key FROM alerts ORDER BY 1")]

    assert visible("acme", None) == ["gw-1", "gw-2"]
    assert visible("acme", "d2") == ["gw-2"]
    assert visible("other", None) == ["gw-9"]
    assert visible("nobody", None) == []
    sync(conn, AlertKind.LEDGER_AUDIT, [Condition(AlertKind.LEDGER_AUDIT, "acme", "ledger",
         Severity.CRITICAL, NOW)], now=NOW, resolve_after=None)  # fmt: skip
    assert "ledger" in visible("acme", None)  # tenant-wide: the brand sees it
    assert "ledger" not in visible("acme", "d1")  # a distributor does not


# ---------------------------------------------------------------- sources, end to end


def kinds(conn: psycopg.Connection[Any], settings: Settings, now: datetime) -> set[Any]:
    evaluate(conn, rules_for(settings, anchor_interval=timedelta(minutes=1)), now=now)
    return set(
        conn.execute("SELECT kind, dedupe_key FROM alerts WHERE state <> 'resolved'").fetchall()
    )


def test_devices_offline_and_gaps_from_real_ingest(database_url: str) -> None:
    start = NOW - timedelta(hours=1)
    w = Warehouse.create(database_url, start=start)
    other = Device("gw-0002")
    with psycopg.connect(database_url, autocommit=True) as c:
        from cloud.registry import register_device

        register_device(c, other.registration)
    w.send(Kind.STATE, state("online", will_seq=99, ts=start), start)
    w.send(
        Kind.STATE, state("heartbeat", ts=NOW - timedelta(minutes=1)), NOW - timedelta(minutes=1)
    )
    settings = Settings(alerts_gap_grace=timedelta(0))
    with psycopg.connect(database_url, autocommit=True) as c:
        assert kinds(c, settings, NOW) == set()
        # Silence: offline after the heartbeat timeout. Lost seqs 10..11: a gap alert.
        w.seq = 11
        w.send(Kind.STATE, state("heartbeat", ts=NOW), NOW)
        from cloud import storage

        storage.detect_gaps(c)
        later = NOW + timedelta(minutes=10)
        assert kinds(c, settings, later) == {
            ("device_offline", "gw-0001"),
            ("sequence_gap", "gw-0001"),
        }
        # The will: offline at once (status offline), whatever the clock says.
        c.execute("UPDATE devices SET status = 'offline', last_seen_at = %s", (NOW,))
        assert ("device_offline", "gw-0001") in kinds(c, settings, NOW)


def test_the_will_an_online_session_reserved_is_not_a_lost_message(database_url: str) -> None:
    start = NOW - timedelta(hours=1)
    w = Warehouse.create(database_url, start=start)
    will = w.seq + 2  # the birth (next seq) reserves the one after it for the session's will
    w.send(Kind.STATE, state("online", will_seq=will, ts=start), start)
    w.seq += 1  # the will's seq is skipped: it is published only when the session ends
    w.send(Kind.STATE, state("heartbeat", ts=NOW), NOW)
    settings = Settings(alerts_gap_grace=timedelta(0))
    with psycopg.connect(database_url, autocommit=True) as c:
        from cloud import storage

        storage.detect_gaps(c)
        gaps = c.execute("SELECT from_seq, to_seq FROM ingest_gaps").fetchall()
        assert gaps == [(will, will)]
        assert ("sequence_gap", "gw-0001") not in kinds(c, settings, NOW + timedelta(minutes=1))
        # A later session announces another will: the old one was never delivered.
        c.execute("UPDATE devices SET will_seq = %s", (will + 5,))
        assert ("sequence_gap", "gw-0001") in kinds(c, settings, NOW + timedelta(minutes=1))


def test_stock_rules_low_and_forecast(database_url: str) -> None:
    start = NOW - timedelta(hours=10)
    w = Warehouse.create(database_url, start=start - timedelta(hours=1))
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute(
            "INSERT INTO alert_stock_thresholds (tenant_id, gtin, low_quantity)"
            " VALUES ('acme', %s, 50)",
            (GTIN,),
        )
    counts = [
        StockCount(ts=start + timedelta(hours=h), gtin=GTIN, quantity=400 - 30 * h,
                   location="A-01", method="rfid")
        for h in range(10)
    ]  # fmt: skip
    w.send(Kind.STOCK, StockBatch(sent_at=NOW, counts=counts), NOW)
    settings = Settings(alerts_stockout_horizon=timedelta(hours=72))
    with psycopg.connect(database_url, autocommit=True) as c:
        assert kinds(c, settings, NOW) == {("stockout_forecast", f"{w.device.site}:{GTIN}")}
        empty = [StockCount(ts=NOW, gtin=GTIN, quantity=40, location="A-01", method="rfid")]
        w.send(Kind.STOCK, StockBatch(sent_at=NOW, counts=empty), NOW)
        found = kinds(c, settings, NOW + timedelta(seconds=1))
        assert ("low_stock", f"{w.device.site}:{GTIN}") in found


def test_scan_suspicions_ledger_audit_and_anchoring(conn: psycopg.Connection[Any]) -> None:
    for verdict, serial in (("suspected_clone", "S1"), ("suspected_diversion", "S2"),
                            ("genuine", "S3")):  # fmt: skip
        conn.execute(
            "INSERT INTO consumer_scans (scanned_at, tenant_id, gtin, serial, code_status,"
            " verdict, reason, evidence, region) VALUES (%s, 'acme', %s, %s, 'valid', %s,"
            " 'test', %s, 'CN-44')",
            (NOW, GTIN, serial, verdict, Jsonb([{"k": 1}])),
        )
    record_audit(conn, AuditReport(entries=3, findings=[Finding("corrupt", 1, "edited")]))
    conn.execute(
        "INSERT INTO ledger_checkpoints (size, root, note, created_at) VALUES (5, %s, 'n', %s)",
        (b"\x00" * 32, NOW - timedelta(hours=1)),
    )
    found = kinds(conn, Settings(), NOW)
    assert found == {
        ("clone", f"{GTIN}/S1"),
        ("diversion", f"{GTIN}/S2"),
        ("ledger_audit", "ledger"),
        ("anchoring_stalled", "anchoring"),
    }
    tenants = conn.execute(
        "SELECT tenant_id FROM alerts WHERE kind = 'ledger_audit' ORDER BY 1"
    ).fetchall()
    assert tenants == [("acme",), ("other",)]
    # A clean audit clears the ledger alert (resolves at once).
    record_audit(conn, AuditReport(entries=3))
    assert ("ledger_audit", "ledger") not in kinds(conn, Settings(), NOW)


def test_workflow_events_are_notified_once_each(conn: psycopg.Connection[Any]) -> None:
    hook = create_subscription(conn, "acme", "http://127.0.0.1:9/hook")
    (alert_id,) = sync(conn, KIND, [cond()], now=NOW, resolve_after=None).opened
    acknowledge(conn, "acme", alert_id, by="alice")
    resolve(conn, "acme", alert_id, by="alice")
    since = NOW - timedelta(days=1)
    assert enqueue(conn, since=since) == 3
    assert enqueue(conn, since=since) == 0
    rows = conn.execute(
        "SELECT event, subscription_id, payload->>'event', payload->'alert'->>'state'"
        " FROM alert_notifications ORDER BY id"
    ).fetchall()
    assert {(r[0], r[2]) for r in rows} == {
        ("opened", "alert.opened"),
        ("acknowledged", "alert.acknowledged"),
        ("resolved", "alert.resolved"),
    }
    assert {r[1] for r in rows} == {hook["id"]}


def test_a_failing_rule_leaves_its_alerts_alone(conn: psycopg.Connection[Any]) -> None:
    from cloud.alerts import Rule

    sync(conn, KIND, [cond()], now=NOW, resolve_after=timedelta(0))

    def broken(_conn: psycopg.Connection[Any], _now: datetime) -> list[list[Condition]]:
        raise ValueError("source unreadable")

    results = evaluate(conn, [Rule("broken", (KIND,), broken)], now=NOW + timedelta(hours=1))
    assert results == {}
    assert states(conn) == [("gw-1", "open", None)]
