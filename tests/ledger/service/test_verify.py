"""``channeltrace ledger verify``: a bundle checked against anvil, and precise failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from ledger.bundle import ProofBundle
from ledger.canonical import canonical_bytes
from ledger.hashing import leaf_hash
from ledger.note import LogKey
from ledger.service.cli import ledger_app
from ledger.service.publish import build_bundle

from .conftest import AnchoredLog

pytestmark = pytest.mark.integration


def bundle_of(log: AnchoredLog, index: int) -> dict[str, Any]:
    with psycopg.connect(log.database_url, autocommit=True) as c:
        return build_bundle(c, index).to_dict()


def verify(
    log: AnchoredLog, bundle: dict[str, Any], tmp_path: Path, *extra: str, vkey: str | None = None
) -> tuple[int, str]:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = CliRunner().invoke(
        ledger_app,
        ["verify", str(path), "--rpc", log.rpc_url, "--log-key", vkey or log.vkey, *extra],
    )
    return result.exit_code, result.output


def test_bundle_round_trips_and_verifies(anchored_log: AnchoredLog, tmp_path: Path) -> None:
    early = bundle_of(anchored_log, 7)
    assert ProofBundle.from_dict(early).to_dict() == early
    assert early["consistency"] is not None  # proven at 60, linked to 100
    code, out = verify(anchored_log, early, tmp_path, "--contract", anchored_log.contract)
    assert code == 0, out
    for name in (
        "checkpoint signature",
        "event",
        "leaf hash",
        "inclusion",
        "anchor chain id",
        "anchor",
        "later checkpoint signature",
        "consistency",
        "later anchor",
    ):
        assert f"ok   {name}:" in out
    late = bundle_of(anchored_log, 80)
    assert late["consistency"] is None  # its first anchor is the latest
    assert verify(anchored_log, late, tmp_path)[0] == 0


def failures(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("FAIL")]


def test_wrong_log_key(anchored_log: AnchoredLog, tmp_path: Path) -> None:
    other = LogKey.generate(anchored_log.key.name).verifier().to_vkey()
    code, out = verify(anchored_log, bundle_of(anchored_log, 3), tmp_path, vkey=other)
    assert code == 1
    assert "FAIL checkpoint signature: " in out
    assert "FAIL inclusion: not checked: the checkpoint is not trusted" in out
    assert "FAIL anchor: not checked" in out


def test_wrong_chain_id(anchored_log: AnchoredLog, tmp_path: Path) -> None:
    bundle = bundle_of(anchored_log, 3)
    bundle["checkpoint"]["anchor"]["chain_id"] = 1
    code, out = verify(anchored_log, bundle, tmp_path)
    assert code == 1
    assert f"FAIL anchor chain id: RPC is chain {anchored_log.chain_id}, bundle says 1" in out


def test_transaction_without_the_anchor_log(anchored_log: AnchoredLog, tmp_path: Path) -> None:
    bundle = bundle_of(anchored_log, 3)
    # The later anchor's transaction is real and mined, but anchors another root and size.
    bundle["checkpoint"]["anchor"]["tx_hash"] = bundle["consistency"]["checkpoint"]["anchor"][
        "tx_hash"
    ]
    code, out = verify(anchored_log, bundle, tmp_path)
    assert code == 1
    (line,) = failures(out)
    assert line.startswith("FAIL anchor: transaction 0x")
    assert "has no Anchored(root" in line
    assert "size 60) log from" in line
    assert "size 100)" in line  # what the transaction did anchor


def test_unknown_transaction(anchored_log: AnchoredLog, tmp_path: Path) -> None:
    bundle = bundle_of(anchored_log, 3)
    bundle["checkpoint"]["anchor"]["tx_hash"] = "0x" + "ab" * 32
    code, out = verify(anchored_log, bundle, tmp_path)
    assert code == 1
    assert f"FAIL anchor: transaction 0x{'ab' * 32} not found on chain" in out


def test_tampered_event(anchored_log: AnchoredLog, tmp_path: Path) -> None:
    bundle = bundle_of(anchored_log, 3)
    event = json.loads(bundle["event"])
    event["bizStep"] = "receiving"
    forged = canonical_bytes(event)
    bundle["event"] = forged.decode()
    code, out = verify(anchored_log, bundle, tmp_path)
    assert code == 1
    assert "FAIL leaf hash: SHA-256(0x00 || event) = " in out
    assert f"bundle says {bundle['leaf_hash']}" in out
    assert "FAIL inclusion: inclusion proof for leaf 3 of 60 gives root" in out
    # A forger who also fixes the leaf hash still fails the inclusion proof.
    bundle["leaf_hash"] = leaf_hash(forged).hex()
    code, out = verify(anchored_log, bundle, tmp_path)
    assert code == 1
    assert [line.split(":")[0] for line in failures(out)] == ["FAIL inclusion"]


def test_non_canonical_event(anchored_log: AnchoredLog, tmp_path: Path) -> None:
    bundle = bundle_of(anchored_log, 3)
    bundle["event"] = json.dumps(json.loads(bundle["event"]), indent=1)
    code, out = verify(anchored_log, bundle, tmp_path)
    assert code == 1
    assert "FAIL event: event bytes are not RFC 8785 canonical" in out


def test_tampered_proofs(anchored_log: AnchoredLog, tmp_path: Path) -> None:
    bundle = bundle_of(anchored_log, 3)
    bundle["inclusion"][2] = "00" * 32
    bundle["consistency"]["proof"].pop()
    code, out = verify(anchored_log, bundle, tmp_path)
    assert code == 1
    assert "FAIL inclusion: inclusion proof for leaf 3 of 60 gives root" in out
    assert "FAIL consistency: consistency proof must have" in out


def test_unusable_inputs_exit_2(anchored_log: AnchoredLog, tmp_path: Path) -> None:
    code, out = verify(anchored_log, {"format": "something else"}, tmp_path)
    assert code == 2
    assert "bundle format must be" in out
    code, out = verify(anchored_log, bundle_of(anchored_log, 3), tmp_path, vkey="not+a+key")
    assert code == 2
    assert "--log-key" in out
