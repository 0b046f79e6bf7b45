"""The main job: `channeltrace demo` runs end to end on its own services."""

from __future__ import annotations

import re
import urllib.request

import pytest

from channeltrace.chain import ANVIL_BINARY
from tests.integration.processes import Background

pytestmark = pytest.mark.integration


def test_demo_shows_every_capability_and_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("CT_MQTT_URL", "CT_DATABASE_URL", "CT_ETH_RPC_URL"):
        monkeypatch.delenv(key, raising=False)  # the demo starts its own services
    demo = Background(["demo", "--duration", "6", "--serve"])
    try:
        demo.wait_for_line("Ctrl-C stops everything", timeout=300)
        # --serve: the console is still up after the walkthrough.
        console = re.search(r"(http://127\.0\.0\.1:\d+/console/)", demo.output())
        assert console is not None, demo.output()
        with urllib.request.urlopen(console[1] + "login", timeout=30) as response:
            assert response.status == 200
            assert b'name="password"' in response.read()
    finally:
        assert demo.stop(timeout=60) == 0, demo.output()
    out = demo.output()
    taken = int(re.search(r"readings taken by the agents\s+(\d+)", out)[1])  # type: ignore[index]
    stored = int(re.search(r"readings stored in PostgreSQL\s+(\d+)", out)[1])  # type: ignore[index]
    assert taken > 0
    assert stored == taken
    assert re.search(r"lost\s+0\b", out)
    assert re.search(r"duplicated\s+0\b", out)
    assert "broker outage" in out
    assert "reports revision 1 applied" in out
    for reason in ("bad_signature", "malformed", "replay"):
        assert reason in out
    for verdict in ("genuine", "genuine_seen_before", "suspected_clone",
                    "suspected_diversion", "counterfeit"):  # fmt: skip
        assert f"→ {verdict}" in out, verdict
    # Identifiers are owned; one phone alone raises only an unconfirmed suspicion, and
    # unsigned copies leave the genuine bottle alone.
    assert "GS1 company prefix 9506000 registered to acme-wines" in out
    assert "suspected_clone (unconfirmed)" in out
    assert re.search(r"bottle 4 then scanned in a Shanghai shop\s+→ genuine ", out)
    assert "audit: index 1" in out
    assert "excursion alert opened" in out
    assert "webhook delivered (1 call, alert.opened)" in out
    assert "channel map:" in out
    # The channel comes from the CSV the demo ships, through the importer: all or nothing,
    # then idempotent; regions derived from coordinates offline.
    assert "channel.csv dry run: 24 rows, 0 problems, nothing written" in out
    assert "imported again: 24 unchanged, 0 changed (idempotent)" in out
    assert "wh-guangzhou 440100" in out
    # Access control: a distributor sees its own warehouses only, another brand nothing,
    # row-level security agrees, and the broker refuses a gateway on another's topic.
    assert "sees cold-room-demo, wh-nanjing, wh-shanghai only; wh-beijing → 404" in out
    assert "asking for acme-wines's sites → 404" in out
    assert "no credentials → 401" in out
    assert re.search(r"readings visible: brand [1-9]\d*, distributor [1-9]\d* .*other brand 0", out)
    assert "publishes under its own topic → PUBACK 0x10" in out
    assert "topic → PUBACK 0x87 (not authorized)" in out
    if ANVIL_BINARY.is_file():
        assert "verified with only the RPC and the log key: VALID" in out
