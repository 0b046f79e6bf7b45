"""The demo's alert section on its own: one excursion alert, one signed webhook call."""

from __future__ import annotations

import pytest

from channeltrace.demo_alerts import run_alerts
from channeltrace.demo_channel import load_channel
from cloud.migrate import migrate

pytestmark = pytest.mark.integration


def test_demo_alert_section_opens_one_alert_and_delivers_its_webhook(database_url: str) -> None:
    migrate(database_url)
    said: list[str] = []
    load_channel(database_url, said.append)  # the cold room and its milk, as in the demo
    [(title, lines)] = run_alerts(database_url, said.append)
    text = "\n".join(lines)
    assert title == "Alerts"
    assert "excursion alert opened" in text
    assert "evaluated again: 0 new alert(s)" in text
    assert "webhook delivered (1 call, alert.opened)" in text
    assert "HMAC signature valid" in text
