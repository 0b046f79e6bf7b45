"""Alerts: rules over the channel's data, an alert store with an acknowledge/resolve
workflow, and signed webhook notifications with retries (docs/alerts.md).

- :mod:`cloud.alerts.rules` — pure rule cores (cold chain, stock, devices, gaps,
  suspicions, ledger);
- :mod:`cloud.alerts.sources` — the SQL reads that feed them;
- :mod:`cloud.alerts.store` — conditions to alerts, deduplicated by the database;
- :mod:`cloud.alerts.outbox` — notifications, delivery and attempts;
- :mod:`cloud.alerts.evaluate` — one evaluation, as the scheduler job runs it.
"""

from __future__ import annotations

from cloud.alerts.errors import AlertError, AlertNotFound, AlertStateError, WebhookError
from cloud.alerts.evaluate import Rule, default_rules, evaluate
from cloud.alerts.model import AUTO_RESOLVE, AlertKind, AlertState, Condition, Severity
from cloud.alerts.outbox import DeliveryPolicy, DeliveryStats, deliver, deliver_due, enqueue
from cloud.alerts.store import SyncResult, acknowledge, get_alert, list_alerts, resolve, sync
from cloud.alerts.subscriptions import (
    create_subscription,
    delete_subscription,
    list_deliveries,
    list_subscriptions,
)

__all__ = [
    "AUTO_RESOLVE",
    "AlertError",
    "AlertKind",
    "AlertNotFound",
    "AlertState",
    "AlertStateError",
    "Condition",
    "DeliveryPolicy",
    "DeliveryStats",
    "Rule",
    "Severity",
    "SyncResult",
    "WebhookError",
    "acknowledge",
    "create_subscription",
    "default_rules",
    "delete_subscription",
    "deliver",
    "deliver_due",
    "enqueue",
    "evaluate",
    "get_alert",
    "list_alerts",
    "list_deliveries",
    "list_subscriptions",
    "resolve",
    "sync",
]
