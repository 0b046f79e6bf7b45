"""Record a ledger audit's outcome, for the ledger-audit rule (and for people)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ledger.audit import AuditReport

__all__ = ["record_audit"]


def record_audit(conn: psycopg.Connection[Any], report: AuditReport) -> int:
    """Store ``report`` in ``ledger_audit_runs``; returns the run id."""
    findings = [{"kind": f.kind, "index": f.index, "detail": f.detail} for f in report.findings]
    row = conn.execute(
        "INSERT INTO ledger_audit_runs (entries, checkpoints, ok, findings)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (report.entries, report.checkpoints, report.ok, Jsonb(findings[:1000])),
    ).fetchone()
    assert row is not None
    return int(row[0])
