"""Rows edited, deleted, reordered or inserted directly in PostgreSQL.

Each tampering is caught twice: by the audit job (with the index it concerns) and by
``channeltrace ledger verify`` on the bundle the tampered database now serves. A stronger
attacker who also rebuilds the tree tables from the tampered rows is caught as well: the
rebuilt tree no longer matches the signed (and anchored) checkpoints.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from ledger import InMemoryNodeStore, MerkleTree
from ledger.canonical import canonical_bytes
from ledger.hashing import leaf_hash
from ledger.service.cli import ledger_app
from ledger.service.jobs import audit
from ledger.service.publish import build_bundle
from tests.ledger._events import custody_event

from .conftest import AnchoredLog

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]
SHIFT = 10_000_000  # moves rows out of the way: the primary key is checked row by row


def forged_row(conn: Conn, index: int) -> None:
    event = custody_event(999_999, step="receiving")
    data = canonical_bytes(event)
    conn.execute(
        "INSERT INTO ledger_entries (idx, leaf_hash, canonical, event) VALUES (%s, %s, %s, %s)",
        (index, leaf_hash(data), data, data.decode()),
    )


def edit(conn: Conn) -> int:
    event = custody_event(42, step="receiving")  # same unit, different custody step
    data = canonical_bytes(event)
    conn.execute(
        "UPDATE ledger_entries SET canonical = %s, leaf_hash = %s, event = %s WHERE idx = 42",
        (data, leaf_hash(data), data.decode()),
    )
    return 42


def edit_event_only(conn: Conn) -> int:
    conn.execute(
        "UPDATE ledger_entries SET event = jsonb_set(event, '{bizStep}', '\"receiving\"')"
        " WHERE idx = 42"
    )
    return 42


def delete(conn: Conn) -> int:
    """Delete entry 42 and close the gap, so the log still looks contiguous."""
    conn.execute("DELETE FROM ledger_entries WHERE idx = 42")
    conn.execute("UPDATE ledger_entries SET idx = idx + %s WHERE idx > 42", (SHIFT,))
    conn.execute("UPDATE ledger_entries SET idx = idx - %s - 1 WHERE idx > %s", (SHIFT, SHIFT))
    return 42


def reorder(conn: Conn) -> int:
    conn.execute("UPDATE ledger_entries SET idx = %s WHERE idx = 42", (SHIFT,))
    conn.execute("UPDATE ledger_entries SET idx = 42 WHERE idx = 43")
    conn.execute("UPDATE ledger_entries SET idx = 43 WHERE idx = %s", (SHIFT,))
    return 42


def insert(conn: Conn) -> int:
    """Insert a forged entry at 42, shifting the later ones up."""
    conn.execute("UPDATE ledger_entries SET idx = idx + %s WHERE idx >= 42", (SHIFT,))
    conn.execute("UPDATE ledger_entries SET idx = idx - %s + 1 WHERE idx >= %s", (SHIFT, SHIFT))
    forged_row(conn, 42)
    return 42


def append_outside_the_log(conn: Conn) -> int:
    forged_row(conn, 100)
    return 100


def rebuild_tree(conn: Conn) -> None:
    """What a careful attacker does next: recompute every node and the head from the rows."""
    rows = conn.execute("SELECT canonical FROM ledger_entries ORDER BY idx").fetchall()
    tree = MerkleTree(InMemoryNodeStore())
    result = tree.append_many(leaf_hash(bytes(r[0])) for r in rows)
    conn.execute("DELETE FROM ledger_nodes")
    with conn.cursor().copy("COPY ledger_nodes (level, idx, hash) FROM STDIN") as copy:
        for node, h in result.nodes.items():
            copy.write_row((node.level, node.index, h))
    conn.execute("UPDATE ledger_head SET size = %s, root = %s", (tree.size, tree.root()))


TAMPERS: dict[str, tuple[Callable[[Conn], int], str]] = {
    "edit": (edit, "mismatch"),
    "edit-event-only": (edit_event_only, "corrupt"),
    "delete": (delete, "mismatch"),
    "reorder": (reorder, "mismatch"),
    "insert": (insert, "mismatch"),
    "append-outside-the-log": (append_outside_the_log, "extra"),
}


def test_untampered_log_audits_clean(anchored_log: AnchoredLog) -> None:
    with psycopg.connect(anchored_log.database_url, autocommit=True) as c:
        report = audit(c, anchored_log.key.verifier())
    assert report.ok, report.findings
    assert (report.entries, report.checkpoints) == (100, 2)


def verify_cli(log: AnchoredLog, index: int, tmp_path: Path) -> tuple[int, str]:
    with psycopg.connect(log.database_url, autocommit=True) as c:
        bundle = build_bundle(c, index).to_json()
    path = tmp_path / f"bundle-{index}.json"
    path.write_text(bundle, encoding="utf-8")
    result = CliRunner().invoke(
        ledger_app, ["verify", str(path), "--rpc", log.rpc_url, "--log-key", log.vkey]
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampering_is_detected_by_audit_and_verify(
    anchored_log: AnchoredLog, tmp_path: Path, name: str
) -> None:
    tamper, kind = TAMPERS[name]
    with psycopg.connect(anchored_log.database_url, autocommit=True) as c:
        index = tamper(c)
        report = audit(c, anchored_log.key.verifier())
    assert not report.ok
    first = report.findings[0]
    assert (first.kind, first.index) == (kind, index), report.findings
    if name == "reorder":
        assert report.indices("mismatch") == [42, 43]
    if index < 100:
        code, out = verify_cli(anchored_log, index, tmp_path)
        assert code == 1, out
        assert "FAIL inclusion: inclusion proof for leaf 42 of 60 gives root" in out
    else:  # an entry beyond every checkpoint has no anchored proof to forge
        with psycopg.connect(anchored_log.database_url, autocommit=True) as c:
            bundle = build_bundle(c, 42)
        assert bundle.index == 42  # the honest entries are unaffected


@pytest.mark.parametrize("name", ["edit", "delete", "reorder", "insert"])
def test_rebuilt_tree_is_still_detected(
    anchored_log: AnchoredLog, tmp_path: Path, name: str
) -> None:
    tamper, _ = TAMPERS[name]
    with psycopg.connect(anchored_log.database_url, autocommit=True) as c:
        index = tamper(c)
        rebuild_tree(c)
        report = audit(c, anchored_log.key.verifier())
    checkpoint_findings = [f for f in report.findings if f.kind == "checkpoint"]
    assert checkpoint_findings, report.findings
    assert "the change is in entries [0, 60)" in checkpoint_findings[0].detail
    assert index < 60
    code, out = verify_cli(anchored_log, index, tmp_path)
    assert code == 1, out
    assert "FAIL inclusion: inclusion proof for leaf 42 of 60 gives root" in out


def test_bundle_issued_before_tampering_still_verifies(
    anchored_log: AnchoredLog, tmp_path: Path
) -> None:
    with psycopg.connect(anchored_log.database_url, autocommit=True) as c:
        honest = build_bundle(c, 42).to_json()
        edit(c)
        rebuild_tree(c)
    path = tmp_path / "honest.json"
    path.write_text(honest, encoding="utf-8")
    result = CliRunner().invoke(
        ledger_app,
        ["verify", str(path), "--rpc", anchored_log.rpc_url, "--log-key", anchored_log.vkey],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(honest)["index"] == 42
