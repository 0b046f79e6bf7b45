"""The public proof of one journey step: a page anyone can open (no credentials) that says
what is proven and how to check it, whose JSON form ``channeltrace ledger verify``
accepts; it reveals hashes, the checkpoint and the anchor, never the event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.settings import Settings
from ledger.canonical import canonical_bytes
from tests.ledger._events import custody_event

from .conftest import AnchoredLog
from .test_verify import failures, verify

pytestmark = pytest.mark.integration


def _client(log: AnchoredLog) -> TestClient:
    settings = Settings(
        database_url=log.database_url,
        environment="development",
        chain_explorer_tx_url="https://explorer.example/tx/{tx}",
    )
    return TestClient(create_app(settings))


def test_the_public_proof_page_and_its_bundle(anchored_log: AnchoredLog, tmp_path: Path) -> None:
    with _client(anchored_log) as client:
        page = client.get("/proof/7", headers={"Accept-Language": "en"})
        assert page.status_code == 200  # no credentials needed
        text = page.text
        assert "This step is sealed on a public blockchain" in text
        assert "此环节已封存在公共区块链上" in text  # both languages, the toggle shows one
        assert "channeltrace ledger verify" in text
        assert "https://explorer.example/tx/0x" in text
        bundle = client.get("/proof/7?format=json").json()
        same = client.get("/proof/7", headers={"Accept": "application/json"}).json()
        assert bundle == same
        assert client.get("/ledger/entries/7/proof").json() == bundle
        assert client.get("/proof/999").status_code == 404
        assert client.get("/proof/-1").status_code == 422
    # hashes, checkpoint and anchor only: never the event (it names other units)
    assert bundle["event"] is None
    event = canonical_bytes(custody_event(7)).decode()
    assert event not in json.dumps(bundle)
    assert json.loads(event)["epcList"][0] not in text
    code, out = verify(anchored_log, bundle, tmp_path, "--contract", anchored_log.contract)
    assert code == 0, out
    assert "ok   event: withheld (a public bundle)" in out
    tampered = {**bundle, "leaf_hash": "00" * 32}
    code, out = verify(anchored_log, tampered, tmp_path)
    assert code == 1
    assert [line.split(":")[0] for line in failures(out)] == ["FAIL inclusion"]
