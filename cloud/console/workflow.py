"""Acknowledge or resolve an alert from the console, through the alerts store.

The store (:mod:`cloud.alerts.store`) owns the state machine (who/when, notifications);
the console only names the action, the alert and the person.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import psycopg

from cloud.auth import Principal

__all__ = ["AlertAction", "apply_alert_action"]


class AlertAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


def apply_alert_action(
    conn: psycopg.Connection[Any], principal: Principal, alert_id: int, action: AlertAction
) -> bool:
    """Apply ``action``; False when the principal sees no such alert."""
    from cloud.alerts import store
    from cloud.alerts.errors import AlertNotFound, AlertStateError

    tenant = principal.tenant_id
    if tenant is None:
        return False
    try:
        if action is AlertAction.ACKNOWLEDGE:
            store.acknowledge(conn, tenant, alert_id, by=principal.subject)
        else:
            store.resolve(conn, tenant, alert_id, by=principal.subject)
    except AlertNotFound:
        return False
    except AlertStateError:
        return True  # already in that state (a double click): nothing to do
    return True
