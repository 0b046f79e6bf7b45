"""Scanners configured in agent.toml feed stock scans into the durable outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from edge.agent import Agent
from edge.config import load_config
from edge.provision import SensorChoice, provision


def test_configured_wedge_scanner_feeds_the_outbox(tmp_path: Path) -> None:
    prov = provision(tmp_path / "gw", device="gw-1", tenant="acme", site="wh-1",
                     broker_url="mqtt://127.0.0.1:1",
                     sensor=SensorChoice.simulated())  # fmt: skip
    scans = tmp_path / "scans.txt"
    scans.write_text("4006381333931\n")  # EAN-13 read at the dock door
    text = prov.config_path.read_text() + (
        f'\n[[scanners]]\ndriver = "scanner.wedge"\nid = "dock-in"\npath = {json.dumps(str(scans))}'
        '\ndirection = "in"\n'
    )
    prov.config_path.write_text(text)
    agent = Agent(load_config(prov.config_path))
    try:
        agent._poll_stock(datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
        assert agent.outbox.added_counts()["stock"] == 1
        assert agent.outbox.stats().pending_items == 1
    finally:
        agent.outbox.close()
