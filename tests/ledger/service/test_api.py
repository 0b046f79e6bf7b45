"""The ledger router on a bare FastAPI app: checkpoints, proofs, anchors, bundles."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from channeltrace._process import free_port, reap
from channeltrace.services import Postgres
from ledger.checkpoint import open_checkpoint
from ledger.hashing import leaf_hash
from ledger.proofs import verify_consistency, verify_inclusion
from ledger.service.api import get_conn, router

from .conftest import AnchoredLog

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def client(anchored_log: AnchoredLog) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router)

    def conn() -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(anchored_log.database_url, autocommit=True) as c:
            yield c

    app.dependency_overrides[get_conn] = conn
    with TestClient(app) as test_client:
        yield test_client


def test_latest_checkpoint(client: TestClient, anchored_log: AnchoredLog) -> None:
    body = client.get("/ledger/checkpoint").json()
    cp = open_checkpoint(body["note"], anchored_log.key.verifier())
    assert (cp.size, cp.root.hex(), body["size"]) == (100, body["root"], 100)


def test_inclusion_by_index_and_by_leaf_hash(client: TestClient, anchored_log: AnchoredLog) -> None:
    by_index = client.get("/ledger/entries/17/inclusion").json()
    by_hash = client.get("/ledger/inclusion", params={"leaf_hash": by_index["leaf_hash"]}).json()
    assert by_index == by_hash
    cp = open_checkpoint(by_index["checkpoint"], anchored_log.key.verifier())
    proof = [bytes.fromhex(h) for h in by_index["proof"]]
    verify_inclusion(bytes.fromhex(by_index["leaf_hash"]), 17, cp.size, proof, cp.root)
    at_60 = client.get("/ledger/entries/17/inclusion", params={"size": 60}).json()
    assert at_60["tree_size"] == 60
    assert client.get("/ledger/entries/17/inclusion", params={"size": 61}).status_code == 404
    assert client.get("/ledger/entries/100/inclusion").status_code == 404
    unknown = client.get("/ledger/inclusion", params={"leaf_hash": leaf_hash(b"x").hex()})
    assert unknown.status_code == 404
    assert client.get("/ledger/inclusion", params={"leaf_hash": "zz"}).status_code == 422


def test_consistency(client: TestClient, anchored_log: AnchoredLog) -> None:
    notes = [
        client.get("/ledger/entries/0/inclusion", params={"size": s}).json()["checkpoint"]
        for s in (60, 100)
    ]
    old, new = (open_checkpoint(n, anchored_log.key.verifier()) for n in notes)
    body = client.get("/ledger/consistency", params={"first": 60, "second": 100}).json()
    verify_consistency(60, 100, [bytes.fromhex(h) for h in body["proof"]], old.root, new.root)
    bad = client.get("/ledger/consistency", params={"first": 70, "second": 101})
    assert bad.status_code == 400
    assert "tree size 100" in bad.json()["detail"]


def test_anchor_status(client: TestClient, anchored_log: AnchoredLog) -> None:
    body = client.get("/ledger/anchors").json()
    assert (body["checkpoint_size"], body["anchored_size"]) == (100, 100)
    assert body["latest"]["status"] == "confirmed"
    assert body["latest"]["chain_id"] == anchored_log.chain_id
    assert [a["size"] for a in body["recent"]] == [100, 60]


def test_bundle_endpoint(client: TestClient) -> None:
    body = client.get("/ledger/entries/5/bundle").json()
    assert body["format"] == "channeltrace-proof-bundle/v1"
    assert body["index"] == 5
    assert client.get("/ledger/entries/500/bundle").status_code == 404


def test_bundle_not_anchored_yet(client: TestClient, anchored_log: AnchoredLog) -> None:
    from ledger.service.pg_store import PgLog
    from tests.ledger._events import custody_event

    with psycopg.connect(anchored_log.database_url, autocommit=True) as c:
        PgLog(c).append([custody_event(1000)])
    response = client.get("/ledger/entries/100/bundle")
    assert response.status_code == 409
    assert "not covered by a confirmed anchor" in response.json()["detail"]


def test_bundle_from_api_process_verifies_after_it_and_the_database_are_gone(
    anchored_log: AnchoredLog, postgres: Postgres, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "CT_DATABASE_URL": anchored_log.database_url}
    with (tmp_path / "api.log").open("wb") as log:
        api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.ledger.service._api_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        bundle = _get_when_up(f"http://127.0.0.1:{port}/ledger/entries/33/bundle", api, tmp_path)
    finally:
        reap(api, signal.SIGTERM, 10)
    postgres.drop_database(anchored_log.database_url.rsplit("/", 1)[1])
    path = tmp_path / "bundle.json"
    path.write_text(bundle, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CT_")}
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("channeltrace")),
            "ledger",
            "verify",
            str(path),
            "--rpc",
            anchored_log.rpc_url,
            "--log-key",
            anchored_log.vkey,
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERIFIED: entry 33 is in the anchored log" in result.stdout


def _get_when_up(url: str, api: subprocess.Popen[bytes], logs: Path) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.get(url, timeout=5)
            response.raise_for_status()
            return response.text
        except httpx.TransportError:
            if api.poll() is not None or time.monotonic() > deadline:
                log = (logs / "api.log").read_text(errors="replace")
                pytest.fail(f"the API process did not serve {url}: {log}")
            time.sleep(0.05)
