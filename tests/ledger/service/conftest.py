"""Fixtures of the ledger's PostgreSQL tests: a migrated database and connections to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from cloud.migrate import migrate
from ledger.note import LogKey
from ledger.service.anchor import Web3Anchorer, deploy_anchor_contract
from ledger.service.jobs import anchor_latest, make_checkpoint
from ledger.service.pg_store import PgLog
from tests.ledger._events import custody_event
from tests.plugins.anvil import Anvil


@pytest.fixture
def ledger_db(database_url: str) -> str:
    """A fresh database with every migration applied (the ledger's tables included)."""
    migrate(database_url)
    return database_url


@pytest.fixture
def conn(ledger_db: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection: each ledger operation commits on its own."""
    with psycopg.connect(ledger_db, autocommit=True) as connection:
        yield connection


@dataclass(frozen=True)
class AnchoredLog:
    """A log of 100 events with checkpoints at 60 and 100, both anchored on anvil."""

    database_url: str
    key: LogKey
    rpc_url: str
    chain_id: int
    contract: str

    @property
    def vkey(self) -> str:
        return self.key.verifier().to_vkey()


@pytest.fixture
def anchored_log(ledger_db: str, anvil: Anvil) -> AnchoredLog:
    key = LogKey.generate("test.channeltrace.example/log")
    contract = deploy_anchor_contract(anvil.url, anvil.private_keys[0])
    anchorer = Web3Anchorer(anvil.url, contract, anvil.private_keys[0], poll_latency=0.01)
    with psycopg.connect(ledger_db, autocommit=True) as c:
        log = PgLog(c)
        for start, end in ((0, 60), (60, 100)):
            log.append([custody_event(i) for i in range(start, end)])
            make_checkpoint(c, key)
            assert anchor_latest(c, anchorer).status == "anchored"
    return AnchoredLog(ledger_db, key, anvil.url, anvil.chain_id, contract)
